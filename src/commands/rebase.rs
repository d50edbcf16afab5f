//! `rebase`: make the current `plugins` the new baseline, so that no restore from `patch0000`
//! (ours or the launcher's) undoes what changed outside the patch process. The files changed,
//! removed and added since the backup (as a restoring run sees them, see
//! [`crate::launcher::drift`]) go into `patch0000`; whatever a patch dir or service pack of the
//! product replaces stays out, so the backup keeps holding what the patches replace and a later
//! revert still gives the pre-patch bytes. Then the pending patches apply on top.
//!
//! Crash-safe: the backup files about to be replaced are first kept, whole and durable, in a
//! record `<state dir>/rebase/NNNN` (renamed into place complete); the new `patch0000` is built
//! beside the old one under a private name (hard links for the files it shares) and swapped in
//! with one `renameat2(RENAME_EXCHANGE)`; the old tree is removed last. A record whose changes
//! `patch0000` does not hold belongs to a rebase cut short before the swap (or an undo cut short
//! after it) and is dropped. `rebase --undo` swaps in the previous baseline the same way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{exit, RebaseArgs};
use crate::commands::apply::{self, report_error};
use crate::fsops::{self, TEMP_PREFIX};
use crate::launcher::drift::{Action, Change};
use crate::launcher::layout::Layout;
use crate::launcher::model::{Kind, Rel, Tree};
use crate::product::digest_cache::DigestCache;
use crate::product::{scan, Prepared};

/// Under the state dir: one numbered dir per rebase, its `record` and its kept `files/`.
pub const REBASE_DIR: &str = "rebase";
const RECORD: &str = "record";
const FILES: &str = "files";

/// One file a rebase changed in `patch0000`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// Replaced by the bytes (digest) `plugins` held; the old ones are kept.
    Changed { rel: Rel, md5: String },
    /// Removed from the backup, as from `plugins`; the old one is kept.
    Removed { rel: Rel },
    /// Added to the backup from `plugins`.
    Added { rel: Rel, md5: String },
}

/// `changed <md5> <path>`, `removed - <path>`, `added <md5> <path>`, one a line.
fn render(entries: &[Entry]) -> Result<String> {
    let mut s = String::new();
    for e in entries {
        let (what, md5, rel) = match e {
            Entry::Changed { rel, md5 } => ("changed", md5.as_str(), rel),
            Entry::Removed { rel } => ("removed", "-", rel),
            Entry::Added { rel, md5 } => ("added", md5.as_str(), rel),
        };
        let path = rel
            .as_path()
            .to_str()
            .filter(|p| !p.contains('\n'))
            .ok_or_else(|| anyhow!("{:?}: a file name a rebase cannot record", rel.as_path()))?;
        s.push_str(&format!("{what} {md5} {path}\n"));
    }
    Ok(s)
}

fn parse(text: &str, file: &Path) -> Result<Vec<Entry>> {
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (what, md5, path) = (parts.next(), parts.next(), parts.next());
            let (Some(what), Some(md5), Some(path)) = (what, md5, path) else {
                bail!("{}: {line:?} is not a rebase record line", file.display());
            };
            let rel = Rel::new(path);
            Ok(match what {
                "changed" => Entry::Changed {
                    rel,
                    md5: md5.into(),
                },
                "removed" => Entry::Removed { rel },
                "added" => Entry::Added {
                    rel,
                    md5: md5.into(),
                },
                _ => bail!("{}: {line:?} is not a rebase record line", file.display()),
            })
        })
        .collect()
}

fn rebase_dir(layout: &Layout) -> PathBuf {
    layout.state_dir.join(REBASE_DIR)
}

/// The numbered records, oldest first; removes what a cut-short rebase left under our private
/// names.
fn records(layout: &Layout) -> Result<Vec<(u32, PathBuf)>> {
    let dir = rebase_dir(layout);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("{}: cannot read", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) {
            fsops::remove_leftover(&e.path())?;
        } else if let Ok(n) = name.parse::<u32>() {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn read_record(dir: &Path) -> Result<Vec<Entry>> {
    let file = dir.join(RECORD);
    let text =
        fs::read_to_string(&file).with_context(|| format!("{}: cannot read", file.display()))?;
    parse(&text, &file)
}

/// Whether `patch0000` holds what the record says the rebase put there.
fn committed(layout: &Layout, entries: &[Entry], cache: &DigestCache) -> bool {
    let backup = layout.backup();
    let holds = |rel: &Rel, md5: &str| {
        cache
            .md5(&backup.join(rel))
            .is_ok_and(|m| m.to_string() == md5)
    };
    entries.iter().all(|e| match e {
        Entry::Changed { rel, md5 } | Entry::Added { rel, md5 } => holds(rel, md5),
        Entry::Removed { rel } => fs::symlink_metadata(backup.join(rel)).is_err(),
    })
}

/// The last record, after dropping it when `patch0000` does not hold it (cut short).
fn last_committed(layout: &Layout, cache: &DigestCache) -> Result<Option<(u32, PathBuf)>> {
    let Some((n, dir)) = records(layout)?.pop() else {
        return Ok(None);
    };
    match read_record(&dir) {
        Ok(entries) if committed(layout, &entries, cache) => Ok(Some((n, dir))),
        _ => {
            tracing::warn!(
                "{}: a rebase or undo was cut short; its record no longer matches {}: removed",
                dir.display(),
                layout.backup().display()
            );
            fsops::remove_leftover(&dir)?;
            fsops::sync_dir(&rebase_dir(layout))?;
            Ok(None)
        }
    }
}

/// Builds the new `patch0000` at `staging`: every dir and file of `tree` (the current backup),
/// a file named in `replace` taken from where it says (or left out, for `None`), every other
/// file linked; then the files of `add`. Made durable.
fn build(
    layout: &Layout,
    staging: &Path,
    tree: &Tree,
    replace: &BTreeMap<Rel, Option<PathBuf>>,
    add: &[(Rel, PathBuf)],
    cache: &DigestCache,
) -> Result<()> {
    let backup = layout.backup();
    fsops::create_dir_owned(staging)?;
    for (rel, kind) in tree {
        let (old, new) = (backup.join(rel), staging.join(rel));
        match (kind, replace.get(rel)) {
            (Kind::Dir, _) => fsops::create_dir_owned(&new)?,
            (Kind::File, Some(None)) => {}
            (Kind::File, Some(Some(from))) => {
                let copied = fsops::copy_new(from, &new, fsops::likeness(&old)?)?;
                cache.record(&new, copied.md5);
            }
            (Kind::File, None) => {
                // A link changes the inode's change time: re-record what the cache knew.
                let known = fs::metadata(&old).ok().and_then(|m| cache.known_md5(&m));
                fsops::link_or_copy(&old, &new)?;
                if let Some(md5) = known {
                    cache.record(&new, md5);
                }
            }
        }
    }
    for (rel, from) in add {
        let new = staging.join(rel);
        if let Some(parent) = new.parent() {
            fsops::create_missing_dirs(parent)?;
        }
        let copied = fsops::copy_new(from, &new, fsops::likeness(&new)?)?;
        cache.record(&new, copied.md5);
    }
    fsops::copy_mtime(&backup, staging)?;
    fsops::sync_tree(staging)?;
    fsops::sync_dir(&layout.patches)
}

/// Swaps the tree built at `staging` in as `patch0000`, then removes the old one.
fn swap_in(layout: &Layout, staging: &Path) -> Result<()> {
    fsops::exchange(staging, &layout.backup())?;
    fsops::sync_dir(&layout.patches)?;
    fsops::remove_leftover(staging)?;
    fsops::sync_dir(&layout.patches)
}

/// The current backup's tree.
fn backup_tree(p: &Prepared) -> Result<Tree> {
    scan::read_trees(&p.scan)?
        .backup
        .ok_or_else(|| anyhow!("{}: no backup to rebase", p.scan.layout.backup().display()))
}

/// Removes what an interrupted run left (a cut-short rebase's tree among it), as every run does.
fn remove_leftovers(p: &Prepared) -> Result<()> {
    let deeper = p.plan.apply.iter().flat_map(|a| a.stale_temps.iter());
    for t in p.scan.stale_temps.iter().chain(deeper) {
        fsops::remove_leftover(t)?;
    }
    Ok(())
}

/// Rebases; returns how many files of `patch0000` changed.
fn rebase(layout: &Layout) -> Result<usize> {
    let p = Prepared::restoring(layout)?;
    remove_leftovers(&p)?;
    last_committed(layout, &p.cache)?;
    let mut entries = Vec::new();
    let mut replace = BTreeMap::new();
    let mut add = Vec::new();
    for f in &p.outside.files {
        // What a patch dir or service pack replaces stays out of the baseline.
        if f.action == Action::Replaced {
            continue;
        }
        let rel = Rel::new(&f.file);
        let from = layout.plugins.join(&f.file);
        let md5 = || -> Result<String> {
            Ok(p.cache
                .md5(&from)
                .with_context(|| format!("{}: cannot read", from.display()))?
                .to_string())
        };
        match f.change {
            Change::Changed => {
                entries.push(Entry::Changed {
                    rel: rel.clone(),
                    md5: md5()?,
                });
                replace.insert(rel, Some(from));
            }
            Change::Removed => {
                entries.push(Entry::Removed { rel: rel.clone() });
                replace.insert(rel, None);
            }
            Change::Added => {
                entries.push(Entry::Added {
                    rel: rel.clone(),
                    md5: md5()?,
                });
                add.push((rel, from));
            }
        }
    }
    if entries.is_empty() {
        return Ok(0);
    }
    let tree = backup_tree(&p)?;
    // The record first, whole and durable: from the swap on, it is all that holds the old files.
    let n = records(layout)?.last().map_or(1, |(n, _)| n + 1);
    let dir = rebase_dir(layout);
    fsops::create_dir_all_owned(&dir)?;
    let temp = fsops::temp_beside(&dir.join("x"));
    let kept = (|| -> Result<()> {
        fsops::create_dir_owned(&temp)?;
        for e in &entries {
            if let Entry::Changed { rel, .. } | Entry::Removed { rel } = e {
                let to = temp.join(FILES).join(rel);
                fsops::create_missing_dirs(to.parent().expect("below files/"))?;
                let old = layout.backup().join(rel);
                fsops::copy_new(&old, &to, fsops::likeness(&old)?)?;
            }
        }
        fsops::write_atomic(&temp.join(RECORD), render(&entries)?.as_bytes())?;
        fsops::sync_tree(&temp)?;
        fsops::rename_noreplace(&temp, &dir.join(format!("{n:04}")))?;
        fsops::sync_dir(&dir)
    })();
    if let Err(e) = kept {
        let _ = fsops::remove_leftover(&temp);
        return Err(e);
    }
    let staging = fsops::temp_beside(&layout.backup());
    if let Err(e) = build(layout, &staging, &tree, &replace, &add, &p.cache) {
        let _ = fsops::remove_leftover(&staging);
        let _ = fsops::remove_leftover(&dir.join(format!("{n:04}")));
        return Err(e);
    }
    swap_in(layout, &staging)?;
    if let Err(e) = p.cache.save(false) {
        tracing::warn!("cannot save the digest cache: {e:#}");
    }
    Ok(entries.len())
}

/// Undoes the last rebase; returns its number, `None` when there is none.
fn undo(layout: &Layout) -> Result<Option<u32>> {
    let p = Prepared::new(layout)?;
    remove_leftovers(&p)?;
    let Some((n, dir)) = last_committed(layout, &p.cache)? else {
        return Ok(None);
    };
    let entries = read_record(&dir)?;
    let tree = backup_tree(&p)?;
    let mut replace = BTreeMap::new();
    let mut add = Vec::new();
    for e in entries {
        match e {
            Entry::Changed { rel, .. } => {
                let from = dir.join(FILES).join(&rel);
                replace.insert(rel, Some(from));
            }
            Entry::Added { rel, .. } => {
                replace.insert(rel, None);
            }
            Entry::Removed { rel } => {
                let from = dir.join(FILES).join(&rel);
                add.push((rel, from));
            }
        }
    }
    let staging = fsops::temp_beside(&layout.backup());
    if let Err(e) = build(layout, &staging, &tree, &replace, &add, &p.cache) {
        let _ = fsops::remove_leftover(&staging);
        return Err(e);
    }
    swap_in(layout, &staging)?;
    fsops::remove_leftover(&dir)?;
    fsops::sync_dir(&rebase_dir(layout))?;
    if let Err(e) = p.cache.save(false) {
        tracing::warn!("cannot save the digest cache: {e:#}");
    }
    Ok(Some(n))
}

/// `carbon-patcher rebase`: the exit code.
pub fn run(args: &RebaseArgs) -> i32 {
    let layout = match crate::product::home::resolve(&args.paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    let applies = !args.undo && !args.no_apply;
    // Before anything changes, so exit 5 leaves the product as it was.
    if applies {
        if let Some(code) = apply::refuse_while_running(&layout, &args.control) {
            return code;
        }
    }
    let lock = match apply::lock(&layout, &args.control) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let backup = layout.backup().display().to_string();
    if args.undo {
        let r = undo(&layout);
        drop(lock);
        return match r {
            Ok(Some(n)) => {
                println!(
                    "rebase undone: {backup} holds the baseline from before rebase {n:04} again; \
                     the next patch run would undo the outside changes again (see `carbon-patcher status`)"
                );
                exit::OK
            }
            Ok(None) => {
                println!("nothing to undo: no rebase of {backup} is recorded");
                exit::OK
            }
            Err(e) => {
                report_error(&e);
                exit::ERROR
            }
        };
    }
    let r = rebase(&layout);
    drop(lock);
    match r {
        Ok(0) => println!("nothing to rebase: {backup} already holds what plugins holds"),
        Ok(n) => println!("rebased: {n} file(s) of plugins are now the baseline in {backup}"),
        Err(e) => {
            report_error(&e);
            return exit::ERROR;
        }
    }
    if applies {
        apply::apply(&layout, &args.control)
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let entries = vec![
            Entry::Changed {
                rel: Rel::new("a b.jar"),
                md5: "00".repeat(16),
            },
            Entry::Removed {
                rel: Rel::new("sub/gone.jar"),
            },
            Entry::Added {
                rel: Rel::new("new.jar"),
                md5: "11".repeat(16),
            },
        ];
        let text = render(&entries).unwrap();
        assert_eq!(parse(&text, Path::new("r")).unwrap(), entries);
        assert!(parse("moved x y\n", Path::new("r")).is_err());
        assert!(render(&[Entry::Removed {
            rel: Rel::new("a\nb")
        }])
        .is_err());
    }
}
