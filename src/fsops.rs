//! Atomic file operations. A file is never truncated and rewritten in place (a running JVM may
//! hold the old one open, and a crash would leave it half-written): its new content goes to a
//! temporary name in the same directory, reaches the disk, and is renamed over the old name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::fault::{self, Space};
use crate::scan::TEMP_PREFIX;

/// A fault point (see [`fault`]) for a change that takes no space, as an error of ours.
fn point(path: &Path) -> Result<()> {
    fault::point(path, Space::Free).with_context(|| format!("{}: cannot write", path.display()))
}

/// A fault point for a change that takes space (a new file or directory).
fn space_point(path: &Path) -> Result<()> {
    fault::point(path, Space::Takes).with_context(|| format!("{}: cannot write", path.display()))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name beside `target` (never starting with `patch` or `servicepack`).
pub fn temp_beside(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}

/// Who a new file at `target` should belong to, and with which mode: the file it replaces, or
/// (for a file new to its directory) the umask's mode and, when we run as root, the directory's
/// owner. So a run as root on a tree owned by the product's user leaves that user owning it,
/// and the launcher, running as that user, can still rewrite its metadata.
#[derive(Debug, Clone, Copy)]
pub struct Likeness {
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
}

pub fn likeness(target: &Path) -> Result<Likeness> {
    let root = running_as_root();
    match fs::metadata(target) {
        Ok(m) => Ok(Likeness {
            mode: Some(m.permissions().mode() & 0o7777),
            owner: root.then(|| (m.uid(), m.gid())),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(likeness_of_new(target)),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", target.display())),
    }
}

/// The [`Likeness`] of a file that replaces nothing: the default mode, the owner of its directory
/// (when running as root).
fn likeness_of_new(target: &Path) -> Likeness {
    let parent = target.parent().unwrap_or(Path::new("."));
    let owner = if running_as_root() {
        fs::metadata(parent).ok().map(|m| (m.uid(), m.gid()))
    } else {
        None
    };
    Likeness { mode: None, owner }
}

fn apply_likeness(f: &File, path: &Path, like: Likeness) -> Result<()> {
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

fn running_as_root() -> bool {
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

/// `create_dir_all`, each directory it creates owned as [`own_like_parent`] says, and its
/// name made durable: a power cut would otherwise take the new dir, and whatever was later
/// moved into it, with it.
pub fn create_dir_all_owned(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_owned(parent)?;
    }
    space_point(dir)?;
    match fs::create_dir(dir) {
        Ok(()) => own_like_parent(dir).and_then(|()| {
            sync_dir(
                dir.parent()
                    .filter(|p| *p != Path::new(""))
                    .unwrap_or(Path::new(".")),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{}: cannot create", dir.display())),
    }
}

/// Copies `src` to the new file `dst` (which must not exist), keeping `src`'s modification time
/// (as the launcher's copies do), with the mode and owner `like` says, and returns the MD5 of the
/// bytes copied: what is staged can be checked against what was validated, and the digest cache
/// learns what the new file holds without reading it again. A failure leaves no `dst`. Not
/// synced: the caller syncs a batch at once.
pub fn copy_new(src: &Path, dst: &Path, like: Likeness) -> Result<Copied> {
    space_point(dst)?;
    let mut input = File::open(src).with_context(|| format!("{}: cannot read", src.display()))?;
    let src_md = input
        .metadata()
        .with_context(|| format!("{}: cannot read", src.display()))?;
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .with_context(|| format!("{}: cannot create", dst.display()))?;
    let filled = (|| -> Result<crate::digest::Md5Sum> {
        let (sum, len) = copy_hashing(&mut input, &out)
            .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        if len != src_md.len() {
            anyhow::bail!(
                "{}: changed while being copied ({} bytes expected, {} copied)",
                src.display(),
                src_md.len(),
                len
            );
        }
        // A kill here leaves a whole temporary file that never got its name.
        point(dst)?;
        apply_likeness(&out, dst, like)?;
        let mtime = filetime::FileTime::from_last_modification_time(&src_md);
        filetime::set_file_handle_times(&out, None, Some(mtime))
            .with_context(|| format!("{}: cannot set modification time", dst.display()))?;
        Ok(sum)
    })();
    match filled {
        Ok(md5) => Ok(Copied {
            md5,
            source: src_md,
        }),
        Err(e) => {
            // Nothing half-made is left (a full disk, a source that changed).
            let _ = fs::remove_file(dst);
            Err(e)
        }
    }
}

/// What [`copy_new`] copied.
pub struct Copied {
    /// The MD5 of the bytes copied.
    pub md5: crate::digest::Md5Sum,
    /// The source's metadata, taken before its bytes were read (for the digest cache).
    pub source: fs::Metadata,
}

/// Copies `input` to `out`, hashing what passes, in large blocks: `io::copy`'s 8 KiB would
/// cost two system calls per 8 KiB of a plugins dir of hundreds of MB.
fn copy_hashing(input: &mut File, mut out: &File) -> io::Result<(crate::digest::Md5Sum, u64)> {
    let mut hasher = <md5::Md5 as md5::Digest>::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        md5::Digest::update(&mut hasher, &buf[..n]);
        len += n as u64;
    }
    Ok((
        crate::digest::Md5Sum(md5::Digest::finalize(hasher).into()),
        len,
    ))
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
        set_mtime(to, want)?;
    }
    Ok(())
}

/// Sets the modification time of `path` (a metadata-only change).
pub fn set_mtime(path: &Path, mtime: filetime::FileTime) -> Result<()> {
    point(path)?;
    filetime::set_file_mtime(path, mtime)
        .with_context(|| format!("{}: cannot set modification time", path.display()))
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

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    if fault::no_sync() {
        return Ok(());
    }
    point(dir)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot sync directory", dir.display()))
}

/// Above this many files one `syncfs` beats one `fsync` per file (each fsync commits the journal).
const SYNCFS_THRESHOLD: usize = 64;

/// Makes the content of `files` durable: one fsync each for a few files, one `syncfs` per
/// filesystem they are on for many.
pub fn sync_files(files: &[PathBuf]) -> Result<()> {
    if fault::no_sync() || files.is_empty() {
        return Ok(());
    }
    point(&files[0])?;
    if files.len() <= SYNCFS_THRESHOLD {
        for f in files {
            File::open(f)
                .and_then(|h| h.sync_data())
                .with_context(|| format!("{}: cannot sync", f.display()))?;
        }
        return Ok(());
    }
    let mut devices = std::collections::BTreeMap::new();
    for f in files {
        let dev = fs::metadata(f)
            .with_context(|| format!("{}: cannot read", f.display()))?
            .dev();
        devices.entry(dev).or_insert(f);
    }
    for f in devices.values() {
        sync_filesystem(f)?;
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

/// Makes a whole tree durable: every file's content, then every directory's entries, deepest
/// first, `root` last (its own name is the caller's to sync).
pub fn sync_tree(root: &Path) -> Result<()> {
    if fault::no_sync() {
        return Ok(());
    }
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.map_err(|e| {
            let at = e.path().unwrap_or(root).display().to_string();
            anyhow::anyhow!("{at}: cannot read: {e}")
        })?;
        if e.file_type().is_dir() {
            dirs.push(e.into_path());
        } else if e.file_type().is_file() {
            files.push(e.into_path());
        }
    }
    sync_files(&files)?;
    for d in &dirs {
        sync_dir(d)?;
    }
    Ok(())
}

/// What [`copy_tree`] does with a symbolic link (`src` itself included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Refuse it.
    Refuse,
    /// Recreate it as a link, as a move does.
    Keep,
    /// Copy what it points to, as Java's `File` reads through it.
    Follow,
}

/// What [`copy_tree`] keeps of what it copies.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Keep each file's and directory's mode (and, as root, owner), as a move does; otherwise
    /// new files get the umask's mode and, as root, the owner of the directory they land in.
    pub keep_mode: bool,
    pub links: Links,
}

/// Copies the tree `src` (a directory, file or link) to the new path `dst`, which must not
/// exist, keeping modification times (files and directories). Only directories, regular
/// files and symbolic links (as `links` says) are copied; anything else is refused. Not
/// synced: see [`sync_tree`].
pub fn copy_tree(src: &Path, dst: &Path, opts: CopyOptions) -> Result<()> {
    copy_tree_below(src, dst, opts, &mut Vec::new())
}

/// [`copy_tree`], `ancestors` holding the (device, inode) of every dir being copied above
/// `src`: a followed link leading back to one of them would copy forever.
fn copy_tree_below(
    src: &Path,
    dst: &Path,
    opts: CopyOptions,
    ancestors: &mut Vec<(u64, u64)>,
) -> Result<()> {
    let mut md =
        fs::symlink_metadata(src).with_context(|| format!("{}: cannot read", src.display()))?;
    if md.file_type().is_symlink() {
        match opts.links {
            Links::Refuse => anyhow::bail!(
                "{}: a symbolic link; only regular files and directories are copied",
                src.display()
            ),
            Links::Keep => {
                let target = fs::read_link(src)
                    .with_context(|| format!("{}: cannot read", src.display()))?;
                space_point(dst)?;
                std::os::unix::fs::symlink(&target, dst)
                    .with_context(|| format!("{}: cannot create", dst.display()))?;
                if opts.keep_mode && running_as_root() {
                    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
                        .with_context(|| format!("{}: cannot set owner", dst.display()))?;
                }
                return Ok(());
            }
            Links::Follow => {
                md = fs::metadata(src).with_context(|| {
                    format!("{}: a symbolic link that leads nowhere", src.display())
                })?;
            }
        }
    }
    let ft = md.file_type();
    if ft.is_file() {
        let like = if opts.keep_mode {
            likeness(src)?
        } else {
            likeness(dst)?
        };
        copy_new(src, dst, like)?;
        return Ok(());
    }
    if !ft.is_dir() {
        anyhow::bail!("{}: not a regular file or directory", src.display());
    }
    let id = (md.dev(), md.ino());
    if ancestors.contains(&id) {
        anyhow::bail!(
            "{}: a symbolic link loop (it leads back to a dir it is in)",
            src.display()
        );
    }
    create_dir_owned(dst)?;
    let entries = fs::read_dir(src).with_context(|| format!("{}: cannot list", src.display()))?;
    ancestors.push(id);
    for e in entries {
        let e = e.with_context(|| format!("{}: cannot list", src.display()))?;
        copy_tree_below(&e.path(), &dst.join(e.file_name()), opts, ancestors)?;
    }
    ancestors.pop();
    // Mode and time last: filling the directory moves its time, and a read-only mode would
    // have stopped the filling.
    point(dst)?;
    if opts.keep_mode {
        if running_as_root() {
            std::os::unix::fs::chown(dst, Some(md.uid()), Some(md.gid()))
                .with_context(|| format!("{}: cannot set owner", dst.display()))?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(md.permissions().mode()))
            .with_context(|| format!("{}: cannot set permissions", dst.display()))?;
    }
    filetime::set_file_mtime(dst, filetime::FileTime::from_last_modification_time(&md))
        .with_context(|| format!("{}: cannot set modification time", dst.display()))?;
    Ok(())
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
    use std::io::Read;

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

    #[test]
    fn copy_tree_keeps_modes_times_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("lib")).unwrap();
        fs::write(src.join("lib/a.jar"), b"jar").unwrap();
        fs::set_permissions(src.join("lib/a.jar"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("lib/a.jar", src.join("link")).unwrap();
        let t = filetime::FileTime::from_unix_time(1_000_000_000, 5);
        filetime::set_file_mtime(src.join("lib/a.jar"), t).unwrap();
        filetime::set_file_mtime(src.join("lib"), t).unwrap();
        fs::set_permissions(src.join("lib"), fs::Permissions::from_mode(0o750)).unwrap();

        let keep = CopyOptions {
            keep_mode: true,
            links: Links::Keep,
        };
        let dst = dir.path().join("dst");
        copy_tree(&src, &dst, keep).unwrap();
        let md = fs::metadata(dst.join("lib/a.jar")).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o640);
        assert_eq!(filetime::FileTime::from_last_modification_time(&md), t);
        let md = fs::metadata(dst.join("lib")).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o750);
        assert_eq!(filetime::FileTime::from_last_modification_time(&md), t);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("lib/a.jar")
        );
        sync_tree(&dst).unwrap();

        let no_links = CopyOptions {
            keep_mode: false,
            links: Links::Refuse,
        };
        let err = copy_tree(&src, &dir.path().join("dst2"), no_links).unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");

        let follow = CopyOptions {
            keep_mode: true,
            links: Links::Follow,
        };
        let dst = dir.path().join("dst3");
        copy_tree(&src, &dst, follow).unwrap();
        let md = fs::symlink_metadata(dst.join("link")).unwrap();
        assert!(md.is_file());
        assert_eq!(md.permissions().mode() & 0o777, 0o640, "the target's mode");
        assert_eq!(fs::read(dst.join("link")).unwrap(), b"jar");
        // A link back to a dir being copied is refused, not followed forever.
        std::os::unix::fs::symlink("..", src.join("lib/up")).unwrap();
        let err = copy_tree(&src, &dir.path().join("dst4"), follow).unwrap_err();
        assert!(format!("{err:#}").contains("loop"), "{err:#}");
    }

    #[test]
    fn copy_new_keeps_mtime_and_compares() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.jar");
        fs::write(&src, b"bytes").unwrap();
        let t = filetime::FileTime::from_unix_time(1_000_000_000, 123_456_789);
        filetime::set_file_mtime(&src, t).unwrap();
        let dst = dir.path().join("b.jar");
        let like = Likeness {
            mode: Some(0o600),
            owner: None,
        };
        copy_new(&src, &dst, like).unwrap();
        let md = fs::metadata(&dst).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&md), t);
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&src).unwrap(), fs::read(&dst).unwrap());
        fs::write(&dst, b"bytez").unwrap();
        assert_ne!(fs::read(&src).unwrap(), fs::read(&dst).unwrap());
        assert!(
            copy_new(&src, &dst, likeness(&dst).unwrap()).is_err(),
            "never overwrites"
        );
    }
}
