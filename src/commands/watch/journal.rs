//! The watcher's journal: one line per cycle, in the words an operator searches for.

use std::time::Duration;

use crate::launcher::layout::{Layout, BACKUP_DIR};
use crate::product::cycle::CycleResult;

/// One line per cycle in the words an operator greps the journal for: the service packs
/// and patch dirs found new, reverted or updated (the launcher's own detection lines, which
/// otherwise only `patches.log` has), what was written, and why nothing was.
pub fn log_cycle(layout: &Layout, settle: Duration, result: &CycleResult, changes: &[String]) {
    let found = if changes.is_empty() {
        "no new patch or service pack".to_string()
    } else {
        changes.join("; ")
    };
    match result {
        CycleResult::UpToDate => tracing::debug!("up to date: {found}"),
        CycleResult::Ran(o) => {
            let w = &o.written;
            if o.applied {
                tracing::info!(
                    "applied: {found}; {} plugin file(s) written, {} backed up to {BACKUP_DIR}, {} already right",
                    w.written,
                    w.backed_up,
                    w.unchanged
                );
            } else {
                let verified = match o.warnings.len() {
                    0 => "verified".to_string(),
                    n => format!("{n} verification warning(s)"),
                };
                tracing::info!("checked: {found}; nothing to apply, {verified}");
            }
            for warning in &o.warnings {
                tracing::warn!("verification: {warning}");
            }
        }
        CycleResult::Deferred { pid, pending } => tracing::info!(
            "deferred: {found}; {pending} change(s) validated, not applied while the server runs (pid {pid}); applying when it stops"
        ),
        CycleResult::Busy { holder } => tracing::warn!(
            "busy: another carbon-patcher (pid {}) holds the lock on {}; retrying in {:?}",
            holder.map_or("unknown".to_string(), |p| p.to_string()),
            layout.plugins.display(),
            settle
        ),
        CycleResult::OutsideChanges(o) => {
            for f in o.lost() {
                tracing::warn!(file = %f.file, "{}", f.describe());
            }
            tracing::error!(
                "refused: {found}; {}; the next change retries",
                o.refusal(&layout.carbon_home.display().to_string())
            )
        }
        CycleResult::Failed(e) => tracing::error!(
            "refused: {e:#}; nothing was changed, the next change to the patch dirs retries"
        ),
    }
}
