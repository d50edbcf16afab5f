//! What the disk says of changes made to `plugins` outside the patch process, for the rules of
//! [`crate::launcher::drift`]. Built on the comparison the apply makes anyway ([`Need`]): a
//! file whose final bytes are the backup's and already there is not read again; only the files
//! the restore would really overwrite (and, to report them, the files a patch replaces) have
//! their digest looked up, from the cache when it knows them. Also keeps the record of every
//! patch version an apply of ours was about to write, so a jar of a patch since withdrawn (or
//! of a run killed before its metadata) is still recognised as a patch's own.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::fsops::digest::Md5Sum;
use crate::launcher::drift::{self, Known, OutsideChanges, Seen};
use crate::launcher::layout::Layout;
use crate::launcher::model::Scan;
use crate::launcher::plan::Plan;
use crate::product::apply::Need;
use crate::product::digest_cache::DigestCache;

/// The file of patch versions (`bundle name:md5`, one a line) applies of ours wrote, in the
/// metadata dir: every run on this product sees it, whatever its state dir, and it is durable
/// before an apply changes `plugins`, so a jar a cut-off commit wrote (of a patch withdrawn
/// since) is still known as a patch's own. The launcher reads only its two files there.
pub const VERSIONS_FILE: &str = "carbon-patcher-patch-versions.txt";

/// The patch versions this product knows: `prePatchedJARs.txt`, the jars in play, our record.
fn known(scan: &Scan) -> Known {
    let mut known = Known::default();
    if let Some(text) = &scan.pre_patched_jars {
        known.add_lines(text);
    }
    known.add_sources(scan.sources());
    for file in [
        scan.layout.metadata.join(VERSIONS_FILE),
        // An older version's marker of a commit cut short listed its versions.
        scan.layout.apply_marker(),
    ] {
        if let Ok(text) = fs::read_to_string(file) {
            known.add_lines(&text);
        }
    }
    // An older version's marker names no versions: its cut-off commit may have written any.
    // (Only a marker that is there: `rebase` plans a restore by setting `interrupted` alone.)
    if scan.interrupted
        && fs::read_to_string(scan.layout.apply_marker())
            .is_ok_and(|t| !t.lines().any(|l| l.contains(':')))
    {
        known.all = true;
    }
    known
}

/// The digest of `target` when it holds other bytes than `restored` (the backup's file); `None`
/// when the same, or when either is not a regular file (the plan and the copy refuse those).
fn differs(target: &Path, restored: &Path, cache: &DigestCache) -> Result<Option<Md5Sum>> {
    let (Ok(mt), Ok(mb)) = (fs::metadata(target), fs::metadata(restored)) else {
        return Ok(None);
    };
    if !mt.is_file() || !mb.is_file() {
        return Ok(None);
    }
    let digest = |path: &Path, m: &fs::Metadata| {
        cache
            .md5_with(path, m)
            .with_context(|| format!("{}: cannot read", path.display()))
    };
    let have = digest(target, &mt)?;
    if mt.len() == mb.len() && digest(restored, &mb)? == have {
        return Ok(None);
    }
    Ok(Some(have))
}

/// The outside changes the run `plan` would meet; `needs` is the apply's comparison of each of
/// the plan's writes, in its order. Empty when the run does not restore from `patch0000`.
pub fn find(
    scan: &Scan,
    plan: &Plan,
    needs: &[Need],
    cache: &DigestCache,
) -> Result<OutsideChanges> {
    let Some(apply) = &plan.apply else {
        return Ok(OutsideChanges::default());
    };
    let Some(diff) = &apply.restore_diff else {
        return Ok(OutsideChanges::default());
    };
    let layout = &scan.layout;
    let backup = layout.backup();
    let replaced: HashSet<&Path> = apply
        .overwritten_restores
        .iter()
        .map(|p| p.as_path())
        .collect();
    let missing: HashSet<_> = diff.only_in_backup.iter().collect();
    let mut seen = Vec::new();
    for ((rel, (_, checked)), need) in apply.writes.iter().zip(needs) {
        // Already holding its final bytes (the backup's, or the patch's own): nothing to lose.
        if !matches!(need, Need::Copy { .. }) || missing.contains(rel) {
            continue;
        }
        let restored = backup.join(rel);
        // Only what the restore writes: the backup's file, maybe replaced by a patch later.
        if checked.is_some() && !replaced.contains(restored.as_path()) {
            continue;
        }
        if let Some(have) = differs(&layout.plugins.join(rel), &restored, cache)? {
            seen.push(Seen::Differs {
                rel: rel.clone(),
                have,
            });
        }
    }
    seen.extend(
        diff.only_in_backup
            .iter()
            .map(|rel| Seen::Missing { rel: rel.clone() }),
    );
    seen.extend(
        diff.only_in_plugins
            .iter()
            .map(|rel| Seen::Added { rel: rel.clone() }),
    );
    let mut source_of: HashMap<&Path, &str> = HashMap::new();
    for src in scan.sources() {
        for e in &src.entries {
            source_of.insert(e.path.as_path(), src.name.as_str());
        }
    }
    let writer = |rel: &_| {
        let (src, checked) = apply.writes.get(rel)?;
        checked.and_then(|_| source_of.get(src.as_path()).map(|s| s.to_string()))
    };
    Ok(drift::classify(
        seen,
        &known(scan),
        writer,
        plan.change_messages.clone(),
    ))
}

/// [`VERSIONS_FILE`] and its new text with the versions the run `plan` writes, when it changes:
/// the apply puts it in place before `plugins` changes, so that should the run be killed and the
/// patch withdrawn, its jars in `plugins` are still known as a patch's own.
pub fn versions_update(scan: &Scan, plan: &Plan) -> Result<Option<(std::path::PathBuf, String)>> {
    let layout: &Layout = &scan.layout;
    if plan.apply.is_none() {
        return Ok(None);
    }
    let file = layout.metadata.join(VERSIONS_FILE);
    let old = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", file.display())),
    };
    let mut have: HashSet<String> = old.lines().map(String::from).collect();
    let mut text = old.clone();
    for src in scan.sources() {
        for e in &src.entries {
            let line = format!("{}:{}", e.bundle_name, e.md5);
            if have.insert(line.clone()) {
                text.push_str(&line);
                text.push('\n');
            }
        }
    }
    Ok((text != old).then_some((file, text)))
}
