//! Mutual exclusion without leaving files in the product: advisory `flock` locks on directories
//! that exist whenever we run. The watcher holds the carbon home's lock for its whole life (one
//! watcher per home); every apply cycle, the watcher's and a one-shot `apply`'s, holds the
//! `plugins` dir's lock while it scans, plans and writes, so cycles never interleave. Locks die
//! with their process, so a killed run never leaves a stale one.

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

/// Takes the lock on `dir` at once or reports its holder.
pub fn try_lock(dir: &Path) -> Result<DirLock, LockError> {
    let file = open_dir(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(LockError::Busy {
            holder: holder_of(dir),
        }),
        Err(fs::TryLockError::Error(e)) => Err(LockError::Io(
            anyhow::Error::new(e).context(format!("{}: cannot lock", dir.display())),
        )),
    }
}

/// Takes the lock on `dir`, waiting up to `timeout` for its holder to finish.
pub fn lock_within(dir: &Path, timeout: Duration) -> Result<DirLock, LockError> {
    let deadline = Instant::now() + timeout;
    loop {
        match try_lock(dir) {
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
    let ino = fs::metadata(dir).ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, id) = (f.get(1)?, f.get(4)?, f.get(5)?);
        let lock_ino: u64 = id.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && lock_ino == ino).then(|| pid.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_busy_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path()).unwrap();
        match try_lock(dir.path()) {
            Err(LockError::Busy { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected busy, got {other:?}"),
        }
        let t = Instant::now();
        assert!(matches!(
            lock_within(dir.path(), Duration::from_millis(200)),
            Err(LockError::Busy { .. })
        ));
        assert!(t.elapsed() >= Duration::from_millis(200));
        drop(first);
        assert!(lock_within(dir.path(), Duration::from_millis(200)).is_ok());
    }
}
