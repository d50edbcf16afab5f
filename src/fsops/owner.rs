//! Who owns what we create, and with which mode: a run as root on a tree owned by the product's
//! user leaves that user owning every file and directory it makes or replaces.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{point, space_point};

/// Who a new file at `target` should belong to, and with which mode: the file it replaces, or
/// (for a file new to its directory) the umask's mode and, when we run as root, the directory's
/// owner. So a run as root on a tree owned by the product's user leaves that user owning it,
/// and the launcher, running as that user, can still rewrite its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Likeness {
    pub(super) mode: Option<u32>,
    pub(super) owner: Option<(u32, u32)>,
}

pub fn likeness(target: &Path) -> Result<Likeness> {
    match fs::metadata(target) {
        Ok(m) => Ok(likeness_of(&m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(likeness_of_new(target)),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", target.display())),
    }
}

/// The [`Likeness`] of a new file replacing the one whose metadata is `m` (for a caller that
/// has just stat'ed it).
pub fn likeness_of(m: &fs::Metadata) -> Likeness {
    Likeness {
        mode: Some(m.permissions().mode() & 0o7777),
        owner: running_as_root().then(|| (m.uid(), m.gid())),
    }
}

/// The [`Likeness`] of a file that replaces nothing: the default mode, the owner of its directory
/// (when running as root).
pub(super) fn likeness_of_new(target: &Path) -> Likeness {
    let parent = target.parent().unwrap_or(Path::new("."));
    let owner = if running_as_root() {
        fs::metadata(parent).ok().map(|m| (m.uid(), m.gid()))
    } else {
        None
    };
    Likeness { mode: None, owner }
}

pub(super) fn apply_likeness(f: &File, path: &Path, like: Likeness) -> Result<()> {
    if let Some(mode) = like.mode {
        f.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: cannot set permissions", path.display()))?;
    }
    if let Some((uid, gid)) = like.owner {
        std::os::unix::fs::fchown(f, Some(uid), Some(gid))
            .with_context(|| format!("{}: cannot set owner", path.display()))?;
        if let Some(mode) = like.mode {
            // chown clears set-id bits; put the mode back whole.
            f.set_permissions(fs::Permissions::from_mode(mode))
                .with_context(|| format!("{}: cannot set permissions", path.display()))?;
        }
    }
    Ok(())
}

pub(super) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// When running as root, gives `path` the owner of its parent directory: what we create in a
/// product owned by its own user stays that user's.
pub fn own_like_parent(path: &Path) -> Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let m = fs::metadata(parent).with_context(|| format!("{}: cannot read", parent.display()))?;
    point(path)?;
    std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()))
        .with_context(|| format!("{}: cannot set owner", path.display()))
}

/// Creates the directory `dir`, whose parent exists, owned as [`own_like_parent`] says.
pub fn create_dir_owned(dir: &Path) -> Result<()> {
    space_point(dir)?;
    fs::create_dir(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    own_like_parent(dir)
}

/// `create_dir_all`, each directory it creates owned as [`own_like_parent`] says, and its name
/// made durable: a power cut would otherwise take the new dir, and whatever was later moved
/// into it, with it.
pub fn create_dir_all_owned(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_owned(parent)?;
    }
    space_point(dir)?;
    match fs::create_dir(dir) {
        Ok(()) => own_like_parent(dir).and_then(|()| sync_parent(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot create", dir.display())),
    }
}

/// Creates `dir` and its missing parents, owned as [`own_like_parent`] says and each name made
/// durable (as [`create_dir_all_owned`]), and returns those it created, outermost first, for [`remove_created`] should what follows fail: a failure leaves
/// no empty directories behind. Fails with nothing of its own left.
pub fn create_missing_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.is_dir())
        .map(Path::to_path_buf)
        .collect();
    let mut created = Vec::new();
    for d in missing.into_iter().rev() {
        if let Err(e) = create_dir_owned(&d).and_then(|()| sync_parent(&d)) {
            remove_created(&created);
            return Err(e);
        }
        created.push(d);
    }
    Ok(created)
}

/// Removes the directories [`create_missing_dirs`] created, innermost first; best effort, for
/// a path that is failing anyway.
pub fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Makes the name of the new directory `dir` durable.
fn sync_parent(dir: &Path) -> Result<()> {
    super::sync::sync_dir(
        dir.parent()
            .filter(|p| *p != Path::new(""))
            .unwrap_or(Path::new(".")),
    )
}
