//! Reading an age identity file (`AGE-SECRET-KEY-1…`) that only its owner
//! can read or write: the rule for the requester's identity (`bundle open`)
//! and a custodian's (a share file). Errors say what is wrong in words and
//! never quote the file's contents; the caller names the file.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every identity in the file at `path`; `Err` says why there is none to use.
pub fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    // The mode of the file actually opened, not of a path that may change.
    let mode = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "readable or writable by other users (mode {mode:04o}); run chmod 600 on it"
        ));
    }
    // age's messages start "identity file …" and never quote the contents.
    let describe = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        text.strip_prefix("identity file ")
            .map(str::to_string)
            .unwrap_or(text)
    };
    let parsed = age::IdentityFile::from_buffer(BufReader::new(file)).map_err(|e| describe(&e))?;
    let identities = parsed.into_identities().map_err(|e| describe(&e))?;
    if identities.is_empty() {
        return Err("holds no identity".into());
    }
    Ok(identities)
}
