//! `revert` and `restore`: take a patch or service pack out of the product and keep it aside, or
//! put it back, then apply (which restores the bundles from `patch0000` and applies what is
//! left). Owns the backup location (`<state dir>/reverted` unless `--backup` says otherwise,
//! remembered in the state dir as the WSO2 update tool remembers its own `--backup`) and moving
//! a dir so that no one ever sees half of it, across filesystems too.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::bundle;
use crate::cli::{exit, ApplyControl, PathArgs, RestoreArgs, RevertArgs};
use crate::fsops::{self, CopyOptions};
use crate::layout::{self, Layout};
use crate::oneshot::{self, report_error};
use crate::scan::TEMP_PREFIX;

/// The state-dir file that remembers the last `--backup DIR`.
pub const REMEMBERED_BACKUP: &str = "revert-backup-dir";
/// The backup location under the state dir when no `--backup` was ever given.
pub const DEFAULT_BACKUP: &str = "reverted";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Revert,
    Restore,
}

/// Where NAME lives in the product: a `patch…` in the patches dir, a `servicepack…` in the
/// service-packs dir. `patch0000` is the launcher's backup, never moved.
fn product_dir_of(layout: &Layout, name: &str) -> Result<PathBuf> {
    if name == layout::BACKUP_DIR {
        bail!("{name} is the launcher's backup of plugins, not a patch; it is never reverted");
    }
    bundle::check_safe_name(name).with_context(|| format!("{name:?}"))?;
    if name.starts_with("patch") {
        Ok(layout.patches.clone())
    } else if name.starts_with("servicepack") {
        Ok(layout.servicepacks.clone())
    } else {
        bail!("{name:?}: neither a patch (patch…) nor a service pack (servicepack…)");
    }
}

fn remembered_file(layout: &Layout) -> PathBuf {
    layout.state_dir.join(REMEMBERED_BACKUP)
}

/// The remembered backup location, if any.
fn remembered(layout: &Layout) -> Result<Option<PathBuf>> {
    let file = remembered_file(layout);
    match fs::read(&file) {
        Ok(mut bytes) => {
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            if bytes.is_empty() {
                return Ok(None);
            }
            Ok(Some(PathBuf::from(OsString::from_vec(bytes))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", file.display())),
    }
}

/// Where reverted patches are kept: `--backup`, else the remembered one, else the default.
fn backup_location(layout: &Layout, flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return std::path::absolute(dir)
            .with_context(|| format!("cannot make {} absolute", dir.display()));
    }
    Ok(remembered(layout)?.unwrap_or_else(|| layout.state_dir.join(DEFAULT_BACKUP)))
}

/// Writes (or, with `None`, removes) the remembered backup location.
fn set_remembered(layout: &Layout, dir: Option<&Path>) -> Result<()> {
    let file = remembered_file(layout);
    let Some(dir) = dir else {
        return match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("{}: cannot remove", file.display()))
            }
            _ => Ok(()),
        };
    };
    let mut bytes = dir.as_os_str().as_bytes().to_vec();
    if bytes.contains(&b'\n') {
        bail!("{:?}: a backup dir with a line break", dir);
    }
    bytes.push(b'\n');
    fsops::create_dir_all_owned(&layout.state_dir)?;
    fsops::write_atomic(&file, &bytes)
}

fn is_cross_device(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.raw_os_error() == Some(libc::EXDEV))
}

/// Moves `from` to the new path `to`: one rename on the same filesystem. Across filesystems:
/// a copy (modes, times kept) under a private name beside `to`, made durable and renamed into
/// place; only then is the original renamed to a private name and removed, so neither place
/// ever shows half a patch.
fn move_tree(from: &Path, to: &Path) -> Result<()> {
    let from_parent = from.parent().expect("a patch path has a parent");
    let to_parent = to.parent().expect("a patch path has a parent");
    match fsops::rename_noreplace(from, to) {
        Ok(()) => {
            fsops::sync_dir(to_parent)?;
            return fsops::sync_dir(from_parent);
        }
        Err(e) if is_cross_device(&e) => {}
        Err(e) => return Err(e),
    }
    let staging = fsops::temp_beside(to);
    let copied = (|| {
        let keep = CopyOptions {
            keep_mode: true,
            links: true,
        };
        fsops::copy_tree(from, &staging, keep)?;
        fsops::sync_tree(&staging)?;
        fsops::rename_noreplace(&staging, to)?;
        fsops::sync_dir(to_parent)
    })();
    if let Err(e) = copied {
        let _ = fsops::remove_leftover(&staging);
        return Err(e);
    }
    let gone = fsops::temp_beside(from);
    fsops::rename(from, &gone)?;
    fsops::sync_dir(from_parent)?;
    if let Err(e) = fsops::remove_leftover(&gone) {
        // Moved all the same; the private name is removed as a leftover later.
        tracing::warn!("{e:#}");
    }
    Ok(())
}

/// Removes what an interrupted move left in the backup location under our private names (the
/// patches and service-packs dirs are cleaned by every run).
fn remove_stale(backup: &Path) -> Result<()> {
    let Ok(rd) = fs::read_dir(backup) else {
        return Ok(());
    };
    for e in rd.flatten() {
        if e.file_name().as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
            fsops::remove_leftover(&e.path())?;
        }
    }
    Ok(())
}

/// Moves NAME out of the product (revert) or back in (restore); returns where it went.
fn shelve(
    layout: &Layout,
    direction: Direction,
    name: &str,
    backup_flag: Option<&Path>,
) -> Result<PathBuf> {
    let product_dir = product_dir_of(layout, name)?;
    let backup = backup_location(layout, backup_flag)?;
    let (from, to, to_parent) = match direction {
        Direction::Revert => (product_dir.join(name), backup.join(name), &backup),
        Direction::Restore => (backup.join(name), product_dir.join(name), &product_dir),
    };
    match fs::symlink_metadata(&from) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => match direction {
            Direction::Revert => bail!("{}: no such patch or service pack", from.display()),
            Direction::Restore => bail!(
                "{}: not there; reverted patches are kept in {}",
                from.display(),
                backup.display()
            ),
        },
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", from.display())),
    }
    if fs::symlink_metadata(&to).is_ok() {
        bail!(
            "{}: already there; {name} is not moved over it",
            to.display()
        );
    }
    remove_stale(&backup)?;
    // Remembered before the move, so a restore finds what was moved; put back if it fails.
    let previous = remembered(layout)?;
    let remember = backup_flag.is_some() && previous.as_deref() != Some(backup.as_path());
    if remember {
        set_remembered(layout, Some(&backup))?;
    }
    let moved = fsops::create_dir_all_owned(to_parent).and_then(|()| move_tree(&from, &to));
    if let Err(e) = moved {
        if remember {
            if let Err(e) = set_remembered(layout, previous.as_deref()) {
                tracing::warn!("{e:#}");
            }
        }
        return Err(e);
    }
    Ok(to)
}

fn run(
    paths: &PathArgs,
    direction: Direction,
    name: &str,
    backup_flag: Option<&Path>,
    no_apply: bool,
    control: &ApplyControl,
) -> i32 {
    let layout = match Layout::resolve(&paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    // Before anything moves, so exit 5 leaves the product as it was.
    if !no_apply {
        if let Some(code) = oneshot::refuse_while_running(&layout, control) {
            return code;
        }
    }
    let lock = match oneshot::lock(&layout, control) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let moved = shelve(&layout, direction, name, backup_flag);
    drop(lock);
    match moved {
        Ok(to) => match direction {
            Direction::Revert => println!("reverted: {name} -> {}", to.display()),
            Direction::Restore => println!("restored: {name} -> {}", to.display()),
        },
        Err(e) => {
            report_error(&e);
            return exit::ERROR;
        }
    }
    if no_apply {
        exit::OK
    } else {
        oneshot::apply(&layout, control)
    }
}

/// `carbon-patcher revert`: the exit code.
pub fn revert(args: &RevertArgs) -> i32 {
    run(
        &args.paths,
        Direction::Revert,
        &args.name,
        args.backup.as_deref(),
        args.no_apply,
        &args.control,
    )
}

/// `carbon-patcher restore`: the exit code.
pub fn restore(args: &RestoreArgs) -> i32 {
    run(
        &args.paths,
        Direction::Restore,
        &args.name,
        None,
        args.no_apply,
        &args.control,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::PathSettings;

    fn layout(home: &Path) -> Layout {
        Layout::resolve(&PathSettings {
            carbon_home: Some(home.to_path_buf()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn names_map_to_their_dirs() {
        let l = layout(Path::new("/h"));
        assert_eq!(product_dir_of(&l, "patch0001").unwrap(), l.patches);
        assert_eq!(product_dir_of(&l, "servicepack01").unwrap(), l.servicepacks);
        for bad in ["patch0000", "plugins", "patch0001/../x", "../patch1", ""] {
            assert!(product_dir_of(&l, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_location_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(dir.path());
        assert_eq!(
            backup_location(&l, None).unwrap(),
            l.state_dir.join(DEFAULT_BACKUP)
        );
        let elsewhere = dir.path().join("kept");
        set_remembered(&l, Some(&elsewhere)).unwrap();
        assert_eq!(backup_location(&l, None).unwrap(), elsewhere);
        set_remembered(&l, None).unwrap();
        assert_eq!(
            backup_location(&l, None).unwrap(),
            l.state_dir.join(DEFAULT_BACKUP)
        );
    }

    #[test]
    fn exdev_is_recognised_through_context() {
        let e = anyhow::Error::new(io::Error::from_raw_os_error(libc::EXDEV)).context("rename");
        assert!(is_cross_device(&e));
        assert!(!is_cross_device(&anyhow::anyhow!("other")));
    }
}
