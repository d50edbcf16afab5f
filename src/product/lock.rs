//! Mutual exclusion without leaving files in the product: advisory `flock` locks on directories
//! that exist whenever we run. The watcher holds the carbon home's lock for its whole life (one
//! watcher per home); every apply cycle, the watcher's and a one-shot `apply`'s, holds the
//! `plugins` dir's lock while it scans, plans and writes, so cycles never interleave. Locks die
//! with their process, so a killed run never leaves a stale one.
//!
//! Where a directory cannot be locked (NFS emulates `flock` with byte-range locks, which need a
//! descriptor open for writing, and a directory cannot be opened so), the lock is taken on a
//! file of ours instead, `<repository>/.carbon-patcher/<name>.lock`, holding the holder's pid.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Why a lock was not had.
#[derive(Debug)]
pub enum LockError {
    /// Someone else holds it; their pid when `/proc/locks` tells.
    Busy {
        holder: Option<u32>,
    },
    Io(anyhow::Error),
}

fn open_dir(dir: &Path) -> Result<File, LockError> {
    File::open(dir)
        .with_context(|| format!("{}: cannot open to lock", dir.display()))
        .map_err(LockError::Io)
}

/// Takes the lock on `dir` at once or reports its holder; `fallback` is the lock file used where
/// `dir` cannot be locked.
pub fn try_lock(dir: &Path, fallback: &Path) -> Result<DirLock, LockError> {
    let file = open_dir(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(LockError::Busy {
            holder: holder_of(dir),
        }),
        Err(fs::TryLockError::Error(e))
            if matches!(
                e.raw_os_error(),
                Some(libc::EBADF | libc::ENOLCK | libc::EOPNOTSUPP)
            ) =>
        {
            try_lock_file(fallback)
        }
        Err(fs::TryLockError::Error(e)) => Err(LockError::Io(
            anyhow::Error::new(e).context(format!("{}: cannot lock", dir.display())),
        )),
    }
}

/// The lock on a file of ours, which records the holder's pid.
pub fn try_lock_file(path: &Path) -> Result<DirLock, LockError> {
    let io = |e: std::io::Error, what: &str| {
        LockError::Io(anyhow::Error::new(e).context(format!("{}: cannot {what}", path.display())))
    };
    if let Some(dir) = path.parent() {
        crate::fsops::create_dir_all_owned(dir).map_err(LockError::Io)?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io(e, "open to lock"))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            file.set_len(0).map_err(|e| io(e, "write"))?;
            write!(file, "{}", std::process::id()).map_err(|e| io(e, "write"))?;
            Ok(DirLock { _file: file })
        }
        Err(fs::TryLockError::WouldBlock) => Err(LockError::Busy {
            holder: fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse().ok()),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io(e, "lock")),
    }
}

/// Takes the lock on `dir`, waiting up to `timeout` for its holder to finish.
pub fn lock_within(dir: &Path, fallback: &Path, timeout: Duration) -> Result<DirLock, LockError> {
    let deadline = Instant::now() + timeout;
    loop {
        match try_lock(dir, fallback) {
            Err(LockError::Busy { holder }) => {
                if Instant::now() >= deadline {
                    return Err(LockError::Busy { holder });
                }
                thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The pid holding a `flock` on `dir`, read from `/proc/locks` (`… FLOCK ADVISORY WRITE <pid>
/// <major>:<minor>:<inode> …`).
pub fn holder_of(dir: &Path) -> Option<u32> {
    let m = fs::metadata(dir).ok()?;
    // Device too: a mount point's inode number (2 on ext4) is the same on every filesystem.
    let want = (libc::major(m.dev()), libc::minor(m.dev()), m.ino());
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, id) = (f.get(1)?, f.get(4)?, f.get(5)?);
        // `<major>:<minor>:<inode>`, the device numbers in hex.
        let mut parts = id.split(':');
        let major = u32::from_str_radix(parts.next()?, 16).ok()?;
        let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
        let ino: u64 = parts.next()?.parse().ok()?;
        (*kind == "FLOCK" && (major, minor, ino) == want).then(|| pid.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_busy_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let fallback = dir.path().join("x.lock");
        let first = try_lock(dir.path(), &fallback).unwrap();
        match try_lock(dir.path(), &fallback) {
            Err(LockError::Busy { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected busy, got {other:?}"),
        }
        let t = Instant::now();
        assert!(matches!(
            lock_within(dir.path(), &fallback, Duration::from_millis(200)),
            Err(LockError::Busy { .. })
        ));
        assert!(t.elapsed() >= Duration::from_millis(200));
        drop(first);
        assert!(lock_within(dir.path(), &fallback, Duration::from_millis(200)).is_ok());
        assert!(!fallback.exists(), "a local directory needs no lock file");
    }

    #[test]
    fn lock_file_fallback_records_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/cycle.lock");
        let first = try_lock_file(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            std::process::id().to_string()
        );
        match try_lock_file(&path) {
            Err(LockError::Busy { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected busy, got {other:?}"),
        }
        drop(first);
        assert!(try_lock_file(&path).is_ok());
    }
}
