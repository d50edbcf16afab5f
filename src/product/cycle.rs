//! One apply cycle with its policies, shared by the one-shot `apply` and the watcher: take the
//! cycle lock, validate and plan, hold back a change to `plugins` while the server runs (unless
//! told otherwise), run. Also the summary of a cycle that status, metrics and systemd report.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::launcher::drift::{OutsideChange, OutsideChanges};
use crate::launcher::layout::Layout;
use crate::product::lock::{self, DirLock, LockError};
use crate::product::server::{self, Server};
use crate::product::{Outcome, Prepared};

#[derive(Debug, Clone, Copy)]
pub struct CycleOptions {
    pub apply_while_running: bool,
    pub lock_timeout: Duration,
    /// Print the launcher's console lines.
    pub console: bool,
    /// Run the launcher's step even when it would write nothing but log lines (a server start
    /// does; a watcher's re-check after an unrelated event need not).
    pub always_run: bool,
    /// Show progress when standard error is a terminal (a person runs it).
    pub progress: bool,
    /// Apply even when the restore undoes changes made outside the patch process.
    pub revert_outside_changes: bool,
}

#[derive(Debug)]
pub enum CycleResult {
    /// Nothing to write: the tree is as the launcher would leave it.
    UpToDate,
    /// The launcher's step ran.
    Ran(Outcome),
    /// `plugins` would change, but the server is running: validated and planned, not applied.
    Deferred { pid: u32, pending: usize },
    /// Another cycle holds the lock.
    Busy { holder: Option<u32> },
    /// Refused, nothing written: the run would undo changes made to `plugins` outside the patch
    /// process.
    OutsideChanges(OutsideChanges),
    /// Refused (bad input) or failed; nothing half-written.
    Failed(anyhow::Error),
}

/// The lock every run that changes the product holds: a `flock` on `plugins` (a lock file in
/// the state dir where the filesystem cannot lock a directory), waited for up to `timeout`.
pub fn take_cycle_lock(layout: &Layout, timeout: Duration) -> Result<DirLock, LockError> {
    lock::lock_within(&layout.plugins, &layout.lock_file("cycle"), timeout)
}

/// Takes the cycle lock on `plugins`. A missing `plugins` is left for the scan to refuse with
/// its own message.
fn lock_cycle(layout: &Layout, timeout: Duration) -> Result<Option<DirLock>, CycleResult> {
    if !layout.plugins.is_dir() {
        return Ok(None);
    }
    match take_cycle_lock(layout, timeout) {
        Ok(l) => Ok(Some(l)),
        Err(LockError::Busy { holder }) => Err(CycleResult::Busy { holder }),
        Err(LockError::Io(e)) => Err(CycleResult::Failed(e)),
    }
}

pub fn run_cycle(layout: &Layout, opts: CycleOptions) -> CycleResult {
    run_cycle_noting_changes(layout, opts).0
}

/// [`run_cycle`], with what detection found to change: the launcher's lines naming each service
/// pack and patch dir new, reverted or updated (`New patch available - patch0002`), which only
/// `patches.log` has otherwise. Empty when the cycle got no plan (busy, refused) or found none.
pub fn run_cycle_noting_changes(layout: &Layout, opts: CycleOptions) -> (CycleResult, Vec<String>) {
    let _lock = match lock_cycle(layout, opts.lock_timeout) {
        Ok(l) => l,
        Err(r) => return (r, Vec::new()),
    };
    let progress = if opts.progress {
        crate::product::progress::Progress::on_terminal()
    } else {
        crate::product::progress::Progress::hidden()
    };
    let prepared = match Prepared::new_with(layout, None, &progress) {
        Ok(p) => p,
        Err(e) => return (CycleResult::Failed(e), Vec::new()),
    };
    let changes = prepared.plan.change_messages.clone();
    if prepared.outside.refuses() && !opts.revert_outside_changes {
        return (CycleResult::OutsideChanges(prepared.outside), changes);
    }
    if prepared.changes_plugins() && !opts.apply_while_running {
        if let Server::Running { pid } = server::detect(&layout.carbon_home) {
            let pending = prepared.plan.changes;
            return (CycleResult::Deferred { pid, pending }, changes);
        }
    }
    if !opts.always_run && !prepared.writes_anything() {
        return (CycleResult::UpToDate, changes);
    }
    let result = match prepared.run_with(opts.console, &progress) {
        Ok(o) => CycleResult::Ran(o),
        Err(e) => CycleResult::Failed(e),
    };
    (result, changes)
}

/// What the last cycle left, for status, metrics and systemd.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Summary {
    pub carbon_home: String,
    /// Seconds since the epoch.
    pub last_cycle_time: f64,
    pub last_cycle_duration_seconds: f64,
    /// `applied`, `up_to_date`, `checked`, `warnings`, `deferred`, `busy`, `outside_changes` or
    /// `error`.
    pub last_cycle_result: String,
    pub message: String,
    pub servicepack: Option<String>,
    /// Patch dirs applied (from `prePatchedDir.txt`, `patch0000` and the service pack aside).
    pub patches_applied: usize,
    pub pending_changes: usize,
    pub deferred_server_running: bool,
    pub verification_warnings: usize,
    /// Changes made to `plugins` outside the patch process the cycle met (refused when any
    /// would be lost: result `outside_changes`).
    #[serde(default)]
    pub outside_changes: Vec<OutsideChange>,
}

impl Summary {
    pub fn new(layout: &Layout, result: &CycleResult, started: Instant) -> Summary {
        let (kind, message, pending, deferred, warnings) = match result {
            CycleResult::UpToDate => ("up_to_date", String::new(), 0, false, 0),
            CycleResult::Ran(o) if !o.warnings.is_empty() => (
                "warnings",
                format!("{} plugins differ from their patch", o.warnings.len()),
                0,
                false,
                o.warnings.len(),
            ),
            CycleResult::Ran(o) if o.applied => ("applied", String::new(), 0, false, 0),
            CycleResult::Ran(_) => ("checked", String::new(), 0, false, 0),
            CycleResult::Deferred { pid, pending } => (
                "deferred",
                format!("server running (pid {pid})"),
                *pending,
                true,
                0,
            ),
            CycleResult::Busy { holder } => (
                "busy",
                format!(
                    "lock held by pid {}",
                    holder.map_or("?".into(), |p| p.to_string())
                ),
                0,
                false,
                0,
            ),
            CycleResult::OutsideChanges(o) => (
                "outside_changes",
                o.refusal(&layout.carbon_home.display().to_string()),
                0,
                false,
                0,
            ),
            CycleResult::Failed(e) => ("error", format!("{e:#}"), 0, false, 0),
        };
        let outside_changes = match result {
            CycleResult::OutsideChanges(o) => o.files.clone(),
            _ => Vec::new(),
        };
        let (servicepack, patches) = applied(&layout.pre_patched_dir_file());
        Summary {
            carbon_home: layout.carbon_home.display().to_string(),
            last_cycle_time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            last_cycle_duration_seconds: started.elapsed().as_secs_f64(),
            last_cycle_result: kind.to_string(),
            message,
            servicepack,
            patches_applied: patches.len(),
            pending_changes: pending,
            deferred_server_running: deferred,
            verification_warnings: warnings,
            outside_changes,
        }
    }

    /// One line for systemd's `STATUS=`.
    pub fn status_line(&self) -> String {
        let mut s = format!("{} patches applied", self.patches_applied);
        if let Some(sp) = &self.servicepack {
            s = format!("{sp} and {s}");
        }
        if self.pending_changes > 0 {
            s.push_str(&format!(", {} pending", self.pending_changes));
        }
        if !self.message.is_empty() {
            s.push_str(&format!(": {}", self.message.lines().next().unwrap_or("")));
        }
        s
    }
}

/// The service pack and the patch dirs `prePatchedDir.txt` records (`patch0000` aside).
pub fn applied(pre_patched_dir: &Path) -> (Option<String>, Vec<String>) {
    let text = std::fs::read_to_string(pre_patched_dir).unwrap_or_default();
    let lines = crate::launcher::java::read_lines(&text);
    let sp = lines
        .iter()
        .find(|l| l.starts_with("servicepack"))
        .map(|s| s.to_string());
    let patches = lines
        .iter()
        .filter(|l| l.starts_with("patch") && **l != crate::launcher::layout::BACKUP_DIR)
        .map(|l| l.to_string())
        .collect();
    (sp, patches)
}
