//! Opening a bundle together with its layouts for online signers, all or
//! nothing.
//!
//! The bundle's files are staged as `bundle open --out` stages them
//! (`bundle/unpack.rs`), but into a hidden directory beside `out`
//! (`.ceremony-tmp.<out>.layouts.<pid>`) rather than `out` itself; the
//! layout files are then created in it with their own modes (0600 for any
//! file holding the key, so a key is never in a file others can read, not
//! even for a moment), synced, and only then does the hidden directory take
//! `out`'s name. Any failure removes the hidden directory and any parent of
//! `out` created for it: nothing is left, and an existing file is never
//! overwritten.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::super::open::{check_out, Opened};
use super::super::trust::{check, AuditKey, Pins, Trusted};
use super::{build, check_requests, Layout, LayoutFile, PublicKeyOf};
use crate::bundle::{Error, Result};
use crate::fsutil;

/// Opens an output bundle into `out` as `bundle::output::open` does, and
/// writes each layout beside its files: every check of the bundle, every
/// rule of [`build`] (the request is a CA certificate of the bundle, the
/// key file is its private key and only its owner's) passes before `out`
/// appears. Returns what was verified and the relative paths written,
/// sorted.
pub fn open(
    bundle: &Path,
    identity: &Path,
    pins: &Pins,
    audit_key: Option<&AuditKey>,
    out: &Path,
    layouts: &[Layout],
    public_key_of: PublicKeyOf,
) -> Result<(Trusted, Vec<String>)> {
    let out_exists = check_out(out)?;
    check_requests(bundle, layouts)?;
    let opened = Opened::read_unverified(bundle, identity, &std::env::temp_dir())?;
    let parent = fsutil::parent_dir(out);
    let missing = missing_ancestors(&parent);
    let out_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hidden = parent.join(format!(
        "{}{out_name}.layouts.{}",
        fsutil::TMP_PREFIX,
        std::process::id()
    ));
    let now = SystemTime::now();
    let mut checked = None;
    // As in `trust::open`: the certificates are checked while SHA256SUMS is
    // checked and the files are staged; the layouts are built once they
    // pass, before the staged files take the hidden name.
    let staged = std::thread::scope(|scope| {
        let checking = scope.spawn(|| check(&opened, pins, audit_key, now));
        opened.check_sums().and_then(|()| {
            opened.unpack_gated(&hidden, false, || {
                let trusted = checking.join().expect("the checks do not panic")?;
                let files = build(&opened, &trusted, layouts, public_key_of)?;
                checked = Some((trusted, files));
                Ok(())
            })
        })
    })?;
    let (trusted, files) = checked.expect("the gate ran and passed");
    // From here on `hidden` is ours: remove it on any failure.
    match fill(&hidden, &files).and_then(|()| place(&hidden, out, out_exists)) {
        Ok(()) => {}
        Err(e) => {
            let _ = fs::remove_dir_all(&hidden);
            for dir in missing.iter() {
                let _ = fs::remove_dir(dir);
            }
            return Err(e);
        }
    }
    fsutil::sync_dir(&parent).map_err(|source| Error::Io {
        path: parent.clone(),
        action: "sync directory",
        source,
    })?;
    let mut written = staged;
    written.extend(files.iter().map(|f| f.path.clone()));
    written.sort();
    Ok((trusted, written))
}

/// The ancestors of `dir` (itself included) that do not exist yet,
/// innermost first: those the staging will create.
fn missing_ancestors(dir: &Path) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while fs::symlink_metadata(cur).is_err() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(up) if !up.as_os_str().is_empty() => cur = up,
            _ => break,
        }
    }
    missing
}

/// Creates each layout file under `root` with its mode (directories 0755),
/// never over an existing file, and syncs files and directories.
pub(super) fn fill(root: &Path, files: &[LayoutFile]) -> Result<()> {
    let io = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path,
            action,
            source,
        }
    };
    let mut dirs = vec![root.to_path_buf()];
    for file in files {
        let dest = root.join(&file.path);
        for (i, _) in file.path.match_indices('/') {
            let dir = root.join(&file.path[..i]);
            if dirs.contains(&dir) {
                continue;
            }
            if let Err(e) = DirBuilder::new().mode(0o755).create(&dir) {
                // The bundle's own files never use these names (trust.rs
                // refuses a member at a path it does not know).
                return Err(io(&dir, "create directory")(e));
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                .map_err(io(&dir, "set permissions"))?;
            dirs.push(dir);
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&dest)
            .map_err(io(&dest, "create"))?;
        // Exactly the mode, whatever the umask.
        out.set_permissions(fs::Permissions::from_mode(file.mode))
            .map_err(io(&dest, "set permissions"))?;
        out.write_all(&file.bytes).map_err(io(&dest, "write"))?;
        out.sync_all().map_err(io(&dest, "sync"))?;
    }
    for dir in dirs.iter().rev() {
        fsutil::sync_dir(dir).map_err(io(dir, "sync directory"))?;
    }
    Ok(())
}

/// Renames the complete hidden directory to `out`: over `out` only when it
/// was an empty directory (rename(2) refuses a non-empty one), else only
/// when nothing is there.
pub(super) fn place(hidden: &Path, out: &Path, out_exists: bool) -> Result<()> {
    let moved = if out_exists {
        fs::rename(hidden, out)
    } else {
        fsutil::rename_noreplace(hidden, out)
    };
    moved.map_err(|e| match e.kind() {
        std::io::ErrorKind::DirectoryNotEmpty => Error::NotEmpty {
            path: out.to_path_buf(),
        },
        std::io::ErrorKind::AlreadyExists if out_exists => Error::NotEmpty {
            path: out.to_path_buf(),
        },
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => Error::Exists {
            path: out.to_path_buf(),
        },
        _ => Error::Io {
            path: out.to_path_buf(),
            action: "move into place",
            source: e,
        },
    })
}
