//! The engine every command shares: scan the tree into a value, plan from it (pure), execute the
//! plan, verify. [`Prepared`] is the validated decision; [`Prepared::run`] carries it out.

use anyhow::Result;

use crate::fsops;
use crate::launcher::drift::OutsideChanges;
use crate::launcher::layout::Layout;
use crate::launcher::plan;
use crate::product::patches_log::CarbonLog;
use crate::product::{apply, digest_cache, drift, progress, scan, verify};

/// The result of one apply run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Whether patch changes were detected and applied.
    pub applied: bool,
    pub written: apply::Written,
    /// Verification warnings (the launcher's text); non-empty means exit 3.
    pub warnings: Vec<String>,
}

/// A validated decision: the tree as read and what a run would do with it. Nothing written yet.
pub struct Prepared {
    pub scan: crate::launcher::model::Scan,
    pub plan: plan::Plan,
    /// What reading files told us, kept for the next run.
    pub cache: digest_cache::DigestCache,
    /// What each of the plan's writes needs (empty when the run does not apply).
    pub needs: Vec<apply::Need>,
    /// Changes made to `plugins` outside the patch process that the run meets.
    pub outside: OutsideChanges,
}

impl Prepared {
    /// Reads the tree and plans; bad input is refused here, before anything is written.
    pub fn new(layout: &Layout) -> Result<Prepared> {
        Prepared::new_with(layout, None, &progress::Progress::hidden())
    }

    /// [`Prepared::new`] of the product as it will be once `moved` is made (nothing moves
    /// here), reporting progress.
    pub fn new_with(
        layout: &Layout,
        moved: Option<&scan::Moved>,
        progress: &progress::Progress,
    ) -> Result<Prepared> {
        let cache = digest_cache::DigestCache::load(&layout.state_dir);
        let scan = scan::scan_moved(layout, &cache, moved)?;
        let plan = plan::plan(&scan, scan::read_trees)?;
        Prepared::compared(scan, plan, cache, progress)
    }

    /// What a run that restores from `patch0000` would meet now, whether or not anything is
    /// pending: the plan of a run made to apply (as after an interrupted one). For `rebase`.
    pub fn restoring(layout: &Layout) -> Result<Prepared> {
        let cache = digest_cache::DigestCache::load(&layout.state_dir);
        let mut scan = scan::scan(layout, &cache)?;
        scan.interrupted = true;
        let plan = plan::plan(&scan, scan::read_trees)?;
        Prepared::compared(scan, plan, cache, &progress::Progress::hidden())
    }

    fn compared(
        scan: crate::launcher::model::Scan,
        plan: plan::Plan,
        cache: digest_cache::DigestCache,
        progress: &progress::Progress,
    ) -> Result<Prepared> {
        let needs = match &plan.apply {
            Some(a) => apply::needs(&scan.layout, a, &cache, progress)?,
            None => Vec::new(),
        };
        let outside = drift::find(&scan, &plan, &needs, &cache)?;
        Ok(Prepared {
            scan,
            plan,
            cache,
            needs,
            outside,
        })
    }

    /// Whether a run would change `plugins` (and so should wait while the server runs).
    pub fn changes_plugins(&self) -> bool {
        self.plan.applies()
    }

    /// Whether a run would write anything at all: `plugins`, a metadata file, or the removal of
    /// a leftover. A run that would not is only the launcher's check, worth no log lines when
    /// a watcher repeats it.
    pub fn writes_anything(&self) -> bool {
        self.plan.applies()
            || !self.scan.stale_temps.is_empty()
            || !self.plan.metadata_writes.is_empty()
    }

    /// Executes the plan, then verifies, logging as the launcher does.
    pub fn run(&self, console: bool) -> Result<Outcome> {
        self.run_with(console, &progress::Progress::hidden())
    }

    /// [`Prepared::run`], reporting progress (for a person at a terminal).
    pub fn run_with(&self, console: bool, progress: &progress::Progress) -> Result<Outcome> {
        let layout = &self.scan.layout;
        let mut log = CarbonLog::open(layout, console);
        let versions = drift::versions_update(&self.scan, &self.plan)?;
        let written = apply::execute(
            &self.scan,
            &self.plan,
            &self.needs,
            versions.as_ref(),
            &mut log,
            &self.cache,
            progress,
        )?;
        let warnings = verify::mismatches(layout, &self.plan, &self.cache, progress)?;
        progress.finish();
        log.emit(&crate::launcher::verification::log_lines(
            layout,
            self.plan.applies(),
            &warnings,
        ));
        if written.written > 0 {
            if let Err(e) = record_apply(layout) {
                // Only `status` reads it: it may then miss that a restart is needed.
                tracing::warn!("cannot record the time of this apply: {e:#}");
            }
        }
        if let Err(e) = self.cache.save(self.plan.applies()) {
            // Only a cost: the next run reads the jars again.
            tracing::warn!("cannot save the digest cache: {e:#}");
        }
        Ok(Outcome {
            applied: self.plan.applies(),
            written,
            warnings,
        })
    }
}

/// One run of the launcher's patch step on `layout`. Bad input is refused before anything is
/// written; `console` prints the launcher's console lines on standard output.
pub fn run_apply(layout: &Layout, console: bool) -> Result<Outcome> {
    Prepared::new(layout)?.run(console)
}

/// Records now as the time `plugins` last changed (see [`Layout::last_apply_file`]).
fn record_apply(layout: &Layout) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    fsops::create_dir_all_owned(&layout.state_dir)?;
    // Not worth waiting for the disk: a crash that loses it restarts the server too.
    fsops::write_atomic_unsynced(
        &layout.last_apply_file(),
        format!("{:.3}\n", now.as_secs_f64()).as_bytes(),
    )
}

/// The time [`record_apply`] last recorded, if any.
pub fn last_apply(layout: &Layout) -> Option<std::time::SystemTime> {
    let text = std::fs::read_to_string(layout.last_apply_file()).ok()?;
    let secs: f64 = text.trim().parse().ok()?;
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .map(|d| std::time::UNIX_EPOCH + d)
}
