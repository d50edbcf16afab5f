//! `watch`: the long-running watcher. Kept in three parts, as in watchexec: the *sources* (file
//! system events through a debouncer, signals) feed one channel; the *loop* turns them into
//! decisions (a patch must be quiet for the settle time; a deferred change waits for the server
//! to stop); each decision runs the same [`cycle`](crate::product::cycle) the one-shot `apply` runs, and
//! its summary goes to the status file, the metrics file and systemd.

pub mod config;
mod journal;
pub mod metrics;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    new_debouncer, new_debouncer_opt, DebounceEventResult, Debouncer, NoCache, RecommendedCache,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::cli::exit;
use crate::commands::watch::config::{ConfigFile, WatchFlags, WatchSettings};
use crate::fsops::TEMP_PREFIX;
use crate::launcher::layout::{Layout, BACKUP_DIR};
use crate::product::cycle::{run_cycle_noting_changes, CycleOptions, CycleResult, Summary};
use crate::product::lock::{self, LockError};
use crate::product::scan::BACKUP_STAGING;
use crate::product::server;

/// Events closer together than this are one burst.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often a deferred change looks whether the server has stopped.
const SERVER_CHECK: Duration = Duration::from_secs(1);
/// The poll interval used when inotify runs out of watches and no interval was configured.
const FALLBACK_POLL: Duration = Duration::from_secs(5);
pub const STATUS_FILE: &str = "watch-status.json";
/// How often an idle watcher rewrites its metrics file.
const METRICS_REFRESH: Duration = Duration::from_secs(60);

enum Msg {
    Fs(DebounceEventResult),
    Signal(i32),
}

/// Reads the config file (if any) and merges the flags over it.
pub fn load_settings(flags: &WatchFlags, config: Option<&Path>) -> Result<WatchSettings> {
    let file = match config {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::default(),
    };
    WatchSettings::merge(flags, &file)
}

/// The file-system source: a debounced inotify or polling watcher over the service-packs and
/// patches dirs. A dir that does not exist yet is stood in for by its nearest existing
/// ancestor (watched flat) until it appears; a dir deleted and created again is watched anew.
struct FsWatch {
    backend: Backend,
    roots: Vec<PathBuf>,
    /// What is watched for each root: the path, its inode, and how.
    watched: Vec<Option<(PathBuf, u64, RecursiveMode)>>,
}

enum Backend {
    Inotify(Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(Debouncer<PollWatcher, NoCache>),
}

impl Backend {
    fn new(poll: Option<Duration>, tx: &Sender<Msg>) -> Result<Backend> {
        let tx = tx.clone();
        let handler = move |r: DebounceEventResult| {
            let _ = tx.send(Msg::Fs(r));
        };
        Ok(match poll {
            None => Backend::Inotify(new_debouncer(DEBOUNCE, None, handler)?),
            Some(interval) => Backend::Poll(new_debouncer_opt(
                DEBOUNCE,
                None,
                handler,
                NoCache,
                notify::Config::default().with_poll_interval(interval),
            )?),
        })
    }
    fn watch(&mut self, p: &Path, mode: RecursiveMode) -> notify::Result<()> {
        match self {
            Backend::Inotify(d) => d.watch(p, mode),
            Backend::Poll(d) => d.watch(p, mode),
        }
    }
    fn unwatch(&mut self, p: &Path) {
        let _ = match self {
            Backend::Inotify(d) => d.unwatch(p),
            Backend::Poll(d) => d.unwatch(p),
        };
    }
}

fn is_max_watches(e: &notify::Error) -> bool {
    matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
}

impl FsWatch {
    fn new(layout: &Layout, poll: Option<Duration>, tx: &Sender<Msg>) -> Result<FsWatch> {
        let roots = vec![layout.servicepacks.clone(), layout.patches.clone()];
        let mut w = FsWatch {
            backend: Backend::new(poll, tx)?,
            watched: vec![None; roots.len()],
            roots,
        };
        if let Err(e) = w.ensure() {
            if !is_max_watches(&e) || poll.is_some() {
                return Err(e).context("cannot watch the patch dirs");
            }
            tracing::warn!("inotify watch limit reached; polling every {FALLBACK_POLL:?} instead");
            w = FsWatch::new(layout, Some(FALLBACK_POLL), tx)?;
        }
        Ok(w)
    }

    fn is_polling(&self) -> bool {
        matches!(self.backend, Backend::Poll(_))
    }

    /// (Re)establishes the watch of each root; cheap when nothing moved (one stat per root).
    fn ensure(&mut self) -> notify::Result<()> {
        for i in 0..self.roots.len() {
            let root = &self.roots[i];
            let (target, mode) = if root.is_dir() {
                (root.clone(), RecursiveMode::Recursive)
            } else {
                let ancestor = root
                    .ancestors()
                    .skip(1)
                    .find(|a| a.is_dir())
                    .unwrap_or(Path::new("/"))
                    .to_path_buf();
                (ancestor, RecursiveMode::NonRecursive)
            };
            let ino = std::fs::metadata(&target).map(|m| m.ino()).unwrap_or(0);
            let want = Some((target.clone(), ino, mode));
            if self.watched[i] == want {
                continue;
            }
            if let Some((old, _, _)) = self.watched[i].take() {
                if !self.watched.iter().flatten().any(|(p, _, _)| *p == old) {
                    self.backend.unwatch(&old);
                }
            }
            self.backend.watch(&target, mode)?;
            self.watched[i] = want;
        }
        Ok(())
    }
}

/// Whether an event at `path` can change what a cycle would do: anything under the service-packs
/// or patches dirs except the metadata, the backup and our own temporary names.
fn relevant(path: &Path, layout: &Layout) -> bool {
    if path.starts_with(&layout.metadata) || path.starts_with(layout.patches.join(BACKUP_DIR)) {
        return false;
    }
    if path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c.starts_with(TEMP_PREFIX) || c == BACKUP_STAGING
    }) {
        return false;
    }
    [&layout.servicepacks, &layout.patches]
        .iter()
        .any(|root| path.starts_with(root) || root.starts_with(path))
}

/// Whether an event can change what is there. Opening and reading (our own scans do) and access
/// times do not; reacting to them would make every cycle trigger the next.
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{MetadataKind, ModifyKind};
    use notify::EventKind;
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

/// systemd's notification socket, when there is one.
fn sd_notify(states: &[sd_notify::NotifyState]) {
    let _ = sd_notify::notify(false, states);
}

struct Watcher {
    flags: WatchFlags,
    config: Option<PathBuf>,
    settings: WatchSettings,
    layout: Layout,
    cycles: BTreeMap<String, u64>,
    /// The last cycle was refused for changes made outside the patch process.
    outside_refused: bool,
    /// The last cycle's summary, written again to the metrics file while idle.
    last: Option<Summary>,
}

impl Watcher {
    fn cycle(&mut self, always_run: bool) -> CycleResult {
        let started = Instant::now();
        let (result, changes) = run_cycle_noting_changes(
            &self.layout,
            CycleOptions {
                apply_while_running: self.settings.apply_while_running,
                lock_timeout: self.settings.lock_timeout,
                console: true,
                always_run,
                progress: false,
                revert_outside_changes: self.settings.revert_outside_changes,
            },
        );
        let mut summary = Summary::new(&self.layout, &result, started);
        self.outside_refused = matches!(result, CycleResult::OutsideChanges(_));
        // Only a cycle that ran the launcher's step verified: any other keeps what the last
        // verification found (plugins that differ from their patch still differ).
        if !matches!(result, CycleResult::Ran(_)) {
            if let Some(last) = &self.last {
                summary.verification_warnings = last.verification_warnings;
            }
        }
        journal::log_cycle(&self.layout, self.settings.settle, &result, &changes);
        *self
            .cycles
            .entry(summary.last_cycle_result.clone())
            .or_default() += 1;
        self.report(&summary);
        result
    }

    fn write_metrics(&self, summary: &Summary) {
        if let Some(path) = &self.settings.metrics_file {
            if let Err(e) = metrics::write_metrics(path, summary, &self.cycles) {
                tracing::warn!("cannot write the metrics file: {e:#}");
            }
        }
    }

    /// Rewrites the metrics file with the last cycle's summary, so that its written timestamp
    /// shows the watcher alive (an alert tells a file no watcher keeps fresh).
    fn refresh_metrics(&self) {
        if let Some(summary) = &self.last {
            self.write_metrics(summary);
        }
    }

    fn report(&mut self, summary: &Summary) {
        // Metrics first, status file last: whoever sees a cycle in the status file (`status`,
        // a test) then finds the same cycle in the metrics.
        self.write_metrics(summary);
        self.last = Some(summary.clone());
        if let Err(e) = crate::fsops::create_dir_all_owned(&self.layout.state_dir)
            .and_then(|_| metrics::write_status(&self.layout.state_dir.join(STATUS_FILE), summary))
        {
            tracing::warn!("cannot write the status file: {e:#}");
        }
        sd_notify(&[sd_notify::NotifyState::Status(&summary.status_line())]);
    }

    /// SIGHUP: reads the config again. A bad file keeps the old settings; the carbon home stays
    /// (its lock is held for the watcher's life).
    fn reload(&mut self) -> Result<()> {
        let settings = load_settings(&self.flags, self.config.as_deref())?;
        let layout = crate::product::home::resolve(&settings.paths)?;
        if layout.carbon_home != self.layout.carbon_home {
            anyhow::bail!(
                "the carbon home cannot change on reload ({} → {}); restart the watcher",
                self.layout.carbon_home.display(),
                layout.carbon_home.display()
            );
        }
        self.settings = settings;
        self.layout = layout;
        tracing::info!(settle = ?self.settings.settle, poll = ?self.settings.poll, "configuration reloaded");
        Ok(())
    }
}

/// Runs the watcher until SIGTERM or SIGINT; returns the exit code.
pub fn run(flags: WatchFlags, config: Option<PathBuf>, settings: WatchSettings) -> Result<i32> {
    let layout = crate::product::home::resolve(&settings.paths)?;
    let _home_lock = match lock::try_lock(&layout.carbon_home, &layout.lock_file("watch")) {
        Ok(l) => l,
        Err(LockError::Busy { holder }) => {
            eprintln!(
                "carbon-patcher: another watcher (pid {}) is watching {}",
                holder.map_or("unknown".to_string(), |p| p.to_string()),
                layout.carbon_home.display()
            );
            return Ok(exit::BUSY);
        }
        Err(LockError::Io(e)) => return Err(e),
    };
    let (tx, rx) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot install signal handlers")?;
    let sig_tx = tx.clone();
    std::thread::spawn(move || {
        for s in signals.forever() {
            if sig_tx.send(Msg::Signal(s)).is_err() {
                break;
            }
        }
    });

    let mut w = Watcher {
        flags,
        config,
        settings,
        layout,
        cycles: BTreeMap::new(),
        outside_refused: false,
        last: None,
    };
    // Watch first, so nothing that lands during the first cycle is missed.
    let mut fs = FsWatch::new(&w.layout, w.settings.poll, &tx)?;
    tracing::info!(
        home = %w.layout.carbon_home.display(),
        mode = if fs.is_polling() { "poll" } else { "inotify" },
        settle = ?w.settings.settle,
        "watching"
    );
    let first = w.cycle(true);
    sd_notify(&[sd_notify::NotifyState::Ready]);
    let code = event_loop(&mut w, &mut fs, &tx, &rx, first)?;
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    Ok(code)
}

fn event_loop(
    w: &mut Watcher,
    fs: &mut FsWatch,
    tx: &Sender<Msg>,
    rx: &Receiver<Msg>,
    first: CycleResult,
) -> Result<i32> {
    let watchdog = Watchdog::start();
    let beat = watchdog.as_ref().map(|w| w.interval);
    let mut last_beat = Instant::now();
    // When the next cycle is due: a settle time after the last relevant event.
    let mut due: Option<Instant> = None;
    let mut deferred = after_cycle(&first, w.settings.settle, &mut due);
    let refresh = metrics_refresh();
    let mut refreshed = Instant::now();
    loop {
        let now = Instant::now();
        let mut wait: Option<Duration> = None;
        let mut sooner = |d: Duration| wait = Some(wait.map_or(d, |w| w.min(d)));
        if let Some(t) = due {
            sooner(t.saturating_duration_since(now));
        }
        if w.settings.metrics_file.is_some() {
            sooner((refreshed + refresh).saturating_duration_since(now));
        }
        if deferred {
            sooner(SERVER_CHECK);
        }
        if let Some(p) = beat {
            sooner((last_beat + p).saturating_duration_since(now));
        }
        // Idle means blocked here: no timer runs unless something is due.
        let msg = match wait {
            Some(d) => match rx.recv_timeout(d) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        match msg {
            Some(Msg::Signal(SIGHUP)) => {
                sd_notify(&[sd_notify::NotifyState::Reloading]);
                match w.reload() {
                    Ok(()) => *fs = FsWatch::new(&w.layout, w.settings.poll, tx)?,
                    Err(e) => tracing::error!("reload failed, keeping the old settings: {e:#}"),
                }
                sd_notify(&[sd_notify::NotifyState::Ready]);
                due = Some(Instant::now());
            }
            Some(Msg::Signal(_)) => {
                tracing::info!("stopping");
                return Ok(exit::OK);
            }
            Some(Msg::Fs(Ok(events))) => {
                if events
                    .iter()
                    .filter(|e| changes_content(&e.kind))
                    .flat_map(|e| e.paths.iter())
                    // After a refusal for outside changes, `rebase` swapping in a new backup
                    // is the change to retry on.
                    .any(|p| {
                        relevant(p, &w.layout) || (w.outside_refused && *p == w.layout.backup())
                    })
                {
                    due = Some(Instant::now() + w.settings.settle);
                }
                if let Err(e) = fs.ensure() {
                    fs_error(w, fs, tx, &e)?;
                }
            }
            Some(Msg::Fs(Err(errors))) => {
                for e in &errors {
                    fs_error(w, fs, tx, e)?;
                }
                due = Some(Instant::now() + w.settings.settle);
            }
            None => {}
        }
        if let Some(w) = &watchdog {
            w.beat();
            last_beat = Instant::now();
        }
        let settled = due.is_some_and(|t| Instant::now() >= t);
        let server_gone = deferred && !server::detect(&w.layout.carbon_home).is_running();
        if settled || server_gone {
            due = None;
            watchdog.as_ref().inspect(|w| w.cycle_started());
            let r = w.cycle(false);
            watchdog.as_ref().inspect(|w| w.beat());
            deferred = after_cycle(&r, w.settings.settle, &mut due);
            refreshed = Instant::now();
        } else if refreshed.elapsed() >= refresh {
            w.refresh_metrics();
            refreshed = Instant::now();
        }
    }
    Ok(exit::OK)
}

/// How often an idle watcher rewrites its metrics file: every minute, or every
/// `CARBON_PATCHER_METRICS_REFRESH_SECONDS` (for tests that cannot wait a minute).
fn metrics_refresh() -> Duration {
    std::env::var("CARBON_PATCHER_METRICS_REFRESH_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(METRICS_REFRESH)
}

/// systemd's watchdog, fed from a thread of its own so that a long cycle (a large first backup,
/// a wait for another apply's lock) is not taken for a hang. The thread pings while the loop
/// beats, or while a cycle has been running for less than [`MAX_CYCLE`]; a loop stuck elsewhere,
/// or a cycle stuck longer, stops the pings and lets systemd restart the watcher.
struct Watchdog {
    interval: Duration,
    /// Milliseconds since `epoch` of the loop's last beat.
    beat: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Milliseconds since `epoch` when the running cycle started; 0 when none runs.
    cycle: std::sync::Arc<std::sync::atomic::AtomicU64>,
    epoch: Instant,
}

/// The longest a cycle may run before the watchdog lets systemd step in.
const MAX_CYCLE: Duration = Duration::from_secs(30 * 60);

impl Watchdog {
    fn start() -> Option<Watchdog> {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        use std::sync::Arc;
        let mut usec = 0u64;
        if !sd_notify::watchdog_enabled(false, &mut usec) {
            return None;
        }
        let interval = Duration::from_micros(usec / 2);
        let epoch = Instant::now();
        let (beat, cycle) = (Arc::new(AtomicU64::new(1)), Arc::new(AtomicU64::new(0)));
        let (b, c) = (beat.clone(), cycle.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(interval);
            let now = epoch.elapsed().as_millis() as u64;
            let started = c.load(Relaxed);
            let alive = if started != 0 {
                now - started < MAX_CYCLE.as_millis() as u64
            } else {
                now - b.load(Relaxed) < 3 * interval.as_millis() as u64
            };
            if alive {
                sd_notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
        Some(Watchdog {
            interval,
            beat,
            cycle,
            epoch,
        })
    }

    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }

    /// The loop is alive and no cycle runs.
    fn beat(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.beat.store(self.now(), Relaxed);
        self.cycle.store(0, Relaxed);
    }

    fn cycle_started(&self) {
        self.cycle
            .store(self.now(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a cycle's result means for the loop: whether a change now waits for the server, and
/// (when another apply held the lock too long) a retry after a settle time.
fn after_cycle(r: &CycleResult, settle: Duration, due: &mut Option<Instant>) -> bool {
    if matches!(r, CycleResult::Busy { .. }) {
        *due = Some(Instant::now() + settle);
    }
    matches!(r, CycleResult::Deferred { .. })
}

/// A watcher error: out of inotify watches means falling back to polling; anything else is
/// logged (the next event or reload retries).
fn fs_error(w: &Watcher, fs: &mut FsWatch, tx: &Sender<Msg>, e: &notify::Error) -> Result<()> {
    if is_max_watches(e) && !fs.is_polling() {
        tracing::warn!("inotify watch limit reached; polling every {FALLBACK_POLL:?} instead");
        *fs = FsWatch::new(
            &w.layout,
            Some(w.settings.poll.unwrap_or(FALLBACK_POLL)),
            tx,
        )?;
    } else {
        tracing::warn!("file watch: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::layout::PathSettings;

    #[test]
    fn relevance_of_paths() {
        let layout = crate::product::home::resolve(&PathSettings {
            carbon_home: Some("/h".into()),
            ..Default::default()
        })
        .unwrap();
        let p = |s: &str| PathBuf::from(s);
        assert!(relevant(
            &p("/h/repository/components/patches/patch0001/a.jar"),
            &layout
        ));
        assert!(relevant(
            &p("/h/repository/components/servicepacks/servicepack001"),
            &layout
        ));
        // An ancestor of a root appearing or going matters too.
        assert!(relevant(&p("/h/repository/components"), &layout));
        assert!(!relevant(
            &p("/h/repository/components/patches/patch0000/a.jar"),
            &layout
        ));
        assert!(!relevant(
            &p("/h/repository/components/patches/.metadata/prePatchedDir.txt"),
            &layout
        ));
        assert!(!relevant(
            &p("/h/repository/components/patches/.carbon-patcher-backup/a.jar"),
            &layout
        ));
        assert!(!relevant(
            &p("/h/repository/components/plugins/a.jar"),
            &layout
        ));
    }
}
