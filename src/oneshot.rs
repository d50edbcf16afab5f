//! The one-shot apply every command shares (`apply`, and `install`, `revert`, `restore` when they
//! apply afterwards): the running-server rule, the cycle lock, and the exit code of the result.
//! Errors are printed here, once, in the form `main` prints them.

use crate::cli::{exit, ApplyControl};
use crate::config::DEFAULT_LOCK_TIMEOUT;
use crate::cycle::{run_cycle, CycleOptions, CycleResult};
use crate::layout::Layout;
use crate::server::{self, Server};
use crate::Outcome;

/// Prints an error with its chain of context, the one way every command reports one.
pub fn report_error(e: &anyhow::Error) {
    eprintln!("carbon-patcher: error: {e:#}");
}

/// The exit code of a run that finished.
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

/// `exit::SERVER_RUNNING` (with the message printed) when a server runs on this home and
/// `control` does not allow applying under it.
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

/// Runs the launcher's patch step once on `layout` and returns the exit code.
pub fn apply(layout: &Layout, control: &ApplyControl) -> i32 {
    if let Some(code) = refuse_while_running(layout, control) {
        return code;
    }
    let timeout = control.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT);
    let opts = CycleOptions {
        apply_while_running: true,
        lock_timeout: timeout,
        console: !control.quiet,
        always_run: true,
        progress: true,
    };
    match run_cycle(layout, opts) {
        CycleResult::Ran(o) => outcome_code(&o),
        CycleResult::Busy { holder } => {
            eprintln!(
                "carbon-patcher: another carbon-patcher (pid {}) is applying to {}; gave up after {:?}",
                holder.map_or("unknown".to_string(), |p| p.to_string()),
                layout.carbon_home.display(),
                timeout
            );
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
