//! From a [`Scan`] to a [`Plan`]: what changed, what `plugins` must hold afterwards (the
//! launcher's restore-then-copy sequence reduced to one final source per target file), what the
//! metadata files must say, and every log line in the launcher's order. Pure: reads nothing,
//! writes nothing; every refusal that depends on the whole picture happens here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::fsops::digest::Md5Sum;
use crate::launcher::detect::{self, DetectError};
use crate::launcher::drift::{self, TreeDiff};
use crate::launcher::java::{self, JavaHashMap};
use crate::launcher::kernel::Line;
use crate::launcher::layout::BACKUP_DIR;
use crate::launcher::log::{Level, LogLine, Logger};
use crate::launcher::model::{Backup, Kind, Rel, Scan, Source, Trees};

/// One entry of the launcher's latest-jars map: where the jar comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestJar {
    pub source: PathBuf,
    pub md5: Md5Sum,
    /// The source's parent dir name, as verification warnings name it (`lib` for a service
    /// pack's jars).
    pub from: String,
}

/// The copy work of a run that applies.
#[derive(Debug, Clone, Default)]
pub struct ApplyPlan {
    /// `Some(files and dirs of plugins)` when `patch0000` must be created first.
    pub backup: Option<Vec<(Rel, Kind)>>,
    /// Directories (relative to `plugins`) the restore creates.
    pub mkdirs: Vec<PathBuf>,
    /// Files the launcher's restore copies back from `patch0000` (before later writers win).
    pub restored_files: usize,
    /// Final content of each written file of `plugins` (relative path → source file, and the
    /// digest of the bytes the scan checked, for a patch entry): the last of the launcher's
    /// writers to that path.
    pub writes: BTreeMap<Rel, (PathBuf, Option<Md5Sum>)>,
    /// Files of `patch0000` the launcher's restore reads before a later writer replaces them in
    /// `plugins`: an apply never copies them, but they must be readable.
    pub overwritten_restores: Vec<PathBuf>,
    /// `Backed up plugins to patch0000`, when a backup is made.
    pub backup_log: Vec<LogLine>,
    /// `Applying patches ...` through the last `Patched …` line.
    pub apply_log: Vec<LogLine>,
    /// Our temporary files left in `plugins` or `patch0000` by an interrupted run.
    pub stale_temps: Vec<PathBuf>,
    /// When the run restores: the files only one of `plugins` and `patch0000` has (what an
    /// outside change may have removed or added; see [`crate::launcher::drift`]).
    pub restore_diff: Option<TreeDiff>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// `Checking for patch changes ...` through `Patch changes detected `.
    pub detection_log: Vec<LogLine>,
    pub apply: Option<ApplyPlan>,
    /// New content of `prePatchedDir.txt`; `None` leaves the file as it is.
    pub pre_patched_dir: Option<String>,
    /// Content of `prePatchedJARs.txt` (always rewritten by the launcher).
    pub pre_patched_jars: String,
    /// The metadata files this run writes, in the order they are renamed in
    /// (`prePatchedDir.txt` last): those whose bytes change, decided here, once, against the
    /// bytes the scan read, and `prePatchedDir.txt` whenever the run applies.
    pub metadata_writes: Vec<(PathBuf, String)>,
    /// The latest-jars map, in Java `HashMap` order.
    pub latest: JavaHashMap<LatestJar>,
    /// How many changes detection counted (new and reverted dirs, or one jar added/updated).
    pub changes: usize,
    /// The detection lines that say what changed (new, reverted, updated or added), without
    /// the fixed lines around them: what `status` shows.
    pub change_messages: Vec<String>,
}

impl Plan {
    pub fn applies(&self) -> bool {
        self.apply.is_some()
    }
}

/// A `PatchUtils` line at FINE (INFO on log4j kernels).
fn fine(method: &'static str, msg: impl Into<String>) -> LogLine {
    LogLine::utils(Level::Fine, method, msg)
}

/// Names of the apply order (spec section 3, step 2).
pub fn apply_order(scan: &Scan) -> Vec<String> {
    let sp = scan
        .latest_servicepack
        .iter()
        .map(|sp| sp.source.name.as_str());
    sp.chain(scan.applied_patch_names())
        .map(String::from)
        .collect()
}

/// The latest-jars map: the service pack's `lib`, then each patch dir in play, later entries
/// replacing earlier ones under the same bundle file name.
fn latest_jars(scan: &Scan) -> JavaHashMap<LatestJar> {
    let mut map = JavaHashMap::new();
    for src in scan.sources() {
        let from = dir_name(&src.path);
        for e in &src.entries {
            map.insert(
                e.bundle_name.clone(),
                LatestJar {
                    source: e.path.clone(),
                    md5: e.md5,
                    from: from.clone(),
                },
            );
        }
    }
    map
}

fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn patched_lines(src: &Source, method: &'static str, log: &mut Vec<LogLine>) {
    for e in &src.entries {
        log.push(fine(method, format!("Patched {}(MD5:{})", e.name, e.md5)));
    }
}

/// Plans a run. `read_trees` is called only when the run applies: only then does the launcher
/// read `plugins` and `patch0000`.
pub fn plan(scan: &Scan, read_trees: impl FnOnce(&Scan) -> Result<Trees>) -> Result<Plan> {
    let layout = &scan.layout;
    let order = apply_order(scan);
    let line = layout.launcher.line();
    let mut detection_log = vec![fine("processPatches", "Checking for patch changes ...")];
    let detection = detect::detect(&order, scan.pre_patched_dir.as_deref()).map_err(|e| match e {
        DetectError::RevertedServicePackNothingLeft(sp) => anyhow!(
            "{}: lists service pack {sp:?} as applied, but there is no service pack and no patch dir \
             left (not even {BACKUP_DIR}) to restore from; the launcher fails here",
            layout.pre_patched_dir_file().display()
        ),
    })?;
    // Without a prePatchedDir.txt the new dirs are logged by processPatches itself.
    let detect_method = match scan.pre_patched_dir {
        None => "processPatches",
        Some(_) => "checkForPatchChanges",
    };
    detection_log.extend(
        detection
            .messages
            .iter()
            .map(|m| fine(detect_method, m.clone())),
    );
    let mut change_messages = detection.messages.clone();
    let mut changed = detection.changed();
    let mut changes = detection.new.len() + detection.removed.len();
    if !changed {
        detection_log.push(fine(
            "processPatches",
            "No new patch or service pack detected, server will start without applying patches ",
        ));
    }

    let latest = latest_jars(scan);
    if !changed {
        if let Some(text) = &scan.pre_patched_jars {
            let previous = detect::parse_pre_patched_jars(text)
                .with_context(|| format!("{}", layout.pre_patched_jars_file().display()))?;
            if let Some(msg) = detect::jar_change(&latest, |j| j.md5, &previous) {
                change_messages.push(msg.clone());
                detection_log.push(fine("checkUpdatedJars", msg));
                changed = true;
                changes = 1;
            }
        }
    }

    if !changed && scan.interrupted {
        // Not the launcher's: its metadata cannot show a commit that was cut short.
        let msg = "carbon-patcher: the last apply was interrupted; applying again";
        change_messages.push(msg.to_string());
        detection_log.push(fine("processPatches", msg));
        changed = true;
        changes = changes.max(1);
    }

    let mut pre_patched_dir = None;
    let apply = if changed {
        // 4.5+ dropped 4.4's trailing space.
        let detected = match line {
            Line::Log4j => "Patch changes detected ",
            Line::Jul => "Patch changes detected",
        };
        detection_log.push(LogLine::new(
            Level::Info,
            Logger::PatchInstaller,
            "perform",
            detected,
        ));
        let (apply, dir_lines) = apply_plan(scan, read_trees(scan)?)?;
        let mut text = String::new();
        for l in dir_lines {
            text.push_str(&l);
            text.push('\n');
        }
        pre_patched_dir = Some(text);
        Some(apply)
    } else {
        if scan.pre_patched_dir.is_none() {
            // The launcher creates it empty during detection.
            pre_patched_dir = Some(String::new());
        }
        None
    };

    let mut pre_patched_jars = String::new();
    for (name, jar) in latest.iter() {
        pre_patched_jars.push_str(&format!("{name}:{}\n", jar.md5));
    }
    // In commit order: prePatchedJARs.txt, then prePatchedDir.txt, which a run that applies
    // marks in progress before plugins changes and so always writes again.
    let mut metadata_writes = Vec::new();
    let wanted = [
        (
            layout.pre_patched_jars_file(),
            Some(&pre_patched_jars),
            &scan.metadata_bytes[1],
            false,
        ),
        (
            layout.pre_patched_dir_file(),
            pre_patched_dir.as_ref(),
            &scan.metadata_bytes[0],
            apply.is_some(),
        ),
    ];
    for (path, want, have, always) in wanted {
        if let Some(want) = want.filter(|w| always || have.as_deref() != Some(w.as_bytes())) {
            metadata_writes.push((path, want.clone()));
        }
    }
    Ok(Plan {
        metadata_writes,
        detection_log,
        apply,
        pre_patched_dir,
        pre_patched_jars,
        latest,
        changes,
        change_messages,
    })
}

/// The copy work and the new `prePatchedDir.txt` lines of a run that applies.
fn apply_plan(scan: &Scan, trees: Trees) -> Result<(ApplyPlan, Vec<String>)> {
    let layout = &scan.layout;
    let mut plan = ApplyPlan {
        stale_temps: trees.stale_temps,
        ..ApplyPlan::default()
    };
    // What plugins will look like, to refuse a file landing on a directory (or the reverse)
    // before anything is written: the launcher dies half-way on those.
    let mut kinds: BTreeMap<Rel, Kind> = trees.plugins.clone();
    match scan.backup {
        Backup::Missing => {
            plan.backup = Some(trees.plugins.into_iter().collect());
            let msg = format!("Backed up plugins to {BACKUP_DIR}");
            let method = "applyServicepacksAndPatches";
            plan.backup_log = vec![LogLine::utils(Level::Info, method, msg.clone())];
            if layout.launcher.line() == Line::Log4j {
                // The console's copy: 4.5+ prints INFO lines on the console by its handler.
                plan.backup_log
                    .push(LogLine::new(Level::Info, Logger::Console, method, msg));
            }
        }
        Backup::NotADirectory => bail!(
            "{}: exists but is not a directory, so plugins cannot be restored from it",
            layout.backup().display()
        ),
        Backup::Present => {}
    }
    plan.apply_log
        .push(fine("applyServicepacksAndPatches", "Applying patches ..."));
    if let Some(tree) = &trees.backup {
        // `kinds` is still the plugins tree here.
        plan.restore_diff = Some(drift::tree_diff(&kinds, tree));
        plan.apply_log.push(fine(
            "copyServicepacksAndPatches",
            "restoring bundle backup directory",
        ));
        for (rel, kind) in tree {
            match (kinds.get(rel), kind) {
                (Some(have), want) if have != want => bail!(
                    "{}: is a {}, but {} holds a {} there; restoring would fail",
                    layout.plugins.join(rel).display(),
                    kind_name(*have),
                    layout.backup().display(),
                    kind_name(*want)
                ),
                (None, Kind::Dir) => {
                    plan.mkdirs.push(rel.as_path().to_path_buf());
                    kinds.insert(rel.clone(), Kind::Dir);
                }
                _ => {}
            }
            if *kind == Kind::File {
                plan.restored_files += 1;
                plan.writes
                    .insert(rel.clone(), (layout.backup().join(rel), None));
            }
        }
    }

    let mut dir_lines = Vec::new();
    let copy_from = |src: &Source, method: &'static str, plan: &mut ApplyPlan| -> Result<()> {
        for e in &src.entries {
            let rel = Rel::new(&e.bundle_name);
            if kinds.get(&rel) == Some(&Kind::Dir) {
                bail!(
                    "{}: would be copied to {}, which is a directory",
                    e.path.display(),
                    layout.plugins.join(&rel).display()
                );
            }
            if let Some((restored, None)) = plan.writes.insert(rel, (e.path.clone(), Some(e.md5))) {
                plan.overwritten_restores.push(restored);
            }
        }
        patched_lines(src, method, &mut plan.apply_log);
        Ok(())
    };
    if let Some(sp) = &scan.latest_servicepack {
        let method = "copyLatestServicepack";
        plan.apply_log
            .push(fine(method, format!("Start applying - {}", sp.source.name)));
        copy_from(&sp.source, method, &mut plan)?;
        dir_lines.push(sp.source.name.clone());
    }
    for src in &scan.patch_dirs {
        let method = "copyServicepacksAndPatches";
        plan.apply_log
            .push(fine(method, format!("Applying - {}", src.name)));
        copy_from(src, method, &mut plan)?;
    }
    // prePatchedDir.txt: the patch dirs listed after the backup exists, so patch0000 is there.
    let mut names: Vec<String> = scan.applied_patch_names().map(String::from).collect();
    if scan.backup == Backup::Missing && !scan.listed_by_servicepack(BACKUP_DIR) {
        names.push(BACKUP_DIR.to_string());
        names.sort_by(|a, b| java::compare(a, b));
    }
    dir_lines.extend(names);
    Ok((plan, dir_lines))
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Dir => "directory",
    }
}
