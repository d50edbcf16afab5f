//! Atomic writes and renames. A file is never truncated and rewritten in place (a running JVM may
//! hold the old one open, and a crash would leave it half-written): its new content goes to a
//! temporary name in the same directory, reaches the disk, and is renamed over the old name.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use super::fault;
use super::owner::{apply_likeness, likeness, likeness_of_new};
use super::sync::sync_dir;
use super::{point, space_point, TEMP_PREFIX};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name beside `target` (never starting with `patch` or `servicepack`).
pub fn temp_beside(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}

/// Writes `bytes` to a new temporary file beside `target`, with the mode and owner of the file
/// it will replace, and syncs it; [`rename`] then puts it in place. Returns the temporary path.
pub fn stage_write(target: &Path, bytes: &[u8]) -> Result<PathBuf> {
    write_temp(target, bytes, true)
}

/// [`stage_write`], syncing only when `durable`.
fn write_temp(target: &Path, bytes: &[u8], durable: bool) -> Result<PathBuf> {
    let tmp = temp_beside(target);
    let result = (|| -> Result<()> {
        space_point(&tmp)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        apply_likeness(&f, &tmp, likeness(target)?)?;
        if durable && !fault::no_sync() {
            f.sync_all()
                .with_context(|| format!("{}: cannot sync", tmp.display()))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `target` atomically and durably: temp file, fsync, rename, fsync dir.
/// Keeps the permissions and owner of the file it replaces.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = stage_write(target, bytes)?;
    if let Err(e) = rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// Creates the marker file `path` holding `text`, unless it is there already (the trace of an
/// interrupted run, kept as it is): `Ok(true)` when this call created it. Only its existence
/// counts, so its name is made durable (one sync of its directory) and its content is not waited
/// for. Never opens an existing file or follows a link planted under its name (`O_EXCL`), and
/// on failure leaves nothing it created.
pub fn write_marker(path: &Path, text: &[u8]) -> Result<bool> {
    space_point(path)?;
    // Never a stat through whatever stands under the name: only a new file gets written.
    let like = likeness_of_new(path);
    let file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot create", path.display())),
    };
    let created = file.is_some();
    let result = (|| -> Result<()> {
        if let Some(mut f) = file {
            f.write_all(text)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            apply_likeness(&f, path, like)?;
        }
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    match result {
        Ok(()) => Ok(created),
        Err(e) => {
            if created {
                let _ = fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Writes `bytes` to `target` atomically (temp file, rename) without waiting for the disk: for
/// a file whose loss or damage after a crash the reader detects and survives.
pub fn write_atomic_unsynced(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(target, bytes, false)?;
    if let Err(e) = rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    point(to)?;
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both strings are NUL-terminated and outlive the call; AT_FDCWD makes relative
    // paths resolve as rename's do.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Renames `from` to `to`, refusing (instead of replacing) an existing `to`: something another
/// hand put there meanwhile is never clobbered. On a filesystem without `RENAME_NOREPLACE` the
/// check and the rename are two steps.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    point(to)?;
    let r = match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            if fs::symlink_metadata(to).is_ok() {
                Err(io::Error::from_raw_os_error(libc::EEXIST))
            } else {
                fs::rename(from, to)
            }
        }
        r => r,
    };
    r.with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

/// Swaps `a` and `b` in one step (`renameat2(RENAME_EXCHANGE)`): at every instant each name
/// holds one whole version, so a reader (or the launcher) never sees neither or a mix.
pub fn exchange(a: &Path, b: &Path) -> Result<()> {
    point(b)?;
    renameat2(a, b, libc::RENAME_EXCHANGE).with_context(|| {
        format!(
            "cannot swap {} and {} atomically (renameat2 RENAME_EXCHANGE)",
            a.display(),
            b.display()
        )
    })
}

/// Removes a leftover of ours (file or directory tree); already gone is fine.
pub fn remove_leftover(path: &Path) -> Result<()> {
    point(path)?;
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.with_context(|| format!("{}: cannot remove leftover temporary file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_marker_is_created_once_and_never_opened_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        assert!(write_marker(&marker, b"first\n").unwrap());
        // Already there (an interrupted run's trace): kept as it is, not ours to remove.
        assert!(!write_marker(&marker, b"second\n").unwrap());
        assert_eq!(fs::read(&marker).unwrap(), b"first\n");
        // A link planted under the name is neither followed nor written through.
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(!write_marker(&planted, b"marker\n").unwrap());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // A dangling link counts as there too (and the run that commits removes it).
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(!write_marker(&dangling, b"marker\n").unwrap());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn write_atomic_replaces_by_rename_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("prePatchedDir.txt");
        fs::write(&target, "old\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let inode_before = fs::metadata(&target).unwrap().ino();
        // A reader holding the old file keeps seeing the old bytes.
        let mut held = File::open(&target).unwrap();
        write_atomic(&target, b"new\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new\n");
        let md = fs::metadata(&target).unwrap();
        assert_ne!(md.ino(), inode_before);
        assert_eq!(md.permissions().mode() & 0o777, 0o640);
        let mut old = String::new();
        held.read_to_string(&mut old).unwrap();
        assert_eq!(old, "old\n");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn noreplace_and_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::write(a.join("f"), b"A").unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(b.join("f"), b"B").unwrap();
        assert!(rename_noreplace(&a, &b).is_err(), "never replaces");
        assert_eq!(fs::read(b.join("f")).unwrap(), b"B");
        exchange(&a, &b).unwrap();
        assert_eq!(fs::read(a.join("f")).unwrap(), b"B");
        assert_eq!(fs::read(b.join("f")).unwrap(), b"A");
        let c = dir.path().join("c");
        rename_noreplace(&a, &c).unwrap();
        assert_eq!(fs::read(c.join("f")).unwrap(), b"B");
        assert!(!a.exists());
    }
}
