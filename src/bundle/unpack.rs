//! Laying the members of a verified bundle out on disk, all or nothing.
//!
//! Everything is written into a fresh temporary directory beside the target
//! (named with [`fsutil::TMP_PREFIX`]), synced with one `syncfs` of its file
//! system (not an fsync per file: a bundle may hold 100,000 certificates),
//! and renamed to the target at the end; on any failure the temporary directory is removed, and so are
//! missing parents of the target that were created for it. Files are 0644
//! and directories 0755, whatever the umask.
//!
//! This module owns that staging. It never writes into an existing
//! directory that holds anything, never overwrites a file, and is only ever
//! given members whose names and checksums were already checked.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::archive::{Member, Source};
use super::{io_err, Error, Result};
use crate::fsutil;

/// Returns whether `out` exists (as an empty directory); refuses anything else there.
pub(super) fn check_out(out: &Path) -> Result<bool> {
    if out.file_name().is_none() {
        return Err(Error::Invalid {
            path: out.to_path_buf(),
            rule: "output directory must end in a plain name".into(),
        });
    }
    let meta = match fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(out, "check output directory")(e)),
    };
    if !meta.is_dir() {
        return Err(Error::Exists {
            path: out.to_path_buf(),
        });
    }
    let mut entries = fs::read_dir(out).map_err(io_err(out, "list output directory"))?;
    if entries.next().is_some() {
        return Err(Error::NotEmpty {
            path: out.to_path_buf(),
        });
    }
    Ok(true)
}

/// Writes every member into a temporary sibling of `out`, then renames it to
/// `out` (replacing it only if it is still an empty directory). Missing
/// parent directories of `out` are created first. On failure the temporary
/// directory and any parent created here are removed.
#[cfg(test)]
pub(super) fn unpack<S: Source + ?Sized>(
    out: &Path,
    out_exists: bool,
    tar: &S,
    members: &[Member],
) -> Result<()> {
    unpack_gated(out, out_exists, tar, members, || Ok(()))
}

/// [`unpack`], with `gate` called once every member is written and synced
/// in the temporary directory and before it takes `out`'s name: when the
/// gate fails, the temporary directory is removed and nothing is left. The
/// caller's checks run in `gate` (or finish there) while the files are
/// staged.
pub(super) fn unpack_gated<S: Source + ?Sized>(
    out: &Path,
    out_exists: bool,
    tar: &S,
    members: &[Member],
    gate: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let parent = fsutil::parent_dir(out);
    let out_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(
        "{}{out_name}.{}",
        fsutil::TMP_PREFIX,
        std::process::id()
    ));
    let created = create_parents(&parent)?;
    if let Err(e) = DirBuilder::new().mode(0o755).create(&staging) {
        // Not ours (a leftover of this process id, or a squatter): leave it.
        remove_created(&created);
        return Err(io_err(&staging, "create temporary directory")(e));
    }
    // From here on the temporary directory is ours: remove it on any failure.
    let result = fill(&staging, tar, members)
        .and_then(|()| gate())
        .and_then(|()| {
            let moved = if out_exists {
                // rename(2) replaces an empty directory and refuses a non-empty one.
                fs::rename(&staging, out)
            } else {
                fsutil::rename_noreplace(&staging, out)
            };
            moved.map_err(|e| match e.kind() {
                std::io::ErrorKind::DirectoryNotEmpty => Error::NotEmpty {
                    path: out.to_path_buf(),
                },
                std::io::ErrorKind::AlreadyExists if out_exists => Error::NotEmpty {
                    path: out.to_path_buf(),
                },
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
                    Error::Exists {
                        path: out.to_path_buf(),
                    }
                }
                _ => io_err(out, "move into place")(e),
            })
        });
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&staging);
        remove_created(&created);
        return Err(e);
    }
    fsutil::sync_dir(&parent).map_err(io_err(&parent, "sync directory"))?;
    for dir in &created {
        let above = fsutil::parent_dir(dir);
        fsutil::sync_dir(&above).map_err(io_err(&above, "sync directory"))?;
    }
    Ok(())
}

/// Creates `dir` and its missing ancestors (0755); returns those it created,
/// outermost first. On failure it removes them again.
fn create_parents(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = dir;
    loop {
        match fs::symlink_metadata(cur) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(cur.to_path_buf());
                match cur.parent() {
                    Some(up) if !up.as_os_str().is_empty() => cur = up,
                    _ => break,
                }
            }
            Err(e) => return Err(io_err(cur, "check directory")(e)),
        }
    }
    let mut created = Vec::new();
    for dir in missing.into_iter().rev() {
        if let Err(e) = DirBuilder::new().mode(0o755).create(&dir) {
            remove_created(&created);
            return Err(io_err(&dir, "create directory")(e));
        }
        created.push(dir);
    }
    Ok(created)
}

/// Removes directories this module created, innermost first, if still empty.
fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

/// Writes the members under `root` (files 0644, directories 0755) and syncs
/// them all at once.
fn fill<S: Source + ?Sized>(root: &Path, tar: &S, members: &[Member]) -> Result<()> {
    let mut dirs = BTreeSet::new();
    let mut body = Vec::new();
    for member in members {
        let dest = root.join(&member.name);
        for (i, _) in member.name.match_indices('/') {
            let dir = &member.name[..i];
            if dirs.insert(dir.to_string()) {
                let path = root.join(dir);
                DirBuilder::new()
                    .mode(0o755)
                    .create(&path)
                    .map_err(io_err(&path, "create directory"))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                    .map_err(io_err(&path, "set permissions"))?;
            }
        }
        // Members were size-checked when the archive was read.
        let len = usize::try_from(member.range.end - member.range.start)
            .expect("a member within its size limit fits usize");
        body.resize(len, 0);
        tar.read_exact_at(&mut body, member.range.start)
            .map_err(io_err(&dest, "read its member from the bundle"))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&dest)
            .map_err(io_err(&dest, "create"))?;
        file.write_all(&body).map_err(io_err(&dest, "write"))?;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err(&dest, "set permissions"))?;
    }
    fs::set_permissions(root, fs::Permissions::from_mode(0o755))
        .map_err(io_err(root, "set permissions"))?;
    // One sync for every file and directory written above: they all live on
    // the file system that holds `root`.
    let dir = fs::File::open(root).map_err(io_err(root, "open"))?;
    rustix::fs::syncfs(&dir).map_err(|e| io_err(root, "sync")(e.into()))
}

#[cfg(test)]
mod tests;
