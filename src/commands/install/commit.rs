//! Putting a staged patch or service pack in place: validated by the scan's own rules, renamed
//! into place in one step (no-replace, or an atomic exchange for `--replace`), judged by
//! planning the product before and after, and taken back out when it broke the product.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::{target_of, Kind};
use crate::fsops;
use crate::launcher::layout::{self, Layout};
use crate::launcher::model::Scan;
use crate::product::digest_cache::DigestCache;
use crate::product::scan;
use crate::product::Prepared;

/// Checks the staged copy by the rules a run applying it would use (the scan's own), so it is
/// refused before it is visible rather than by the next run.
pub(super) fn validate(layout: &Layout, kind: Kind, name: &str, staged: &Path) -> Result<()> {
    // Nothing learned about a staged file is worth keeping: its name is about to change.
    let cache = DigestCache::default();
    match kind {
        Kind::Patch => scan::read_patch_dir(name, staged, layout, &cache).map(drop),
        Kind::ServicePack => {
            // What makes a dir a service pack at all, whether or not it will be the latest.
            let lib = staged.join(layout::SERVICEPACK_LIB_DIR);
            if !lib.is_dir() {
                bail!("{}: a service pack without a lib/ dir", staged.display());
            }
            let list = staged.join(layout::SERVICEPACK_PATCHES_FILE);
            if !list.is_file() {
                bail!(
                    "{}: a service pack without {}",
                    staged.display(),
                    layout::SERVICEPACK_PATCHES_FILE
                );
            }
            scan::read_servicepack(staged, name, layout, &cache).map(drop)
        }
    }
}

/// Whether two trees hold the same relative paths, each the same kind, files the same bytes.
pub(super) fn same_tree(a: &Path, b: &Path) -> Result<bool> {
    let list = |root: &Path| -> Result<Vec<(PathBuf, fs::FileType, u64)>> {
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(root).sort_by_file_name() {
            let e = e.with_context(|| format!("{}: cannot read", root.display()))?;
            let md = e
                .metadata()
                .with_context(|| format!("{}: cannot read", e.path().display()))?;
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("below root")
                .to_path_buf();
            out.push((rel, md.file_type(), md.len()));
        }
        Ok(out)
    };
    let (la, lb) = (list(a)?, list(b)?);
    if la.len() != lb.len() {
        return Ok(false);
    }
    for ((pa, ta, sa), (pb, tb, sb)) in la.iter().zip(&lb) {
        if pa != pb || ta != tb {
            return Ok(false);
        }
        if ta.is_symlink() {
            if fs::read_link(a.join(pa)).ok() != fs::read_link(b.join(pb)).ok() {
                return Ok(false);
            }
        } else if ta.is_file() && (sa != sb || !same_bytes(&a.join(pa), &b.join(pb))?) {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let open = |p: &Path| {
        File::open(p)
            .map(BufReader::new)
            .with_context(|| format!("{}: cannot read", p.display()))
    };
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n =
            read_full(&mut fa, &mut ba).with_context(|| format!("{}: cannot read", a.display()))?;
        let m =
            read_full(&mut fb, &mut bb).with_context(|| format!("{}: cannot read", b.display()))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What an install did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Installed {
    New,
    /// The same name already held the same content: nothing changed.
    Already,
    /// Swapped for a copy with other content (`--replace`).
    Replaced,
}

/// What an install did, and what the operator should know about it.
#[derive(Debug)]
pub(super) struct Committed {
    pub(super) installed: Installed,
    /// For standard error, beside the `installed:` line; the install stands.
    pub(super) warnings: Vec<String>,
}

/// Judges a copy just made visible by the product as planned before and after it: an error
/// (take it back out) only when the product planned before and no longer does. A product that
/// did not plan before was broken by something else: the copy is kept and the old problem
/// named, rather than a good patch refused for it.
pub(super) fn judge(
    kind: Kind,
    name: &str,
    before: Result<Prepared>,
    after: Result<Prepared>,
) -> Result<Vec<String>> {
    match (before, after) {
        (Ok(_), Err(e)) => Err(e),
        (Err(old), Err(now)) => {
            let (old, now) = (format!("{old:#}"), format!("{now:#}"));
            let now = if now == old {
                String::new()
            } else {
                format!(" (now: {now})")
            };
            Ok(vec![format!(
                "{name} is installed, but the product could not be applied before it was, and \
                 still cannot: {old}{now}; the next apply or server start fails until that is \
                 fixed"
            )])
        }
        (_, Ok(after)) => Ok(ignored(&after.scan, kind, name).into_iter().collect()),
    }
}

/// Why the launcher will not apply what was just installed, if it will not, read off the scan
/// that planned it: it applies only the latest service pack (by `String.compareTo`), and skips
/// the patches that one lists in `servicepack_patches.txt`.
pub(super) fn ignored(scan: &Scan, kind: Kind, name: &str) -> Option<String> {
    let latest = scan.latest_servicepack.as_ref().map(|sp| &sp.source.name);
    match kind {
        Kind::ServicePack => match latest {
            Some(latest) if latest == name => None,
            Some(latest) => Some(format!(
                "{name} will be ignored by the launcher: it applies only the latest service \
                 pack, and {latest} sorts after it"
            )),
            None => Some(format!(
                "{name} will be ignored by the launcher: the last servicepack… entry of {}, \
                 which sorts after it, is not a directory",
                scan.layout.servicepacks.display()
            )),
        },
        Kind::Patch => latest
            .filter(|_| scan.listed_by_servicepack(name))
            .map(|latest| {
                format!(
                "{name} will be ignored by the launcher: the service pack {latest} lists it in \
                 {} (its fixes are part of the service pack)",
                layout::SERVICEPACK_PATCHES_FILE
            )
            }),
    }
}

/// Puts the staged copy at `target`, or finds it is already there. The product is planned
/// before and after it becomes visible; see [`judge`] for when it is taken back out (left under
/// the staging name for the caller to remove) with the planning error.
pub(super) fn commit(
    layout: &Layout,
    kind: Kind,
    name: &str,
    staging: &Path,
    target: &Path,
    replace: bool,
) -> Result<Committed> {
    let parent = target.parent().expect("a target has a parent");
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let before = Prepared::new(layout);
            fsops::rename_noreplace(staging, target)?;
            fsops::sync_dir(parent)?;
            match judge(kind, name, before, Prepared::new(layout)) {
                Ok(warnings) => Ok(Committed {
                    installed: Installed::New,
                    warnings,
                }),
                Err(e) => {
                    fsops::rename_noreplace(target, staging)?;
                    fsops::sync_dir(parent)?;
                    Err(e.context(format!(
                        "{name} taken back out: the product no longer plans with it"
                    )))
                }
            }
        }
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", target.display())),
        Ok(_) => {
            if same_tree(staging, target)? {
                return Ok(Committed {
                    installed: Installed::Already,
                    warnings: Vec::new(),
                });
            }
            if !replace {
                bail!(
                    "{}: already installed with other content; pass --replace to swap it",
                    target.display()
                );
            }
            let before = Prepared::new(layout);
            fsops::exchange(staging, target)?;
            fsops::sync_dir(parent)?;
            match judge(kind, name, before, Prepared::new(layout)) {
                Ok(warnings) => Ok(Committed {
                    installed: Installed::Replaced,
                    warnings,
                }),
                Err(e) => {
                    fsops::exchange(staging, target)?;
                    fsops::sync_dir(parent)?;
                    Err(e.context(format!(
                        "the previous {name} put back: the product no longer plans with the new one"
                    )))
                }
            }
        }
    }
}

/// The staged path in an error, as the operator knows it: where it came from.
pub(super) fn shown_as(e: anyhow::Error, staging: &Path, shown: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    match staging.to_str() {
        Some(s) if text.contains(s) => anyhow!("{}", text.replace(s, shown)),
        _ => e,
    }
}

/// Stages `name` beside `target` with `fill`, checks it, and puts it in place; removes
/// whatever is left under the staging name, and on failure the dirs it created.
pub(super) fn put_in_place(
    layout: &Layout,
    kind: Kind,
    name: &str,
    shown: &str,
    replace: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<(Committed, PathBuf)> {
    let target = target_of(layout, kind, name);
    let parent = target
        .parent()
        .expect("a target has a parent")
        .to_path_buf();
    let created = fsops::create_missing_dirs(&parent)?;
    // A private dot-name: never taken for a patch by the launcher, and removed as a leftover
    // by the next run should we be killed.
    let staging = fsops::temp_beside(&target);
    let result = (|| {
        fill(&staging)?;
        fsops::sync_tree(&staging)?;
        validate(layout, kind, name, &staging).map_err(|e| shown_as(e, &staging, shown))?;
        commit(layout, kind, name, &staging, &target, replace)
    })();
    // Whatever holds the staging name now is ours to remove: an unused copy, the old copy
    // after a swap, or the new one taken back out.
    let cleanup = fsops::remove_leftover(&staging).and_then(|()| fsops::sync_dir(&parent));
    match result {
        Ok(committed) => {
            if let Err(e) = cleanup {
                // Only a cost: the next run removes it as a leftover.
                tracing::warn!("{e:#}");
            }
            Ok((committed, target))
        }
        Err(e) => {
            fsops::remove_created(&created);
            Err(e)
        }
    }
}

pub(super) fn dir_name(dir: &Path) -> Result<String> {
    let name = match dir.file_name() {
        Some(n) => n.to_owned(),
        None => fs::canonicalize(dir)
            .with_context(|| format!("{}: cannot read", dir.display()))?
            .file_name()
            .map(|n| n.to_owned())
            .ok_or_else(|| anyhow!("{}: has no name", dir.display()))?,
    };
    name.into_string()
        .map_err(|_| anyhow!("{}: name is not valid UTF-8", dir.display()))
}
