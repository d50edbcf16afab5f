//! Executes a [`Plan`] in two phases. *Stage*: build the new `patch0000` under a private name,
//! copy every file of `plugins` that must change and both metadata files to temporary names
//! beside their targets, make all of it durable, and append the run's lines to `patches.log`
//! (whole or not at all); a failure here (disk full, a file vanished, permissions) removes what
//! was staged and leaves the product as it was. *Commit*: rename the backup into place, each
//! staged plugin over its target, then the metadata: renames only, which need no space. Ordered so that a run killed at any point leaves a tree on which the next run
//! converges to the same result: the backup is complete before any plugin changes, and the
//! metadata that records a change is written only after the change is on disk.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fsops;
use crate::fsops::digest::Md5Sum;
use crate::launcher::plan::{ApplyPlan, Plan};
use crate::product::digest_cache::DigestCache;
use crate::product::patches_log::CarbonLog;
use rayon::prelude::*;

use crate::launcher::model::{Kind, Rel, Scan};
use crate::product::progress::Progress;
use crate::product::scan::BACKUP_STAGING;

/// What a run did to `plugins`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub backed_up: usize,
    pub written: usize,
    pub unchanged: usize,
}

/// Everything staged and durable, not yet visible under its real name.
#[derive(Default)]
struct Staged {
    /// Directories this run created (to remove again if staging fails), deepest last.
    dirs: Vec<PathBuf>,
    /// The complete new backup, to be renamed to `patch0000`.
    backup: Option<PathBuf>,
    backed_up: usize,
    /// (temporary file, target, the digest of what it holds) in `plugins`.
    files: Vec<(PathBuf, PathBuf, Md5Sum)>,
    /// Targets that already hold the right bytes, and the modification time the launcher's
    /// rewrite would give them when theirs differs.
    unchanged: Vec<(PathBuf, Option<filetime::FileTime>)>,
    /// (temporary file, target) of the metadata files that change.
    metadata: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// Removes whatever was staged (after a failure), so the product is as it was.
    fn discard(&self) {
        if let Some(b) = &self.backup {
            let _ = fs::remove_dir_all(b);
        }
        let temps = self.files.iter().map(|(tmp, _, _)| tmp);
        for tmp in temps.chain(self.metadata.iter().map(|(tmp, _)| tmp)) {
            let _ = fs::remove_file(tmp);
        }
        fsops::remove_created(&self.dirs);
    }

    /// Creates `dir` and its missing parents, remembering what it created.
    fn create_dir_all(&mut self, dir: &Path) -> Result<()> {
        self.dirs.extend(fsops::create_missing_dirs(dir)?);
        Ok(())
    }
}

/// `needs`: [`needs`] of the plan's writes, as compared when the run was prepared.
pub fn execute(
    scan: &Scan,
    plan: &Plan,
    needs: &[Need],
    versions: Option<&(PathBuf, String)>,
    log: &mut CarbonLog,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<Written> {
    let layout = &scan.layout;
    let leftovers = scan
        .stale_temps
        .iter()
        .chain(plan.apply.iter().flat_map(|a| a.stale_temps.iter()));
    for leftover in leftovers {
        fsops::remove_leftover(leftover)?;
    }

    let mut staged = Staged::default();
    if let Err(e) = stage(scan, plan, needs, &mut staged, cache, progress) {
        staged.discard();
        return Err(e);
    }

    // From the first rename until the metadata records the result, plugins can be between two
    // states that the metadata does not tell apart, and the launcher (started without us, or
    // after a patch was withdrawn) would take a half-done plugins for finished. So first
    // prePatchedDir.txt durably says what its own change detection always counts as a change;
    // its final content is put in place last. The old content waits under a temporary name,
    // to be put back without needing space should the log not fit.
    // The patch versions this run writes, recorded before any of them reaches plugins (see
    // `drift::VERSIONS_FILE`); put back as they were should the run fail before its commit.
    let mut recorded = None;
    if let Some((target, text)) = versions {
        match put_keeping_old(target, text.as_bytes()) {
            Ok(old) => recorded = Some((target, old)),
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        }
    }
    let undo_record = |recorded: Option<(&PathBuf, Option<PathBuf>)>| {
        if let Some((target, old)) = recorded {
            put_back(target, old);
        }
    };
    let mut marked = None;
    if plan.apply.is_some() {
        match mark_in_progress(layout) {
            Ok(old) => marked = Some(old),
            Err(e) => {
                undo_record(recorded);
                staged.discard();
                return Err(e);
            }
        }
    }
    // The lines of what is about to be committed, written whole or not at all: the last step
    // that can fail for lack of space, so a full disk still leaves the product as it was.
    let mut lines = plan.detection_log.clone();
    if let Some(apply) = &plan.apply {
        lines.extend(apply.backup_log.iter().cloned());
        lines.extend(apply.apply_log.iter().cloned());
    }
    if let Err(e) = progress.suspend(|| log.emit_all_or_nothing(&lines)) {
        if let Some(old) = marked {
            unmark(layout, old);
        }
        undo_record(recorded);
        staged.discard();
        return Err(e);
    }

    let mut written = Written::default();
    if let Some(b) = &staged.backup {
        fsops::rename(b, &layout.backup())?;
        fsops::sync_dir(&layout.patches)?;
        written.backed_up = staged.backed_up;
    }
    commit_plugins(&staged, &mut written, cache)?;
    // The JARs file first, each durable before the next: once the final prePatchedDir.txt
    // is there, the launcher may trust plugins and the JARs file.
    for (tmp, target) in &staged.metadata {
        fsops::rename(tmp, target)?;
        fsops::sync_dir(&layout.metadata)?;
    }
    if let Some(Some(old)) = marked {
        fsops::remove_leftover(&old)?;
    }
    if let Some((_, Some(old))) = recorded {
        fsops::remove_leftover(&old)?;
    }
    // The marker of an interrupted run of an older version (whatever stands under its name, a
    // dangling link too).
    if scan.interrupted {
        fsops::remove_leftover(&layout.apply_marker())?;
        fsops::sync_dir(&layout.metadata)?;
    }
    Ok(written)
}

/// What `prePatchedDir.txt` holds while a run commits: one name that can never be in the
/// launcher's apply order (which holds only `patch…` and `servicepack…` names) and does not
/// start with `s`, so the launcher's detection counts it as reverted against any apply order,
/// even an empty one, without reaching its service-pack branch that throws; ours, emulating it,
/// does the same. So whoever runs next applies from `patch0000`.
pub const IN_PROGRESS: &str = ".carbon-patcher-apply-in-progress\n";

/// Puts [`IN_PROGRESS`] in place of `prePatchedDir.txt`, durably; returns the temporary file
/// that keeps its old content (`None`: there was none).
fn mark_in_progress(layout: &crate::launcher::layout::Layout) -> Result<Option<PathBuf>> {
    put_keeping_old(&layout.pre_patched_dir_file(), IN_PROGRESS.as_bytes())
}

/// Puts the old `prePatchedDir.txt` back (after a failure before the commit).
fn unmark(layout: &crate::launcher::layout::Layout, old: Option<PathBuf>) {
    put_back(&layout.pre_patched_dir_file(), old)
}

/// Puts `bytes` at `target` durably, keeping its old content under a temporary name, which
/// [`put_back`] renames back without needing space (`None`: there was no old file).
fn put_keeping_old(target: &Path, bytes: &[u8]) -> Result<Option<PathBuf>> {
    let old = match fs::read(target) {
        Ok(old) => Some(fsops::stage_write(target, &old)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", target.display())),
    };
    if let Err(e) = fsops::write_atomic(target, bytes) {
        put_back(target, old);
        return Err(e);
    }
    Ok(old)
}

/// Undoes [`put_keeping_old`]; best effort, on a path that is failing anyway.
fn put_back(target: &Path, old: Option<PathBuf>) {
    let _ = match old {
        Some(old) => fsops::rename(&old, target),
        None => fs::remove_file(target).map_err(Into::into),
    };
    if let Some(dir) = target.parent() {
        let _ = fsops::sync_dir(dir);
    }
}

/// From this many planned writes on, comparing them is worth starting threads for.
const PARALLEL_COMPARE: usize = 64;

/// Everything a run writes, under temporary names, made durable; nothing visible changes.
fn stage(
    scan: &Scan,
    plan: &Plan,
    needs: &[Need],
    staged: &mut Staged,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<()> {
    let layout = &scan.layout;
    if let Some(apply) = &plan.apply {
        if let Some(tree) = &apply.backup {
            stage_backup(
                &layout.plugins,
                &layout.patches,
                tree,
                staged,
                cache,
                progress,
            )?;
        }
        for dir in &apply.mkdirs {
            staged.create_dir_all(&layout.plugins.join(dir))?;
        }
        let copies = needs
            .iter()
            .filter(|n| matches!(n, Need::Copy { .. }))
            .count();
        progress.stage("applying", copies);
        for ((rel, (src, checked)), need) in apply.writes.iter().zip(needs.iter().copied()) {
            let target = layout.plugins.join(rel);
            let like = match need {
                Need::Keep { mtime } => {
                    staged.unchanged.push((target, mtime));
                    continue;
                }
                Need::Copy { like: Some(like) } => like,
                Need::Copy { like: None } => fsops::likeness(&target)?,
            };
            progress.inc();
            let tmp = fsops::temp_beside(&target);
            let md5 = fsops::copy_new(src, &tmp, like)
                .with_context(|| format!("cannot stage the new {}", target.display()))?
                .md5;
            staged.files.push((tmp, target, md5));
            // The bytes copied must be the bytes the scan checked: a jar rewritten in between
            // would otherwise reach plugins unchecked.
            if checked.is_some_and(|c| c != md5) {
                anyhow::bail!(
                    "{}: changed since it was checked (still being written?); nothing was applied",
                    src.display()
                );
            }
        }
        let temps: Vec<PathBuf> = staged.files.iter().map(|(t, _, _)| t.clone()).collect();
        fsops::sync_files(&temps)?;
        for d in &staged.dirs {
            fsops::sync_dir(d.parent().unwrap_or(Path::new("/")))?;
        }
    }
    staged.create_dir_all(&layout.metadata)?;
    // In commit order (prePatchedDir.txt last), as the plan lists them.
    for (target, want) in &plan.metadata_writes {
        let tmp = fsops::stage_write(target, want.as_bytes())?;
        staged.metadata.push((tmp, target.clone()));
    }
    Ok(())
}

/// Copies `plugins` into a private staging dir beside `patch0000` and makes it durable.
fn stage_backup(
    plugins: &Path,
    patches: &Path,
    tree: &[(Rel, Kind)],
    staged: &mut Staged,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<()> {
    progress.stage("backing up", tree.len());
    staged.create_dir_all(patches)?;
    let staging = patches.join(BACKUP_STAGING);
    fsops::remove_leftover(&staging)?;
    fsops::create_dir_owned(&staging)?;
    staged.backup = Some(staging.clone());
    // Directories first (the tree lists parents before children), then the files on every
    // core: copying and hashing the whole of plugins is the bulk of a first apply.
    let mut rels = Vec::new();
    for (rel, kind) in tree {
        match kind {
            Kind::Dir => {
                progress.inc();
                fsops::create_dir_owned(&staging.join(rel))?;
            }
            Kind::File => rels.push(rel),
        }
    }
    let files: Vec<PathBuf> = rels
        .par_iter()
        .map(|rel| -> Result<PathBuf> {
            let (src, dst) = (plugins.join(rel), staging.join(rel));
            // Hashed on the way: the restore of every later run compares the two by digest.
            let copied = fsops::copy_new(&src, &dst, fsops::likeness(&dst)?)?;
            cache.record(&dst, copied.md5);
            cache.learn(&src, &copied.source, copied.md5);
            progress.inc();
            Ok(dst)
        })
        .collect::<Vec<Result<PathBuf>>>()
        .into_iter()
        .collect::<Result<_>>()?;
    fsops::copy_mtime(plugins, &staging)?;
    fsops::sync_files(&files)?;
    for (rel, kind) in tree.iter().rev() {
        if *kind == Kind::Dir {
            fsops::sync_dir(&staging.join(rel))?;
        }
    }
    fsops::sync_dir(&staging)?;
    staged.backed_up = files.len();
    Ok(())
}

/// Renames each staged file over its target, then makes the renames durable. A failure half-way
/// leaves some plugins new and the metadata old: the next run redoes the apply.
fn commit_plugins(staged: &Staged, written: &mut Written, cache: &DigestCache) -> Result<()> {
    let mut dirs = BTreeSet::new();
    for (i, (tmp, target, md5)) in staged.files.iter().enumerate() {
        if let Err(e) = fsops::rename(tmp, target) {
            let temps = staged.files[i..].iter().map(|(tmp, _, _)| tmp);
            for tmp in temps.chain(staged.metadata.iter().map(|(tmp, _)| tmp)) {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        dirs.insert(target.parent().map(Path::to_path_buf).unwrap_or_default());
        cache.record(target, *md5);
        written.written += 1;
    }
    for d in dirs {
        fsops::sync_dir(&d)?;
    }
    // The launcher's rewrite would give these their source's time: a metadata-only change,
    // safe under a running JVM.
    for (target, mtime) in &staged.unchanged {
        if let Some(mtime) = mtime {
            // Its change time moves, so its cache entry lapses and the next run reads it once:
            // recording it here could pair bytes someone wrote since the comparison with the
            // digest of the old ones.
            fsops::set_mtime(target, *mtime)?;
        }
        written.unchanged += 1;
    }
    Ok(())
}

/// What one planned write of `plugins` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The target is missing or holds other bytes; `like`: the mode and owner its replacement
    /// takes, when the comparison stat'ed an existing target (so staging need not again).
    Copy { like: Option<fsops::Likeness> },
    /// The target already holds the right bytes; `mtime`: the source's modification time, when
    /// the target's differs (the launcher's rewrite would give it that).
    Keep { mtime: Option<filetime::FileTime> },
}

/// What each planned write needs, in the plan's order: a stat of each side and the digests
/// (from the cache, else read), on every core when there are many. Refuses first, as the
/// launcher would fail on it, a file of `patch0000` its restore reads though a patch replaces
/// it (which an apply never needs to copy). The first error in the plan's order is reported.
pub fn needs(
    layout: &crate::launcher::layout::Layout,
    apply: &ApplyPlan,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<Vec<Need>> {
    for src in &apply.overwritten_restores {
        fs::File::open(src).with_context(|| format!("{}: cannot read", src.display()))?;
    }
    progress.stage("comparing", apply.writes.len());
    let one = |(rel, (src, checked)): (&Rel, &(PathBuf, Option<Md5Sum>))| -> Result<Need> {
        let need = if crate::fsops::fault::full_rewrite() {
            Need::Copy { like: None }
        } else {
            compare(src, *checked, &layout.plugins.join(rel), cache)?
        };
        progress.inc();
        Ok(need)
    };
    let needs: Vec<Result<Need>> = if apply.writes.len() >= PARALLEL_COMPARE {
        apply.writes.par_iter().map(one).collect()
    } else {
        apply.writes.iter().map(one).collect()
    };
    needs.into_iter().collect()
}

/// Compares a planned write's source `src` (its digest `checked` when the scan checked it)
/// with its `target`: one stat of each, and the digests from the cache or by reading.
fn compare(
    src: &Path,
    checked: Option<Md5Sum>,
    target: &Path,
    cache: &DigestCache,
) -> Result<Need> {
    let mt = fs::metadata(target).ok();
    let copy = Need::Copy {
        like: mt
            .as_ref()
            .filter(|m| m.is_file())
            .map(fsops::owner::likeness_of),
    };
    // Either missing or unreadable: copying says which and why (and refuses, when the source).
    let (Ok(ms), Some(mt)) = (fs::metadata(src), mt) else {
        return Ok(copy);
    };
    if !ms.is_file() || !mt.is_file() || ms.len() != mt.len() {
        return Ok(copy);
    }
    let digest = |path: &Path, m: &fs::Metadata| {
        cache
            .md5_with(path, m)
            .with_context(|| format!("{}: cannot read", path.display()))
    };
    let have = digest(target, &mt)?;
    // What the scan checked is what must land, even should the source change since.
    let want = match checked {
        Some(md5) => md5,
        None => digest(src, &ms)?,
    };
    if have != want {
        return Ok(copy);
    }
    let want_time = filetime::FileTime::from_last_modification_time(&ms);
    let have_time = filetime::FileTime::from_last_modification_time(&mt);
    Ok(Need::Keep {
        mtime: (want_time != have_time).then_some(want_time),
    })
}
