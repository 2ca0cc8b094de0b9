//! Placing files in a kubeadm tree all or nothing: every file is first
//! staged under a temporary name beside its target and synced; only then
//! is each renamed into place. A target that existed is first hard-linked
//! to a backup name, so a failure part-way renames every backup back and
//! removes every new file: the tree is left as it was.
//!
//! This module owns that sequence and the path rule: a target is a plain
//! relative path under the tree, reached only through real directories
//! (never a symlink), and is itself a regular file or absent. It never
//! writes anything but the planned bytes to the planned targets.

use std::fs::{self, DirBuilder};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

use super::{tree_err, Error};
use crate::fsutil;

/// One file to write, decided before anything is written.
pub(super) struct Planned {
    /// Relative to the tree, e.g. `pki/apiserver.crt`.
    pub(super) rel: String,
    /// The new contents.
    pub(super) bytes: Vec<u8>,
    /// The file's mode.
    pub(super) mode: u32,
}

/// A staged file: its temporary name, and what placing it did.
struct Staged {
    target: PathBuf,
    tmp: fsutil::TempName,
    /// The backup of the file it replaced, once placed over one.
    backup: Option<PathBuf>,
    /// Whether it has been renamed into place.
    placed: bool,
}

/// Checks `rel` is a plain relative path under `dir` reached only through
/// real directories (missing ones are allowed, to be created), and that the
/// target, if there, is a regular file. Returns the missing directories,
/// outermost first.
pub(super) fn check_path(dir: &Path, rel: &str) -> Result<Vec<PathBuf>, Error> {
    let path = Path::new(rel);
    let target = dir.join(rel);
    let plain = !rel.is_empty()
        && !rel.contains('\\')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(tree_err(
            &target,
            "is not a plain relative path inside the tree",
        ));
    }
    let mut missing = Vec::new();
    let mut cur = dir.to_path_buf();
    let parts: Vec<_> = path.components().collect();
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        let last = i + 1 == parts.len();
        match fs::symlink_metadata(&cur) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(tree_err(
                    &cur,
                    "is a symbolic link; nothing is written through a link",
                ))
            }
            Ok(meta) if last && !meta.is_file() => {
                return Err(tree_err(&cur, "is not a regular file"))
            }
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(tree_err(&cur, "is not a directory"))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !last {
                    missing.push(cur.clone());
                }
            }
            Err(e) => return Err(tree_err(&cur, e.to_string())),
        }
    }
    Ok(missing)
}

/// Writes every planned file into `dir`, all or nothing (see the module
/// doc). Returns the relative paths written.
pub(super) fn place_all(dir: &Path, plan: Vec<Planned>) -> Result<Vec<String>, Error> {
    let mut created: Vec<PathBuf> = Vec::new();
    let mut staged: Vec<Staged> = Vec::new();
    let result = stage(dir, &plan, &mut created, &mut staged).and_then(|()| place(&mut staged));
    match result {
        Ok(()) => {
            for s in &staged {
                if let Some(backup) = &s.backup {
                    let _ = fs::remove_file(backup);
                }
            }
            Ok(plan.into_iter().map(|p| p.rel).collect())
        }
        Err(e) => {
            roll_back(&mut staged);
            // The staged temporaries go with `staged`.
            drop(staged);
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            Err(e)
        }
    }
}

/// Creates missing directories and a synced temporary file beside each target.
fn stage(
    dir: &Path,
    plan: &[Planned],
    created: &mut Vec<PathBuf>,
    staged: &mut Vec<Staged>,
) -> Result<(), Error> {
    for p in plan {
        for d in check_path(dir, &p.rel)? {
            if fs::symlink_metadata(&d).is_err() {
                DirBuilder::new()
                    .mode(0o755)
                    .create(&d)
                    .map_err(|e| tree_err(&d, format!("cannot create directory: {e}")))?;
                created.push(d);
            }
        }
        let target = dir.join(&p.rel);
        let write_err = |e: io::Error| tree_err(&target, format!("cannot stage: {e}"));
        let (mut file, tmp) = fsutil::create_beside(&target, p.mode).map_err(write_err)?;
        file.write_all(&p.bytes).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        staged.push(Staged {
            target,
            tmp,
            backup: None,
            placed: false,
        });
    }
    Ok(())
}

/// Renames each staged file into place, backing up what it replaces.
fn place(staged: &mut [Staged]) -> Result<(), Error> {
    for (n, s) in staged.iter_mut().enumerate() {
        let fail = |e: io::Error| tree_err(&s.target, format!("cannot write: {e}"));
        fault(n).map_err(fail)?;
        // Checked again: the tree may have changed since it was staged.
        match fs::symlink_metadata(&s.target) {
            Ok(meta) if meta.is_file() => {
                let backup = backup_name(&s.target);
                fs::hard_link(&s.target, &backup).map_err(fail)?;
                s.backup = Some(backup);
                fs::rename(s.tmp.path(), &s.target).map_err(fail)?;
            }
            Ok(_) => return Err(tree_err(&s.target, "is not a regular file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fsutil::rename_noreplace(s.tmp.path(), &s.target).map_err(fail)?;
            }
            Err(e) => return Err(fail(e)),
        }
        s.placed = true;
    }
    let mut dirs: Vec<PathBuf> = staged
        .iter()
        .map(|s| fsutil::parent_dir(&s.target))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        fsutil::sync_dir(&d).map_err(|e| tree_err(&d, format!("cannot sync: {e}")))?;
    }
    Ok(())
}

/// Puts back what [`place`] changed, newest first.
fn roll_back(staged: &mut [Staged]) {
    for s in staged.iter_mut().rev() {
        match (s.placed, &s.backup) {
            (true, Some(backup)) => {
                let _ = fs::rename(backup, &s.target);
            }
            (true, None) => {
                let _ = fs::remove_file(&s.target);
            }
            (false, Some(backup)) => {
                let _ = fs::remove_file(backup);
            }
            (false, None) => {}
        }
        let _ = fsutil::sync_dir(&fsutil::parent_dir(&s.target));
    }
}

/// `.ceremony-tmp.backup.NAME.PID` beside `target`.
fn backup_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fsutil::parent_dir(target).join(format!(
        "{}backup.{name}.{}",
        fsutil::TMP_PREFIX,
        std::process::id()
    ))
}

/// With the `fault-injection` feature, `CEREMONY_FAULT=kubeadm-place:N`
/// fails the placing of file N (0-based), to show the roll-back.
fn fault(n: usize) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if let Ok(spec) = std::env::var("CEREMONY_FAULT") {
        if spec.strip_prefix("kubeadm-place:") == Some(n.to_string().as_str()) {
            return Err(io::Error::other("injected by CEREMONY_FAULT"));
        }
    }
    let _ = n;
    Ok(())
}
