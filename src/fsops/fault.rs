//! Fault injection, for the crash and disk-full tests: every file-system change the engine makes
//! passes a numbered fault point, and `CARBON_PATCHER_FAULT` picks one to fail.
//!
//! - `kill@N`: the process kills itself with SIGKILL just before its N-th change (no cleanup, no
//!   unwinding: what a power cut or `kill -9` leaves);
//! - `enospc@N`: the N-th change that takes space (creating a file or directory, appending to
//!   `patches.log`) fails with "No space left on device";
//! - `count`: nothing fails; the number of changes is printed on standard error at exit
//!   (`carbon-patcher: fault points: N (taking space: M)`), so a test can aim at every one.
//!
//! `CARBON_PATCHER_NO_SYNC=1` skips fsync/syncfs: a kill keeps the page cache, so tests that
//! kill thousands of runs need not wait for the disk. `CARBON_PATCHER_FULL_REWRITE=1` makes a
//! run write every file the launcher's sequence writes, as the launcher does, instead of only
//! those whose bytes differ: the reference the incremental path is compared with. None of these
//! variables is for production.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Count,
    Kill(u64),
    Enospc(u64),
}

fn fault() -> Fault {
    static FAULT: OnceLock<Fault> = OnceLock::new();
    *FAULT.get_or_init(|| {
        let Ok(v) = std::env::var("CARBON_PATCHER_FAULT") else {
            return Fault::None;
        };
        let n = |s: &str| s.parse::<u64>().ok();
        match v.split_once('@') {
            Some(("kill", k)) => n(k).map_or(Fault::None, Fault::Kill),
            Some(("enospc", k)) => n(k).map_or(Fault::None, Fault::Enospc),
            _ if v == "count" => Fault::Count,
            _ => Fault::None,
        }
    })
}

static POINTS: AtomicU64 = AtomicU64::new(0);
static SPACE_POINTS: AtomicU64 = AtomicU64::new(0);

/// Whether a change takes disk space (and so can fail on a full disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Takes,
    Free,
}

/// Passes one fault point before changing `path`.
pub fn point(path: &Path, space: Space) -> io::Result<()> {
    let f = fault();
    if f == Fault::None {
        return Ok(());
    }
    let n = POINTS.fetch_add(1, Ordering::SeqCst) + 1;
    let s = if space == Space::Takes {
        SPACE_POINTS.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    match f {
        Fault::Kill(k) if k == n => {
            // SAFETY: signalling our own pid; SIGKILL does not return.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            unreachable!("SIGKILL returned");
        }
        Fault::Enospc(k) if k == s => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "No space left on device (os error 28) (injected at {})",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// With `count`, prints how many fault points the run passed.
pub fn report() {
    if fault() == Fault::Count {
        eprintln!(
            "carbon-patcher: fault points: {} (taking space: {})",
            POINTS.load(Ordering::SeqCst),
            SPACE_POINTS.load(Ordering::SeqCst)
        );
    }
}

/// Whether durability syncs are skipped (`CARBON_PATCHER_NO_SYNC=1`, tests only).
pub fn no_sync() -> bool {
    static NO_SYNC: OnceLock<bool> = OnceLock::new();
    *NO_SYNC.get_or_init(|| std::env::var_os("CARBON_PATCHER_NO_SYNC").is_some_and(|v| v == "1"))
}

/// Whether every planned write is made even when the target already holds the bytes
/// (`CARBON_PATCHER_FULL_REWRITE=1`, tests only).
pub fn full_rewrite() -> bool {
    static FULL: OnceLock<bool> = OnceLock::new();
    *FULL.get_or_init(|| std::env::var_os("CARBON_PATCHER_FULL_REWRITE").is_some_and(|v| v == "1"))
}
