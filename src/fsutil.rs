//! Writing outputs so that nothing is half-written or overwritten: write to
//! a temporary name in the same directory, fsync, then rename into place
//! with `RENAME_NOREPLACE` (which fails if the name exists).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Prefix of temporary files, so they are never mistaken for outputs.
pub const TMP_PREFIX: &str = ".ceremony-tmp.";

/// Writes `bytes` to `path`, which must not exist, atomically.
///
/// `mode` applies to the new file (0o644 for certificates, 0o600 for
/// anything secret). On failure nothing is left behind.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_then(path, bytes, mode, rename_noreplace)
}

/// Replaces `path` (which may exist) with `bytes` atomically: a temporary
/// name in the same directory, fsync, rename over the old file.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_then(path, bytes, mode, |tmp, path| fs::rename(tmp, path))
}

/// Writes `bytes` to a new temporary name beside `path`, fsyncs it, moves
/// it into place with `place`, and fsyncs the directory.
fn write_then(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    place: impl FnOnce(&Path, &Path) -> io::Result<()>,
) -> io::Result<()> {
    let (mut file, tmp) = create_beside(path, mode)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    tmp.place_with(path, place)
}

/// Creates a new file, open for writing with `mode`, under a temporary name
/// beside `path` (`.ceremony-tmp.NAME.PID`), for an output written as a
/// stream. The directory must not be writable by every user. A name that
/// is already taken is an `AlreadyExists` error and is left alone.
///
/// The returned [`TempName`] removes the file when dropped, unless
/// [`TempName::place_new`] has moved it to `path`. The caller syncs the
/// file before placing it.
pub fn create_beside(path: &Path, mode: u32) -> io::Result<(File, TempName)> {
    let dir = parent_dir(path);
    crate::safety::check_not_world_writable(&dir)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    // From here on the temporary file is ours: dropping the name removes it.
    Ok((
        file,
        TempName {
            path: tmp,
            placed: false,
        },
    ))
}

/// A file this process created under a temporary name (see
/// [`create_beside`]); removed when dropped unless it was moved into place.
#[derive(Debug)]
pub struct TempName {
    /// The temporary name.
    path: PathBuf,
    /// Set once the file has been renamed away.
    placed: bool,
}

impl TempName {
    /// The temporary name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `path`, failing with `AlreadyExists` if `path`
    /// exists (the file is then removed), and fsyncs the directory.
    pub fn place_new(self, path: &Path) -> io::Result<()> {
        self.place_with(path, rename_noreplace)
    }

    /// Moves the file to `path` with `place`, then fsyncs the directory.
    fn place_with(
        mut self,
        path: &Path,
        place: impl FnOnce(&Path, &Path) -> io::Result<()>,
    ) -> io::Result<()> {
        place(&self.path, path)?;
        self.placed = true;
        sync_dir(&parent_dir(path))
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        if !self.placed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Renames `from` to `to`, failing with `AlreadyExists` if `to` exists.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(io::Error::from)
}

/// Fsyncs a directory so a new name in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What [`remove_stale_temporaries`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stale {
    /// The files removed.
    pub removed: Vec<PathBuf>,
    /// Stale files that could not be removed, each with the reason.
    pub kept: Vec<(PathBuf, String)>,
}

/// Removes the temporary files a dead process left in `dir` for the outputs
/// named `names` (see [`create_beside`] and [`write_tree`]):
/// `.ceremony-tmp.NAME.PID` where NAME is one of `names`, PID is not this
/// process and no process has it, and it is a regular file or a directory
/// (never a link; a directory is removed with everything in it, links
/// inside removed, not followed) that this user owns. Anything else is
/// left alone, a live process's temporary file above all. A missing
/// `dir` has none; `dir` is fsynced when a file was removed. Run it only
/// under the ceremony's locks.
pub fn remove_stale_temporaries(dir: &Path, names: &[&std::ffi::OsStr]) -> io::Result<Stale> {
    use std::os::unix::fs::MetadataExt;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stale::default()),
        Err(e) => return Err(e),
    };
    let uid = rustix::process::geteuid().as_raw();
    let mut stale = Stale::default();
    for entry in entries {
        let entry = entry?;
        let Some(pid) = stale_pid(&entry.file_name(), names) else {
            continue;
        };
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let path = entry.path();
        let is_dir = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() && meta.uid() == uid => false,
            Ok(meta) if meta.file_type().is_dir() && meta.uid() == uid => true,
            Ok(_) => continue,
            Err(e) => {
                stale.kept.push((path, e.to_string()));
                continue;
            }
        };
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match removed {
            Ok(()) => stale.removed.push(path),
            Err(e) => stale.kept.push((path, e.to_string())),
        }
    }
    if !stale.removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(stale)
}

/// The PID in `.ceremony-tmp.NAME.PID` when NAME is one of `names`.
fn stale_pid(file_name: &std::ffi::OsStr, names: &[&std::ffi::OsStr]) -> Option<u32> {
    let rest = file_name.to_str()?.strip_prefix(TMP_PREFIX)?;
    let (name, pid) = rest.rsplit_once('.')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !names.iter().any(|n| n.to_str() == Some(name)) {
        return None;
    }
    pid.parse().ok()
}

/// True unless the kernel says no process has `pid` (a PID it cannot check,
/// for want of permission or because it is out of range, counts as alive).
fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// A new file in `dir`, open for reading and writing, that no other process
/// can open: it has no name.
pub fn private_file(dir: &Path) -> io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        // Not every file system supports O_TMPFILE; fall back to a named file.
        if let Ok(fd) = rustix::fs::open(dir, flags, Mode::RUSR | Mode::WUSR) {
            return Ok(File::from(fd));
        }
    }
    unlinked_file(dir)
}

/// A new file in `dir` created under a random name, mode 0600, never over an
/// existing name or through a link, and unlinked at once.
pub fn unlinked_file(dir: &Path) -> io::Result<File> {
    use std::hash::{BuildHasher, RandomState};
    for attempt in 0..16u32 {
        // RandomState is seeded from the operating system's random source.
        let nonce = RandomState::new().hash_one((std::process::id(), attempt));
        let name = dir.join(format!("{TMP_PREFIX}private.{nonce:016x}"));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&name)
        {
            Ok(file) => {
                std::fs::remove_file(&name)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name after 16 attempts",
    ))
}

#[cfg(test)]
mod tests;

/// Reads the file at `path` whole, refusing one larger than `max` bytes
/// (checked while reading, so a growing file is caught too).
pub fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(File::open(path)?, max + 1), &mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!(
            "larger than the {max}-byte limit"
        )));
    }
    Ok(bytes)
}

/// Writes a new directory whole: `files` (relative names, each with its
/// mode; subdirectories made as needed) into a temporary directory beside
/// `dir`, synced, then renamed to `dir`, which must not exist. On a failure
/// the temporary directory is removed, so either all of `dir` is there or
/// none of it. The error names the path, what was being done, and why.
pub fn write_tree<B: AsRef<[u8]>>(
    dir: &Path,
    files: &[(String, B, u32)],
) -> Result<(), (PathBuf, &'static str, io::Error)> {
    let parent = parent_dir(dir);
    fs::create_dir_all(&parent).map_err(|e| (parent.clone(), "create directory", e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = parent.join(format!("{TMP_PREFIX}{name}.{}", std::process::id()));
    let result = (|| {
        fs::create_dir(&tmp).map_err(|e| (tmp.clone(), "create directory", e))?;
        let mut dirs = vec![tmp.clone()];
        for (rel, bytes, mode) in files {
            let path = tmp.join(rel);
            let sub = parent_dir(&path);
            if !dirs.contains(&sub) {
                fs::create_dir_all(&sub).map_err(|e| (dir.join(rel), "create directory", e))?;
                let mut d = sub.as_path();
                while d != tmp && !dirs.iter().any(|x| x == d) {
                    dirs.push(d.to_path_buf());
                    d = match d.parent() {
                        Some(p) => p,
                        None => break,
                    };
                }
            }
            write_new(&path, bytes.as_ref(), *mode).map_err(|e| (dir.join(rel), "write", e))?;
        }
        // Deepest first: a directory's entries are durable before its own.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &dirs {
            sync_dir(d).map_err(|e| (d.clone(), "sync", e))?;
        }
        rename_noreplace(&tmp, dir).map_err(|e| (dir.to_path_buf(), "place", e))?;
        sync_dir(&parent).map_err(|e| (parent.clone(), "sync", e))
    })();
    if result.is_err() && tmp.exists() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}
