//! `plan`: every action `apply` would take now, from the engine's own plan, in the launcher's
//! order: leftovers removed, the backup, the restore, each copy with its source and target (and
//! the rename a manifest asks for), the files whose bytes would really change, the metadata
//! files' new text and every log line, verification's included. Writes nothing.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::commands::status::OutsideReport;
use crate::launcher::layout::Layout;
use crate::launcher::log::LogLine;
use crate::launcher::model::{Kind, Rel};
use crate::launcher::plan::Plan;
use crate::product::apply;
use crate::product::patches_log::CarbonLog;
use crate::product::verify;
use crate::product::Prepared;

/// Bumped only when a field changes meaning or goes away; new fields may be added.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub schema_version: u32,
    pub carbon_home: String,
    /// The launcher would apply (back up, restore, copy).
    pub applies: bool,
    /// `apply` would write anything at all (files, metadata, leftovers removed).
    pub writes_anything: bool,
    /// What the product asks that its launcher does otherwise, or that carbon-patcher cannot
    /// follow (a log setting): said, never a reason to refuse.
    pub warnings: Vec<String>,
    /// Leftovers of an interrupted run that `apply` removes first.
    pub remove_leftovers: Vec<String>,
    pub backup: Option<BackupStep>,
    pub restore: Option<RestoreStep>,
    /// The launcher's copies, in its order.
    pub copies: Vec<CopyStep>,
    /// The files of `plugins` whose bytes would change: what carbon-patcher really writes.
    pub writes: Vec<WriteStep>,
    /// Files the launcher rewrites that already hold the right bytes (only their time is set).
    pub unchanged: usize,
    pub metadata: Vec<MetadataFile>,
    /// Every line `patches.log` would get, in order.
    pub log: Vec<LogEntry>,
    /// Every line the launcher prints on the console (standard output), in order.
    pub console: Vec<LogEntry>,
    /// Changes made to `plugins` outside the patch process that this run meets; when
    /// `refuses`, `apply` refuses it (exit 7) unless `--revert-outside-changes`.
    pub outside_changes: OutsideReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupStep {
    pub from: String,
    pub to: String,
    pub files: usize,
    pub dirs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreStep {
    pub from: String,
    pub to: String,
    pub files: usize,
    /// Directories of `patch0000` that `plugins` lacks.
    pub dirs_created: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyStep {
    /// The service pack or patch dir being applied.
    pub step: String,
    pub source: String,
    pub target: String,
    /// The name the manifest gives when it differs from the file's own.
    pub renamed_from: Option<String>,
    pub md5: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WriteStep {
    pub target: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetadataFile {
    pub path: String,
    pub changes: bool,
    pub content: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub level: &'static str,
    pub logger: String,
    pub message: String,
}

fn entry(layout: &Layout, l: &LogLine) -> LogEntry {
    LogEntry {
        level: l.level.name(&layout.launcher),
        logger: l.logger.name(&layout.launcher),
        message: l.message.clone(),
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// The warnings verification would give once the plan is applied: each latest jar against what
/// `plugins` will then hold (the plan's last writer, else the file there now).
fn warnings_after(layout: &Layout, p: &Prepared) -> Result<Vec<String>> {
    let Some(apply) = &p.plan.apply else {
        return verify::mismatches(
            layout,
            &p.plan,
            &p.cache,
            &crate::product::progress::Progress::hidden(),
        );
    };
    let mut warnings = Vec::new();
    for (name, jar) in p.plan.latest.iter() {
        let target = layout.plugins.join(name);
        let will_hold = match apply.writes.get(&Rel::new(name)) {
            Some((_, Some(md5))) => Some(*md5),
            Some((src, None)) => Some(
                p.cache
                    .md5(src)
                    .with_context(|| format!("{}: cannot read", src.display()))?,
            ),
            None if target.is_file() => Some(
                p.cache
                    .md5(&target)
                    .with_context(|| format!("{}: cannot read", target.display()))?,
            ),
            None => None,
        };
        let check = verify::Check {
            name: name.to_string(),
            jar: jar.clone(),
            state: crate::launcher::verification::State::of(will_hold, jar.md5),
        };
        warnings.extend(check.warning());
    }
    Ok(warnings)
}

/// A metadata file as the run leaves it: the plan's new text where it rewrites it, else the
/// text the scan read.
fn metadata_file(plan: &Plan, path: &Path, read: Option<&[u8]>) -> MetadataFile {
    let written = plan.metadata_writes.iter().find(|(p, _)| p == path);
    MetadataFile {
        path: show(path),
        changes: written.is_some(),
        content: match written {
            Some((_, text)) => text.clone(),
            None => String::from_utf8_lossy(read.unwrap_or_default()).into_owned(),
        },
    }
}

impl Preview {
    pub fn new(layout: &Layout, p: &Prepared) -> Result<Preview> {
        let plan: &Plan = &p.plan;
        let scan = &p.scan;
        let mut remove_leftovers: Vec<String> = scan.stale_temps.iter().map(|t| show(t)).collect();
        let mut backup = None;
        let mut restore = None;
        let mut copies = Vec::new();
        let mut writes = Vec::new();
        let mut unchanged = 0;
        let mut lines: Vec<LogLine> = plan.detection_log.clone();
        if let Some(apply) = &plan.apply {
            remove_leftovers.extend(apply.stale_temps.iter().map(|t| show(t)));
            if let Some(tree) = &apply.backup {
                let files = tree.iter().filter(|(_, k)| *k == Kind::File).count();
                backup = Some(BackupStep {
                    from: show(&layout.plugins),
                    to: show(&layout.backup()),
                    files,
                    dirs: tree.len() - files,
                });
            }
            if apply.restored_files > 0 || !apply.mkdirs.is_empty() {
                restore = Some(RestoreStep {
                    from: show(&layout.backup()),
                    to: show(&layout.plugins),
                    files: apply.restored_files,
                    dirs_created: apply.mkdirs.iter().map(|d| show(d)).collect(),
                });
            }
            for src in scan.sources() {
                for e in &src.entries {
                    copies.push(CopyStep {
                        step: src.name.clone(),
                        source: show(&e.path),
                        target: show(&layout.plugins.join(&e.bundle_name)),
                        renamed_from: (e.name != e.bundle_name).then(|| e.name.clone()),
                        md5: e.md5.to_string(),
                    });
                }
            }
            for ((rel, (src, _)), need) in apply.writes.iter().zip(p.needs.iter().copied()) {
                if let apply::Need::Keep { .. } = need {
                    unchanged += 1;
                } else {
                    writes.push(WriteStep {
                        target: show(&layout.plugins.join(rel)),
                        source: show(src),
                    });
                }
            }
            lines.extend(apply.backup_log.iter().cloned());
            lines.extend(apply.apply_log.iter().cloned());
        }
        let warnings = warnings_after(layout, p)?;
        lines.extend(crate::launcher::verification::log_lines(
            layout,
            plan.applies(),
            &warnings,
        ));
        let sink = CarbonLog::open(layout, false);
        let log = lines
            .iter()
            .filter(|l| sink.routes(l).0)
            .map(|l| entry(layout, l))
            .collect();
        let console = lines
            .iter()
            .filter(|l| sink.routes(l).1)
            .map(|l| entry(layout, l))
            .collect();
        Ok(Preview {
            schema_version: SCHEMA_VERSION,
            carbon_home: show(&layout.carbon_home),
            applies: plan.applies(),
            writes_anything: p.writes_anything(),
            warnings: layout.warnings.clone(),
            remove_leftovers,
            backup,
            restore,
            copies,
            writes,
            unchanged,
            metadata: vec![
                metadata_file(
                    plan,
                    &layout.pre_patched_dir_file(),
                    scan.metadata_bytes[0].as_deref(),
                ),
                metadata_file(
                    plan,
                    &layout.pre_patched_jars_file(),
                    scan.metadata_bytes[1].as_deref(),
                ),
            ],
            log,
            console,
            outside_changes: OutsideReport::of(&p.outside),
        })
    }

    /// The readable form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for w in &self.warnings {
            let _ = writeln!(s, "warning          {w}");
        }
        if !self.applies {
            let _ = writeln!(
                s,
                "No patch changes: apply would not touch plugins (it would only check and verify)."
            );
        }
        for l in &self.remove_leftovers {
            let _ = writeln!(s, "remove leftover  {l}");
        }
        if let Some(b) = &self.backup {
            let _ = writeln!(
                s,
                "back up          {} -> {} ({} files, {} dirs)",
                b.from, b.to, b.files, b.dirs
            );
        }
        if let Some(r) = &self.restore {
            let _ = writeln!(
                s,
                "restore          {} -> {} ({} files)",
                r.from, r.to, r.files
            );
            for d in &r.dirs_created {
                let _ = writeln!(s, "  create dir     {d}");
            }
        }
        for c in &self.copies {
            let _ = writeln!(s, "copy ({})  {} -> {}", c.step, c.source, c.target);
            if let Some(from) = &c.renamed_from {
                let _ = writeln!(s, "  renamed from {from} by its manifest");
            }
        }
        if self.applies {
            let _ = writeln!(
                s,
                "write            {} file(s) whose bytes differ ({} already right):",
                self.writes.len(),
                self.unchanged
            );
            for w in &self.writes {
                let _ = writeln!(s, "  {} <- {}", w.target, w.source);
            }
        }
        s.push_str(&self.outside_changes.render("outside changes  "));
        for m in &self.metadata {
            if m.changes {
                let _ = writeln!(s, "rewrite          {}:", m.path);
                for line in m.content.lines() {
                    let _ = writeln!(s, "  {line}");
                }
            } else {
                let _ = writeln!(s, "keep             {}", m.path);
            }
        }
        for (title, lines) in [
            ("patches.log lines:", &self.log),
            ("console lines:", &self.console),
        ] {
            let _ = writeln!(s, "{title}");
            for l in lines {
                let _ = writeln!(s, "  {:>5} {{{}}} -  {}", l.level, l.logger, l.message);
            }
        }
        s
    }
}
