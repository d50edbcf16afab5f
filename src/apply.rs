//! Executes a [`Plan`]: builds `patch0000` under a private name and renames it into place, puts
//! each file of `plugins` that must change in place by rename, rewrites the metadata atomically,
//! and logs each stage's lines once the stage is done. Ordered so that a run killed at any point
//! leaves a tree on which the next run converges to the same result: the backup is complete
//! before any plugin changes, and the metadata that records a change is written only after the
//! change is on disk.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::carbon_log::CarbonLog;
use crate::fsops;
use crate::layout::BACKUP_DIR;
use crate::plan::{ApplyPlan, Plan};
use crate::scan::{Kind, Scan, BACKUP_STAGING};

/// What a run did to `plugins`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub backed_up: usize,
    pub written: usize,
    pub unchanged: usize,
}

pub fn execute(scan: &Scan, plan: &Plan, log: &mut CarbonLog) -> Result<Written> {
    let layout = &scan.layout;
    for leftover in &scan.stale_temps {
        fsops::remove_leftover(leftover)?;
    }
    fs::create_dir_all(&layout.metadata)
        .with_context(|| format!("{}: cannot create", layout.metadata.display()))?;
    log.emit(&plan.detection_log)?;

    let mut written = Written::default();
    if let Some(apply) = &plan.apply {
        if let Some(files) = &apply.backup {
            written.backed_up = backup(&layout.plugins, &layout.patches, files)?;
            log.emit(&apply.backup_log)?;
        }
        write_plugins(&layout.plugins, apply, &mut written)?;
        log.emit(&apply.apply_log)?;
    }

    if let Some(text) = &plan.pre_patched_dir {
        write_if_different(&layout.pre_patched_dir_file(), text.as_bytes())?;
    }
    write_if_different(
        &layout.pre_patched_jars_file(),
        plan.pre_patched_jars.as_bytes(),
    )?;
    Ok(written)
}

/// Copies `plugins` into a private staging dir beside `patch0000`, syncs it, and renames it to
/// `patch0000`: the backup appears whole or not at all.
fn backup(plugins: &Path, patches: &Path, tree: &[(PathBuf, Kind)]) -> Result<usize> {
    fs::create_dir_all(patches).with_context(|| format!("{}: cannot create", patches.display()))?;
    let staging = patches.join(BACKUP_STAGING);
    fsops::remove_leftover(&staging)?;
    fs::create_dir(&staging).with_context(|| format!("{}: cannot create", staging.display()))?;
    let mut files = Vec::new();
    for (rel, kind) in tree {
        let dst = staging.join(rel);
        match kind {
            Kind::Dir => {
                fs::create_dir(&dst).with_context(|| format!("{}: cannot create", dst.display()))?
            }
            Kind::File => {
                let src = plugins.join(rel);
                let mode = fsops::existing_mode(&src)?;
                fsops::copy_new(&src, &dst, mode)?;
                files.push(dst);
            }
        }
    }
    fsops::copy_mtime(plugins, &staging)?;
    fsops::sync_files(&files, &staging)?;
    for (rel, kind) in tree.iter().rev() {
        if *kind == Kind::Dir {
            fsops::sync_dir(&staging.join(rel))?;
        }
    }
    fsops::sync_dir(&staging)?;
    fsops::rename(&staging, &patches.join(BACKUP_DIR))?;
    fsops::sync_dir(patches)?;
    Ok(files.len())
}

/// Puts every planned file in place: new content to a temp name beside the target, one sync
/// for the batch, then the renames. Files already holding the right bytes are left alone.
fn write_plugins(plugins: &Path, apply: &ApplyPlan, written: &mut Written) -> Result<()> {
    for dir in &apply.mkdirs {
        let d = plugins.join(dir);
        fs::create_dir_all(&d).with_context(|| format!("{}: cannot create", d.display()))?;
    }
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for (rel, src) in &apply.writes {
            let target = plugins.join(rel);
            if fsops::same_content(src, &target)? {
                // The launcher's rewrite would give it the source's time: a metadata-only change,
                // safe under a running JVM.
                fsops::copy_mtime(src, &target)?;
                written.unchanged += 1;
                continue;
            }
            let tmp = fsops::temp_beside(&target);
            let mode = fsops::existing_mode(&target)?;
            fsops::copy_new(src, &tmp, mode)?;
            staged.push((tmp, target));
        }
        if staged.is_empty() {
            return Ok(());
        }
        let temps: Vec<PathBuf> = staged.iter().map(|(t, _)| t.clone()).collect();
        fsops::sync_files(&temps, plugins)?;
        let mut dirs = BTreeSet::new();
        while let Some((tmp, target)) = staged.pop() {
            fsops::rename(&tmp, &target)?;
            dirs.insert(target.parent().map(Path::to_path_buf).unwrap_or_default());
            written.written += 1;
        }
        for d in dirs {
            fsops::sync_dir(&d)?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

fn write_if_different(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fsops::write_atomic(path, bytes)
}
