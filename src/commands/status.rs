//! `status`: one read-only look at a product. What the metadata says is applied, what `apply`
//! would do now (the launcher's own detection messages), the verification state of each patched
//! bundle, the server and whether it must restart to load what was applied, and the watcher's
//! last cycle. Built from the engine's scan and plan; writes nothing (the digest cache is read,
//! never saved).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Serialize;

use crate::cli::exit;
use crate::launcher::drift::{OutsideChange, OutsideChanges};
use crate::launcher::kernel::{Family, Line};
use crate::launcher::layout::Layout;
use crate::launcher::verification::State;
use crate::product::cycle::{self, Summary};
use crate::product::progress::Progress;
use crate::product::server::{self, Server};
use crate::product::verify;
use crate::product::{lock, Prepared};

/// Bumped only when a field changes meaning or goes away; new fields may be added.
pub const SCHEMA_VERSION: u32 = 1;

/// The server start time is known to whole seconds only (the boot time is): an apply less than
/// this after the start is taken to be before it (the launch-script hook applies right before
/// the JVM starts).
const START_TIME_SLACK: Duration = Duration::from_millis(1100);

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub schema_version: u32,
    pub carbon_home: String,
    pub product: Product,
    pub server: ServerStatus,
    /// The server runs, and an apply of ours changed `plugins` after it started.
    pub restart_needed: bool,
    /// When an apply of ours last changed `plugins` (RFC 3339, UTC).
    pub last_apply: Option<String>,
    pub applied: Applied,
    pub pending: Pending,
    pub bundles: Vec<Bundle>,
    pub verification: Verification,
    /// `null` when no watcher runs and none has left a status file.
    pub watcher: Option<WatcherStatus>,
    /// Why the product cannot be applied (bad input, as `apply` would refuse it, naming the
    /// file and the reason); `pending`, `bundles` and `verification` are then empty.
    pub refused: Option<String>,
    /// Changes made to `plugins` outside the patch process that the pending run meets.
    pub outside_changes: OutsideReport,
}

/// Changes made to `plugins` outside the patch process (an update tool, a hand fix) that the
/// pending run would meet, as `status`, `plan` and `verify` show them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutsideReport {
    /// `apply` would refuse the run (exit 7): it would undo at least one of them.
    pub refuses: bool,
    /// The detection lines of the run that would do it.
    pub run: Vec<String>,
    /// Each file: `file` (relative to plugins), `change` (`changed`, `removed`, `added`),
    /// `action` (`reverted`, `brought_back`, `kept`, `replaced`) and `by` (`patch0000` for the
    /// restore, else the patch or service pack that writes it).
    pub files: Vec<OutsideChange>,
}

impl OutsideReport {
    pub fn of(o: &OutsideChanges) -> OutsideReport {
        OutsideReport {
            refuses: o.refuses(),
            run: o.run.clone(),
            files: o.files.clone(),
        }
    }

    /// The readable lines, the first after `label`, the others indented as wide; nothing when
    /// there are none.
    pub fn render(&self, label: &str) -> String {
        let mut s = String::new();
        if self.files.is_empty() {
            return s;
        }
        let indent = " ".repeat(label.chars().count());
        let _ = writeln!(
            s,
            "{label}{} file(s) of plugins changed outside the patch process (run: {}):",
            self.files.len(),
            if self.run.is_empty() {
                "pending changes".to_string()
            } else {
                self.run.join("; ")
            }
        );
        for f in &self.files {
            let _ = writeln!(s, "{indent}  {}", f.describe());
        }
        if self.refuses {
            let _ = writeln!(
                s,
                "{indent}apply refuses this run (exit 7). Keep the changes: `carbon-patcher rebase`; \
                 undo them as the launcher would: `carbon-patcher apply --revert-outside-changes`."
            );
        }
        s
    }
}

/// The product as carbon-patcher found it: its launcher and where each dir is, and who said so.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    /// `Carbon kernel 4.9.30 (java.util.logging)`.
    pub launcher: String,
    /// `carbon` or `micro-integrator`.
    pub family: &'static str,
    /// The kernel version, when known.
    pub kernel: Option<String>,
    /// `log4j` (kernels 4.3–4.4) or `java.util.logging` (4.5+, Micro Integrator).
    pub log_line: &'static str,
    pub plugins: String,
    pub patches: String,
    pub servicepacks: String,
    pub metadata: String,
    pub patches_log: String,
    /// `logging-bridge.properties`, for a `java.util.logging` launcher.
    pub logging_config: Option<String>,
    /// What decided each of the above that is not the default: `[what, who]`.
    pub decided_by: Vec<[String; 2]>,
    /// Settings the launcher does otherwise than asked, or files that could not be read.
    pub warnings: Vec<String>,
}

impl Product {
    pub fn of(layout: &Layout) -> Product {
        let l = &layout.launcher;
        Product {
            launcher: l.describe(),
            family: match l.family {
                Family::Carbon => "carbon",
                Family::MicroIntegrator => "micro-integrator",
            },
            kernel: l.kernel.map(|v| v.to_string()),
            log_line: match l.line() {
                Line::Log4j => "log4j",
                Line::Jul => "java.util.logging",
            },
            plugins: layout.show(&layout.plugins),
            patches: layout.show(&layout.patches),
            servicepacks: layout.show(&layout.servicepacks),
            metadata: layout.show(&layout.metadata),
            patches_log: layout.show(&layout.patches_log),
            logging_config: layout.logging_config.as_deref().map(|p| layout.show(p)),
            decided_by: layout
                .origins
                .iter()
                .map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
            warnings: layout.warnings.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    pub running: bool,
    pub pid: Option<u32>,
    /// RFC 3339, UTC.
    pub started: Option<String>,
}

/// What `prePatchedDir.txt` records.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub servicepack: Option<String>,
    /// Patch dirs, `patch0000` aside.
    pub patches: Vec<String>,
}

/// What `apply` would do now.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    /// `apply` would change `plugins`.
    pub changes: bool,
    /// How many changes the launcher's detection counts.
    pub count: usize,
    /// The launcher's detection messages (new, reverted, updated or added), in its words.
    pub messages: Vec<String>,
}

/// One patched bundle: the latest jar of that name and its copy in `plugins`.
#[derive(Debug, Clone, Serialize)]
pub struct Bundle {
    pub name: String,
    /// The patch dir, or `lib` for a service pack's jars, as the launcher's warnings say.
    pub from: String,
    pub source: String,
    pub md5: String,
    pub state: State,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub clean: bool,
    /// The launcher's warning lines.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WatcherStatus {
    /// A watcher holds this home's lock now.
    pub running: bool,
    pub pid: Option<u32>,
    /// RFC 3339, UTC; `null` before its first cycle.
    pub last_cycle_time: Option<String>,
    /// `applied`, `up_to_date`, `checked`, `warnings`, `deferred`, `busy` or `error`.
    pub last_cycle_result: Option<String>,
    pub message: Option<String>,
    /// For the readable form, in local time like the rest of it.
    #[serde(skip)]
    last_cycle_at: Option<SystemTime>,
}

pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn local(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(t)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn watcher(layout: &Layout) -> Option<WatcherStatus> {
    let pid = lock::holder_of(&layout.carbon_home);
    let summary: Option<Summary> =
        std::fs::read(layout.state_dir.join(crate::commands::watch::STATUS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    if pid.is_none() && summary.is_none() {
        return None;
    }
    let at = summary.as_ref().and_then(|s| {
        Duration::try_from_secs_f64(s.last_cycle_time)
            .ok()
            .map(|d| SystemTime::UNIX_EPOCH + d)
    });
    Some(WatcherStatus {
        running: pid.is_some(),
        pid,
        last_cycle_time: at.map(rfc3339),
        last_cycle_result: summary.as_ref().map(|s| s.last_cycle_result.clone()),
        message: summary.map(|s| s.message),
        last_cycle_at: at,
    })
}

impl Status {
    /// Looks at `layout`. Bad input is not an error here: it is what the operator needs to see,
    /// beside the server and the watcher (whose last cycle may say the same).
    pub fn gather(layout: &Layout, progress: &Progress) -> Result<Status> {
        let server = server::detect(&layout.carbon_home);
        let (pid, started) = match server {
            Server::Running { pid } => (Some(pid), server::started(pid)),
            Server::NotRunning => (None, None),
        };
        let last_apply = crate::product::last_apply(layout);
        // Unknown start time: say nothing rather than ask for a restart forever.
        let restart_needed = match (pid, started, last_apply) {
            (Some(_), Some(started), Some(applied)) => applied > started + START_TIME_SLACK,
            _ => false,
        };
        let (servicepack, patches) = cycle::applied(&layout.pre_patched_dir_file());
        let mut status = Status {
            schema_version: SCHEMA_VERSION,
            carbon_home: layout.carbon_home.display().to_string(),
            product: Product::of(layout),
            server: ServerStatus {
                running: pid.is_some(),
                pid,
                started: started.map(rfc3339),
            },
            restart_needed,
            last_apply: last_apply.map(rfc3339),
            applied: Applied {
                servicepack,
                patches,
            },
            pending: Pending {
                changes: false,
                count: 0,
                messages: Vec::new(),
            },
            bundles: Vec::new(),
            verification: Verification {
                clean: false,
                warnings: Vec::new(),
            },
            watcher: watcher(layout),
            refused: None,
            outside_changes: OutsideReport::default(),
        };
        let prepared = match Prepared::new(layout) {
            Ok(p) => p,
            Err(e) => {
                status.refused = Some(format!("{e:#}"));
                return Ok(status);
            }
        };
        let (bundles, warnings) = checked(layout, &prepared, progress)?;
        let changes = prepared.changes_plugins();
        status.pending = Pending {
            changes,
            count: if changes { prepared.plan.changes } else { 0 },
            messages: prepared.plan.change_messages.clone(),
        };
        status.outside_changes = OutsideReport::of(&prepared.outside);
        status.bundles = bundles;
        status.verification = Verification {
            clean: warnings.is_empty(),
            warnings,
        };
        Ok(status)
    }

    /// 0 when current and clean, 7 when `apply` would refuse for changes made outside the patch
    /// process, 6 when it would change something or the server must restart, else 3 when
    /// verification warns.
    pub fn exit_code(&self) -> i32 {
        if self.refused.is_some() {
            exit::ERROR
        } else if self.outside_changes.refuses {
            exit::OUTSIDE_CHANGES
        } else if self.pending.changes || self.restart_needed {
            exit::PENDING
        } else if !self.verification.clean {
            exit::VERIFY_WARNINGS
        } else {
            exit::OK
        }
    }

    /// The readable form.
    pub fn render(&self, layout: &Layout) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "carbon home:  {}", self.carbon_home);
        let p = &self.product;
        let _ = writeln!(s, "launcher:     {}", p.launcher);
        let _ = writeln!(
            s,
            "dirs:         plugins {}, patches {}, service packs {}, metadata {}",
            p.plugins, p.patches, p.servicepacks, p.metadata
        );
        match &p.logging_config {
            Some(c) => {
                let _ = writeln!(s, "logging:      {c}");
            }
            None => {
                let _ = writeln!(s, "patches.log:  {}", p.patches_log);
            }
        }
        for [what, who] in &p.decided_by {
            let _ = writeln!(s, "  {what}: {who}");
        }
        for w in &p.warnings {
            let _ = writeln!(s, "warning:      {w}");
        }
        let server = match (self.server.pid, &self.server.started) {
            (Some(pid), Some(_)) => format!(
                "running (pid {pid}, started {})",
                server::started(pid).map_or("?".into(), local)
            ),
            (Some(pid), None) => format!("running (pid {pid})"),
            _ => "not running".into(),
        };
        let _ = writeln!(s, "server:       {server}");
        let mut applied: Vec<String> = self.applied.servicepack.iter().cloned().collect();
        applied.extend(self.applied.patches.iter().cloned());
        let _ = writeln!(
            s,
            "applied:      {}",
            if applied.is_empty() {
                "nothing".to_string()
            } else {
                applied.join(", ")
            }
        );
        if let Some(why) = &self.refused {
            let _ = writeln!(s, "REFUSED:      apply would refuse this product: {why}");
        } else if self.pending.changes {
            let _ = writeln!(
                s,
                "pending:      {} change(s); `carbon-patcher apply` would apply:",
                self.pending.count
            );
            for m in &self.pending.messages {
                let _ = writeln!(s, "                {m}");
            }
        } else {
            let _ = writeln!(
                s,
                "pending:      nothing; plugins are as the launcher would leave them"
            );
        }
        s.push_str(&self.outside_changes.render("outside:      "));
        let restart = if self.restart_needed {
            format!(
                "needed: plugins changed at {}, after the server started",
                crate::product::last_apply(layout).map_or("?".into(), local)
            )
        } else {
            "not needed".into()
        };
        let _ = writeln!(s, "restart:      {restart}");
        let watcher = match &self.watcher {
            None => "not running".to_string(),
            Some(w) => {
                let mut t = match w.pid {
                    Some(pid) => format!("running (pid {pid})"),
                    None => "not running".to_string(),
                };
                if let (Some(at), Some(result)) = (w.last_cycle_at, &w.last_cycle_result) {
                    let _ = write!(t, "; last cycle {}: {result}", local(at));
                    if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
                        let _ = write!(t, " ({})", m.lines().next().unwrap_or(""));
                    }
                }
                t
            }
        };
        let _ = writeln!(s, "watcher:      {watcher}");
        if self.refused.is_some() {
            return s;
        }
        let verified = self
            .bundles
            .iter()
            .filter(|b| b.state == State::Applied)
            .count();
        let _ = writeln!(
            s,
            "verification: {verified} of {} patched bundles match their patch",
            self.bundles.len()
        );
        if !self.bundles.is_empty() {
            let width = self.bundles.iter().map(|b| b.name.len()).max().unwrap_or(0);
            let _ = writeln!(s);
            let _ = writeln!(
                s,
                "  {:<8} {:<width$}  {:<16} MD5",
                "STATE", "BUNDLE", "FROM"
            );
            for b in &self.bundles {
                let state = match b.state {
                    State::Applied => "applied",
                    State::Differs => "DIFFERS",
                    State::Missing => "MISSING",
                };
                let _ = writeln!(
                    s,
                    "  {state:<8} {:<width$}  {:<16} {}",
                    b.name, b.from, b.md5
                );
            }
        }
        s
    }
}

/// Verification of every bundle, as `status` and `verify` report it: each bundle, and the
/// launcher's warning lines.
pub fn checked(
    layout: &Layout,
    prepared: &Prepared,
    progress: &Progress,
) -> Result<(Vec<Bundle>, Vec<String>)> {
    let checks = verify::check(layout, &prepared.plan, &prepared.cache, progress)?;
    progress.finish();
    let warnings = checks.iter().filter_map(|c| c.warning()).collect();
    let bundles = checks
        .iter()
        .map(|c| Bundle {
            name: c.name.clone(),
            from: c.jar.from.clone(),
            source: c.jar.source.display().to_string(),
            md5: c.jar.md5.to_string(),
            state: c.state,
        })
        .collect();
    Ok((bundles, warnings))
}
