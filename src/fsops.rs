//! Atomic file operations. A file is never truncated and rewritten in place (a running JVM may
//! hold the old one open, and a crash would leave it half-written): its new content goes to a
//! temporary name in the same directory, reaches the disk, and is renamed over the old name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::scan::TEMP_PREFIX;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name beside `target` (never starting with `patch` or `servicepack`).
pub fn temp_beside(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}

/// Copies `src` to the new file `dst` (which must not exist), keeping `src`'s modification time
/// (as the launcher's copies do) and giving it `mode` (or the umask's default when `None`).
/// Not synced: the caller syncs a batch at once.
pub fn copy_new(src: &Path, dst: &Path, mode: Option<u32>) -> Result<()> {
    let mut input = File::open(src).with_context(|| format!("{}: cannot read", src.display()))?;
    let src_md = input
        .metadata()
        .with_context(|| format!("{}: cannot read", src.display()))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .with_context(|| format!("{}: cannot create", dst.display()))?;
    // `io::copy` between files uses copy_file_range where the kernel has it.
    let copied = io::copy(&mut input, &mut out)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    if copied != src_md.len() {
        anyhow::bail!(
            "{}: changed while being copied ({} bytes expected, {copied} copied)",
            src.display(),
            src_md.len()
        );
    }
    if let Some(mode) = mode {
        out.set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: cannot set permissions", dst.display()))?;
    }
    let mtime = filetime::FileTime::from_last_modification_time(&src_md);
    filetime::set_file_handle_times(&out, None, Some(mtime))
        .with_context(|| format!("{}: cannot set modification time", dst.display()))?;
    Ok(())
}

/// Gives `to` the modification time of `from` when it differs.
pub fn copy_mtime(from: &Path, to: &Path) -> Result<()> {
    let want = fs::metadata(from)
        .map(|m| filetime::FileTime::from_last_modification_time(&m))
        .with_context(|| format!("{}: cannot read", from.display()))?;
    let have = fs::metadata(to)
        .map(|m| filetime::FileTime::from_last_modification_time(&m))
        .with_context(|| format!("{}: cannot read", to.display()))?;
    if want != have {
        filetime::set_file_mtime(to, want)
            .with_context(|| format!("{}: cannot set modification time", to.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `target` atomically and durably: temp file, fsync, rename, fsync dir.
/// Keeps the permissions of the file it replaces.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(target);
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        if let Some(mode) = existing_mode(target)? {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()
            .with_context(|| format!("{}: cannot sync", tmp.display()))?;
        rename(&tmp, target)?;
        sync_dir(target.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The permission bits of `path`, or `None` when it does not exist.
pub fn existing_mode(path: &Path) -> Result<Option<u32>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m.permissions().mode() & 0o7777)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
    }
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot sync directory", dir.display()))
}

/// Above this many files one `syncfs` beats one `fsync` per file (each fsync commits the journal).
const SYNCFS_THRESHOLD: usize = 64;

/// Makes the content of `files` (all on the filesystem holding `anchor`) durable: one fsync each
/// for a few files, one `syncfs` for many.
pub fn sync_files(files: &[PathBuf], anchor: &Path) -> Result<()> {
    if files.len() > SYNCFS_THRESHOLD {
        return sync_filesystem(anchor);
    }
    for f in files {
        File::open(f)
            .and_then(|h| h.sync_data())
            .with_context(|| format!("{}: cannot sync", f.display()))?;
    }
    Ok(())
}

/// Flushes every written file of the filesystem holding `path` in one call.
fn sync_filesystem(path: &Path) -> Result<()> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    // SAFETY: syncfs only reads the descriptor, which `f` keeps open for the call.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("{}: cannot sync filesystem", path.display()));
    }
    Ok(())
}

/// Whether two files hold the same bytes (sizes first, then a streamed comparison).
pub fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let (ma, mb) = match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => (ma, mb),
        _ => return Ok(false),
    };
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
        return Ok(false);
    }
    let mut fa = File::open(a).with_context(|| format!("{}: cannot read", a.display()))?;
    let mut fb = File::open(b).with_context(|| format!("{}: cannot read", b.display()))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
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

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut total = 0;
    while total < buf.len() {
        match f.read(&mut buf[total..]) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Removes a leftover of ours (file or directory tree); already gone is fine.
pub fn remove_leftover(path: &Path) -> Result<()> {
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
    use std::os::unix::fs::MetadataExt;

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
    fn copy_new_keeps_mtime_and_compares() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.jar");
        fs::write(&src, b"bytes").unwrap();
        let t = filetime::FileTime::from_unix_time(1_000_000_000, 123_456_789);
        filetime::set_file_mtime(&src, t).unwrap();
        let dst = dir.path().join("b.jar");
        copy_new(&src, &dst, Some(0o600)).unwrap();
        let md = fs::metadata(&dst).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&md), t);
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        assert!(same_content(&src, &dst).unwrap());
        fs::write(&dst, b"bytez").unwrap();
        assert!(!same_content(&src, &dst).unwrap());
        assert!(copy_new(&src, &dst, None).is_err(), "never overwrites");
    }
}
