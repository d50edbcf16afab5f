//! `FileHandler.openFiles`' lock-file protocol: create `<name>.lck` (or reuse a stale one, a
//! regular file in a writable directory), then take an exclusive `fcntl(F_SETLK)` record lock
//! on it as `FileChannel.tryLock` does; `locks` is the JDK's set of lock files this process
//! holds, which `fcntl` locks cannot tell apart.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `FileHandler.locks`: the lock files this process holds.
pub(super) static LOCKS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

pub(super) fn locks() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LOCKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `FileChannel.tryLock()`: an exclusive POSIX record lock on the whole file. `Ok(false)`: another
/// process holds one.
pub(super) fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: a zeroed flock is a valid value; fcntl only reads it.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: a valid descriptor and a valid flock pointer.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// `isParentWritable` and `Files.isRegularFile(NOFOLLOW_LINKS)`: may a lock file be reused.
pub(super) fn reusable(lock: &Path) -> bool {
    let regular = std::fs::symlink_metadata(lock).is_ok_and(|m| m.is_file());
    let parent = lock.parent().unwrap_or(Path::new("."));
    // SAFETY: a NUL-terminated path.
    let writable = std::ffi::CString::new(parent.as_os_str().as_encoded_bytes())
        .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0);
    regular && writable
}

pub(super) enum Attempt {
    /// The lock file open for writing, and whether we created it.
    Got(File, bool),
    /// Try the next `unique`.
    Next,
}

/// One `unique`'s lock file: created, or a stale one reused, as `openFiles` does.
pub(super) fn lock_file(lock: &Path) -> Result<Attempt, String> {
    for _retry in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(lock) {
            Ok(f) => return Ok(Attempt::Got(f, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !reusable(lock) {
                    return Ok(Attempt::Next);
                }
                match OpenOptions::new().append(true).open(lock) {
                    Ok(f) => return Ok(Attempt::Got(f, false)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(_) => return Ok(Attempt::Next),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && reusable(lock) => continue,
            Err(e) => {
                return Err(format!(
                    "{}: cannot create the lock file: {e}",
                    lock.display()
                ))
            }
        }
    }
    Ok(Attempt::Next)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Takes an open-file-description lock on `path`: it conflicts with `try_lock`'s POSIX lock
    /// even from this process, so it stands for another JVM holding the file.
    pub(crate) fn hold_as_another_process(path: &Path) -> File {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap();
        // SAFETY: a zeroed flock is valid; fcntl only reads it.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: a valid descriptor and a valid flock.
        assert_eq!(
            unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) },
            0
        );
        f
    }

    #[test]
    fn lock_files_are_made_reused_or_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("patches.log.lck");
        assert!(matches!(lock_file(&lock), Ok(Attempt::Got(_, true))));
        assert!(matches!(lock_file(&lock), Ok(Attempt::Got(_, false))));
        // Not a regular file: the next name is tried.
        let odd = dir.path().join("dir.lck");
        std::fs::create_dir(&odd).unwrap();
        assert!(matches!(lock_file(&odd), Ok(Attempt::Next)));
        // No directory: the JDK's FileHandler fails to start.
        assert!(lock_file(&dir.path().join("missing/x.lck")).is_err());
    }

    #[test]
    fn try_lock_sees_another_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("a.lck");
        let Ok(Attempt::Got(f, _)) = lock_file(&lock) else {
            panic!()
        };
        assert!(try_lock(&f).unwrap());
        drop(f);
        let _other = hold_as_another_process(&lock);
        let Ok(Attempt::Got(f, _)) = lock_file(&lock) else {
            panic!()
        };
        assert!(!try_lock(&f).unwrap());
    }
}
