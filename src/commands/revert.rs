//! `revert` and `restore`: take a patch or service pack out of the product and keep it aside, or
//! put it back, then apply (which restores the bundles from `patch0000` and applies what is
//! left). Owns the backup location (`<state dir>/reverted` unless `--backup` says otherwise,
//! remembered in the state dir as the WSO2 update tool remembers its own `--backup`, and never
//! inside a dir the launcher reads), the record of where each reverted name went, and moving a
//! dir so that no one ever sees half of it, across filesystems too.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{exit, ApplyControl, PathArgs, RestoreArgs, RevertArgs};
use crate::commands::apply::{self, report_error};
use crate::fsops::TEMP_PREFIX;
use crate::fsops::{self, CopyOptions, Links};
use crate::launcher::bundle;
use crate::launcher::layout::{self, Layout};
use crate::product::scan::Moved;

/// The state-dir file that remembers the last `--backup DIR`.
pub const REMEMBERED_BACKUP: &str = "revert-backup-dir";
/// The backup location under the state dir when no `--backup` was ever given.
pub const DEFAULT_BACKUP: &str = "reverted";
/// The state-dir file that remembers where each reverted name went, one line each: the path it
/// was moved to. Only the last `--backup` is the default, so a name reverted under an earlier
/// one is found through this.
pub const REVERTED_RECORD: &str = "reverted-to";

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

/// The backup location when no `--backup` was ever given.
fn default_location(layout: &Layout) -> PathBuf {
    layout.state_dir.join(DEFAULT_BACKUP)
}

/// Where reverted patches are kept when no `--backup` is given: the remembered one, else the
/// default.
fn backup_location(layout: &Layout) -> Result<PathBuf> {
    Ok(remembered(layout)?.unwrap_or_else(|| default_location(layout)))
}

/// `path` as it will be once it exists: absolute, its existing part with links resolved, the
/// rest with `.` dropped and `..` taken back, as `mkdir -p` would create it. Two paths resolved
/// so compare as the kernel sees them, whether or not they exist yet.
fn resolve(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("cannot make {} absolute", path.display()))?;
    let mut at = PathBuf::new();
    // How many of `at`'s last components do not exist (and so are not links).
    let mut missing = 0usize;
    for c in abs.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => at.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                // With nothing missing `at` is canonical, so its parent is the real one.
                at.pop();
                missing = missing.saturating_sub(1);
            }
            Component::Normal(n) => {
                at.push(n);
                if missing > 0 {
                    missing += 1;
                } else {
                    match fs::canonicalize(&at) {
                        Ok(real) => at = real,
                        Err(_) => missing = 1,
                    }
                }
            }
        }
    }
    Ok(at)
}

/// Why `resolved` cannot hold reverted patches, if it cannot: it is, or is inside, a dir the
/// launcher reads at every start (a patch kept in the patches dir is taken for a broken patch
/// and stops the start; kept in plugins, it is copied into patch0000).
fn misplaced(layout: &Layout, resolved: &Path) -> Result<Option<String>> {
    let mut inside = None;
    for (what, dir) in [
        ("the patches dir", &layout.patches),
        ("the service-packs dir", &layout.servicepacks),
        ("plugins", &layout.plugins),
        ("the metadata dir", &layout.metadata),
    ] {
        let dir = resolve(dir)?;
        // The innermost one names it best (the metadata dir is inside the patches dir).
        let deeper = |(_, d): &(&str, PathBuf)| dir.components().count() > d.components().count();
        if resolved.starts_with(&dir) && inside.as_ref().is_none_or(deeper) {
            inside = Some((what, dir));
        }
    }
    Ok(inside.map(|(what, dir)| {
        let how = if resolved == dir { "is" } else { "is inside" };
        format!(
            "{how} {what} ({}), which the launcher reads at every start: a patch kept there \
             would break the product",
            dir.display()
        )
    }))
}

/// Where `revert` keeps NAME: `--backup` (resolved, so what is checked is what is used), else
/// the remembered location, else the default. A location inside a dir the launcher reads is
/// refused, before anything is remembered or moved: exit 2 when it comes from the command
/// line, 1 when it was remembered.
fn revert_location(layout: &Layout, flag: Option<&Path>) -> Result<PathBuf, (i32, anyhow::Error)> {
    let usage = |e: anyhow::Error| (exit::USAGE, e);
    if let Some(dir) = flag {
        if dir.as_os_str().as_bytes().contains(&b'\n') {
            // It could not be remembered: the state files hold one path a line.
            return Err(usage(anyhow!("--backup {dir:?}: a dir with a line break")));
        }
        let at = resolve(dir).map_err(usage)?;
        return match misplaced(layout, &at).map_err(usage)? {
            None => Ok(at),
            Some(why) => Err(usage(anyhow!(
                "--backup {} {why}; keep reverted patches outside the patches, service-packs, \
                 plugins and metadata dirs",
                dir.display()
            ))),
        };
    }
    let error = |e: anyhow::Error| (exit::ERROR, e);
    match remembered(layout).map_err(error)? {
        Some(dir) => match misplaced(layout, &resolve(&dir).map_err(error)?).map_err(error)? {
            None => Ok(dir),
            Some(why) => Err(error(anyhow!(
                "{}, the backup dir {} remembers from an earlier --backup, {why}; nothing was \
                 moved; pass --backup DIR to keep reverted patches elsewhere",
                dir.display(),
                remembered_file(layout).display()
            ))),
        },
        None => {
            let dir = default_location(layout);
            match misplaced(layout, &resolve(&dir).map_err(usage)?).map_err(usage)? {
                None => Ok(dir),
                Some(why) => Err(usage(anyhow!(
                    "{}, the default backup dir under the state dir, {why}; pass --backup DIR, \
                     or a --state-dir outside those dirs",
                    dir.display()
                ))),
            }
        }
    }
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

fn record_file(layout: &Layout) -> PathBuf {
    layout.state_dir.join(REVERTED_RECORD)
}

/// Where each reverted name went, as [`REVERTED_RECORD`] says.
fn records(layout: &Layout) -> Result<Vec<PathBuf>> {
    let file = record_file(layout);
    match fs::read(&file) {
        Ok(bytes) => Ok(bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| PathBuf::from(OsString::from_vec(l.to_vec())))
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", file.display())),
    }
}

fn names(path: &Path, name: &str) -> bool {
    path.file_name() == Some(name.as_ref())
}

/// Rewrites [`REVERTED_RECORD`] atomically; with no record left, removes it.
fn set_records(layout: &Layout, records: &[PathBuf]) -> Result<()> {
    let file = record_file(layout);
    if records.is_empty() {
        return match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("{}: cannot remove", file.display()))
            }
            _ => Ok(()),
        };
    }
    let mut bytes = Vec::new();
    for r in records {
        if r.as_os_str().as_bytes().contains(&b'\n') {
            bail!("{:?}: a backup path with a line break", r);
        }
        bytes.extend_from_slice(r.as_os_str().as_bytes());
        bytes.push(b'\n');
    }
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
            links: Links::Keep,
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

/// Refuses a move of `from` to `to` unless `from` is there and `to` is not.
fn check_move(from: &Path, to: &Path, name: &str, missing: impl FnOnce() -> String) -> Result<()> {
    match fs::symlink_metadata(from) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!("{}", missing()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", from.display())),
    }
    if fs::symlink_metadata(to).is_ok() {
        bail!(
            "{}: already there; {name} is not moved over it",
            to.display()
        );
    }
    Ok(())
}

/// Moves NAME out of the product into `backup`; returns where it went. `remember`: `backup`
/// came from `--backup`, and becomes the default for later runs.
fn move_out(layout: &Layout, name: &str, backup: &Path, remember: bool) -> Result<PathBuf> {
    let from = product_dir_of(layout, name)?.join(name);
    let to = backup.join(name);
    check_move(&from, &to, name, || {
        format!("{}: no such patch or service pack", from.display())
    })?;
    remove_stale(backup)?;
    // Remembered before the move, so a restore finds what was moved even if we are killed
    // right after it; put back if the move fails.
    let previous = remembered(layout)?;
    let remember = remember && previous.as_deref() != Some(backup);
    let records = records(layout)?;
    let mut updated: Vec<PathBuf> = records
        .iter()
        .filter(|r| !names(r, name))
        .cloned()
        .collect();
    updated.push(to.clone());
    let undo = || {
        let mut undone = set_records(layout, &records);
        if remember {
            undone = undone.and(set_remembered(layout, previous.as_deref()));
        }
        if let Err(e) = undone {
            // Only a stale default or record: restore falls back to looking elsewhere.
            tracing::warn!("{e:#}");
        }
    };
    if remember {
        set_remembered(layout, Some(backup))?;
    }
    if let Err(e) = set_records(layout, &updated) {
        undo();
        return Err(e);
    }
    let moved = fsops::create_dir_all_owned(backup).and_then(|()| move_tree(&from, &to));
    if let Err(e) = moved {
        undo();
        return Err(e);
    }
    Ok(to)
}

/// Moves NAME back into the product from `--backup DIR` when given (only there), else from where
/// its revert recorded it went, else from the current default location; returns where it
/// went.
fn move_back(layout: &Layout, name: &str, flag: Option<&Path>, check: bool) -> Result<PathBuf> {
    let product_dir = product_dir_of(layout, name)?;
    let to = product_dir.join(name);
    let records = records(layout)?;
    let mut places = Vec::new();
    match flag {
        Some(dir) => places.push(
            std::path::absolute(dir)
                .with_context(|| format!("cannot make {} absolute", dir.display()))?
                .join(name),
        ),
        None => {
            places.extend(records.iter().filter(|r| names(r, name)).cloned());
            let default = backup_location(layout)?.join(name);
            if !places.contains(&default) {
                places.push(default);
            }
        }
    }
    let from = places
        .iter()
        .find(|p| fs::symlink_metadata(p).is_ok())
        .unwrap_or(&places[0])
        .clone();
    check_move(&from, &to, name, || {
        let looked: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
        format!(
            "{name}: not there; looked for {}; pass --backup DIR to name the dir it is kept in",
            looked.join(" and ")
        )
    })?;
    if check {
        let (name, from) = (name.to_string(), from.clone());
        apply::outside_refusal(layout, &Moved::In { name, from })?;
    }
    let from_parent = from.parent().expect("a joined path has a parent");
    remove_stale(from_parent)?;
    fsops::create_dir_all_owned(&product_dir).and_then(|()| move_tree(&from, &to))?;
    let rest: Vec<PathBuf> = records
        .iter()
        .filter(|r| !names(r, name))
        .cloned()
        .collect();
    if rest.len() != records.len() {
        if let Err(e) = set_records(layout, &rest) {
            // Restored all the same; a stale record only sends a later restore looking there
            // first.
            tracing::warn!("{e:#}");
        }
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
    let layout = match crate::product::home::resolve(&paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    // Where a revert puts NAME, settled before anything moves or is remembered. (A restore
    // looks for NAME under the lock.)
    let revert_to = match direction {
        Direction::Revert => match revert_location(&layout, backup_flag) {
            Ok(dir) => Some(dir),
            Err((code, e)) => {
                report_error(&e);
                return code;
            }
        },
        Direction::Restore => None,
    };
    // Before anything moves, so exit 5 leaves the product as it was.
    if !no_apply {
        if let Some(code) = apply::refuse_while_running(&layout, control) {
            return code;
        }
    }
    let lock = match apply::lock(&layout, control) {
        Ok(l) => l,
        Err(code) => return code,
    };
    // Tab completion of a dir adds a slash: `revert patch0002/` names patch0002.
    let name = name.trim_end_matches('/');
    // The apply after the move, planned before it: one that would undo outside changes is
    // refused with nothing moved.
    let check = !no_apply && !control.revert_outside_changes;
    let moved = match &revert_to {
        Some(backup) => (if check {
            apply::outside_refusal(&layout, &Moved::Out(name.to_string()))
        } else {
            Ok(())
        })
        .and_then(|()| move_out(&layout, name, backup, backup_flag.is_some())),
        None => move_back(&layout, name, backup_flag, check),
    };
    drop(lock);
    match moved {
        Ok(to) => match direction {
            Direction::Revert => println!("reverted: {name} -> {}", to.display()),
            Direction::Restore => println!("restored: {name} -> {}", to.display()),
        },
        Err(e) => {
            report_error(&e);
            return apply::error_code(&e);
        }
    }
    if no_apply {
        exit::OK
    } else {
        apply::apply(&layout, control)
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
        args.backup.as_deref(),
        args.no_apply,
        &args.control,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::layout::PathSettings;

    fn layout(home: &Path) -> Layout {
        crate::product::home::resolve(&PathSettings {
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
            backup_location(&l).unwrap(),
            l.state_dir.join(DEFAULT_BACKUP)
        );
        let elsewhere = dir.path().join("kept");
        set_remembered(&l, Some(&elsewhere)).unwrap();
        assert_eq!(backup_location(&l).unwrap(), elsewhere);
        set_remembered(&l, None).unwrap();
        assert_eq!(
            backup_location(&l).unwrap(),
            l.state_dir.join(DEFAULT_BACKUP)
        );
    }

    #[test]
    fn resolve_follows_links_and_takes_back_dotdot_past_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let r = |p: &str| resolve(&root.join(p)).unwrap();
        assert_eq!(r("link"), root.join("real"));
        assert_eq!(r("link/new/deeper"), root.join("real/new/deeper"));
        assert_eq!(r("missing/../link/x"), root.join("real/x"));
        assert_eq!(r("link/../x"), root.join("x"), "the link's target's parent");
        assert_eq!(r("./real/a/b/../../c"), root.join("real/c"));
        assert_eq!(resolve(Path::new("/../..")).unwrap(), Path::new("/"));
    }

    #[test]
    fn exdev_is_recognised_through_context() {
        let e = anyhow::Error::new(io::Error::from_raw_os_error(libc::EXDEV)).context("rename");
        assert!(is_cross_device(&e));
        assert!(!is_cross_device(&anyhow::anyhow!("other")));
    }
}
