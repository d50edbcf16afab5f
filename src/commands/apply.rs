//! The one-shot apply, shared by every command that applies (`apply`, `install --apply`,
//! `revert`, `restore`): the running-server rule, the cycle under its lock, the outcome as an
//! exit code; and how every command reports an error.

use std::time::Duration;

use crate::cli::{exit, ApplyArgs, ApplyControl};
use crate::commands::watch::config::DEFAULT_LOCK_TIMEOUT;
use crate::launcher::drift::OutsideChanges;
use crate::launcher::layout::Layout;
use crate::product::cycle::{run_cycle, CycleOptions, CycleResult};
use crate::product::lock::{DirLock, LockError};
use crate::product::progress::Progress;
use crate::product::scan::Moved;
use crate::product::server::{self, Server};
use crate::product::{Outcome, Prepared};

/// Prints an error with its whole context chain (the file and the reason), once.
pub fn report_error(e: &anyhow::Error) {
    eprintln!("carbon-patcher: error: {e:#}");
}

/// The exit code of a run that completed: clean, or with verification warnings.
pub fn outcome_code(o: &Outcome) -> i32 {
    tracing::info!(
        applied = o.applied,
        backed_up = o.written.backed_up,
        written = o.written.written,
        unchanged = o.written.unchanged,
        warnings = o.warnings.len(),
        "apply finished"
    );
    if o.warnings.is_empty() {
        exit::OK
    } else {
        exit::VERIFY_WARNINGS
    }
}

fn lock_timeout(control: &ApplyControl) -> Duration {
    control.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT)
}

/// `Some(exit::SERVER_RUNNING)`, with the reason on standard error, when a Carbon server runs on
/// the home and `--while-running` was not given. Callers that change the product check this
/// before they change anything, so the refusal leaves every file as it was.
pub fn refuse_while_running(layout: &Layout, control: &ApplyControl) -> Option<i32> {
    if control.while_running {
        return None;
    }
    let Server::Running { pid } = server::detect(&layout.carbon_home) else {
        return None;
    };
    eprintln!(
        "carbon-patcher: a Carbon server (pid {pid}) is running on {}; stop it first, or pass --while-running (the server loads the new bundles only when restarted)",
        layout.carbon_home.display()
    );
    Some(exit::SERVER_RUNNING)
}

fn report_busy(layout: &Layout, holder: Option<u32>, timeout: Duration) {
    eprintln!(
        "carbon-patcher: another carbon-patcher (pid {}) is applying to {}; gave up after {:?}",
        holder.map_or("unknown".to_string(), |p| p.to_string()),
        layout.carbon_home.display(),
        timeout
    );
}

/// Takes the lock every apply cycle holds, for a command that changes the patches or
/// service-packs dirs: a cycle's scan must never see a half-made change, nor remove our private
/// staging names as an interrupted run's leftovers while we still fill them. On failure, the
/// reason is printed and the exit code returned.
pub fn lock(layout: &Layout, control: &ApplyControl) -> Result<DirLock, i32> {
    if !layout.plugins.is_dir() {
        eprintln!(
            "carbon-patcher: error: {}: the plugins directory is missing (is this a Carbon product home?)",
            layout.plugins.display()
        );
        return Err(exit::ERROR);
    }
    let timeout = lock_timeout(control);
    match crate::product::cycle::take_cycle_lock(layout, timeout) {
        Ok(l) => Ok(l),
        Err(LockError::Busy { holder }) => {
            report_busy(layout, holder, timeout);
            Err(exit::BUSY)
        }
        Err(LockError::Io(e)) => {
            report_error(&e);
            Err(exit::ERROR)
        }
    }
}

/// Says why a run is refused for the changes it would undo (each file, the two ways out), and
/// gives the exit code.
pub fn refuse_outside_changes(layout: &Layout, o: &OutsideChanges) -> i32 {
    eprintln!(
        "carbon-patcher: error: {}",
        o.refusal(&layout.carbon_home.display().to_string())
    );
    exit::OUTSIDE_CHANGES
}

/// The refusal of a run that would undo outside changes, as an error ([`error_code`] gives 7).
#[derive(Debug)]
pub struct OutsideRefusal(pub String);

impl std::fmt::Display for OutsideRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutsideRefusal {}

/// Refuses (an [`OutsideRefusal`]) when the apply after `moved` (a revert's, a restore's) would
/// undo changes made to `plugins` outside the patch process: planned before anything moves. A
/// product that does not plan is left for the move and the apply to report as they do.
pub fn outside_refusal(layout: &Layout, moved: &Moved) -> anyhow::Result<()> {
    let Ok(p) = Prepared::new_with(layout, Some(moved), &Progress::hidden()) else {
        return Ok(());
    };
    if p.outside.refuses() {
        let home = layout.carbon_home.display().to_string();
        return Err(OutsideRefusal(p.outside.refusal(&home)).into());
    }
    Ok(())
}

/// The exit code of an error: 7 for an [`OutsideRefusal`], else 1.
pub fn error_code(e: &anyhow::Error) -> i32 {
    if e.is::<OutsideRefusal>() {
        exit::OUTSIDE_CHANGES
    } else {
        exit::ERROR
    }
}

/// One apply, as a server start would run it: refused while the server runs (unless
/// `--while-running`), waits for the lock, prints the console lines unless `--quiet`.
pub fn apply(layout: &Layout, control: &ApplyControl) -> i32 {
    warn_about(layout);
    if let Some(code) = refuse_while_running(layout, control) {
        return code;
    }
    let timeout = lock_timeout(control);
    let opts = CycleOptions {
        apply_while_running: true,
        lock_timeout: timeout,
        console: !control.quiet,
        always_run: true,
        progress: true,
        revert_outside_changes: control.revert_outside_changes,
    };
    match run_cycle(layout, opts) {
        CycleResult::Ran(o) => outcome_code(&o),
        CycleResult::OutsideChanges(o) => refuse_outside_changes(layout, &o),
        CycleResult::Busy { holder } => {
            report_busy(layout, holder, timeout);
            exit::BUSY
        }
        CycleResult::Failed(e) => {
            report_error(&e);
            exit::ERROR
        }
        // always_run and apply_while_running rule these out.
        CycleResult::UpToDate | CycleResult::Deferred { .. } => exit::OK,
    }
}

/// Says on standard error what the product asks that its launcher does otherwise (a dir
/// property an old kernel ignores, a log setting not followed): never a reason to refuse.
pub fn warn_about(layout: &Layout) {
    for w in &layout.warnings {
        eprintln!("carbon-patcher: warning: {w}");
    }
}

/// `apply`: the launcher's patch step once, on the product the flags name.
pub fn run(args: &ApplyArgs) -> i32 {
    match crate::product::home::resolve(&args.paths.settings()) {
        Ok(layout) => apply(&layout, &args.control),
        Err(e) => {
            report_error(&e);
            exit::USAGE
        }
    }
}
