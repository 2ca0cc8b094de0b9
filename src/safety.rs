//! Operating safety: no core dumps while a PIN may be in memory, one
//! ceremony at a time per transcript and output directory, and no writing
//! into directories every user can write to.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Turns core dumps off for this process (RLIMIT_CORE 0 and not dumpable),
/// so a crash while a PIN is in memory cannot write it to disk.
pub fn no_core_dumps() -> io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// An exclusive lock held for as long as the value lives.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock at `path` (created 0600), or says who holds it.
pub fn lock(path: &Path) -> Result<Lock, String> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("lock {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(format!(
                "{} is held by another ceremony ({}); wait for it to end",
                path.display(),
                holder.trim()
            ));
        }
        Err(TryLockError::Error(e)) => return Err(format!("lock {}: {e}", path.display())),
    }
    let holder = format!(
        "pid {}, started {}",
        std::process::id(),
        der::DateTime::from_system_time(std::time::SystemTime::now())
            .map(|t| t.to_string())
            .unwrap_or_default()
    );
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(holder.as_bytes());
    let _ = file.sync_all();
    Ok(Lock {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// Refuses a directory that every user may write to (mode o+w).
pub fn check_not_world_writable(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.permissions().mode() & 0o002 != 0 => Err(format!(
            "directory {} is writable by every user (mode {:04o}); a ceremony never writes there",
            dir.display(),
            meta.permissions().mode() & 0o7777
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
