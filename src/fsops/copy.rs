//! Copies that keep what the launcher's copies keep (modification times), hash the bytes on the
//! way, and never leave a half-made file behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use super::digest::{md5_reader, Md5Sum};
use super::owner::{apply_likeness, create_dir_owned, likeness, running_as_root, Likeness};
use super::{point, space_point};

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
    let filled = (|| -> Result<Md5Sum> {
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
    pub md5: Md5Sum,
    /// The source's metadata, taken before its bytes were read (for the digest cache).
    pub source: fs::Metadata,
}

/// Copies `input` to `out` while [`md5_reader`] hashes what passes: one read-and-hash loop for
/// the whole crate. Returns the digest and the number of bytes copied.
fn copy_hashing(input: &mut File, out: &File) -> io::Result<(Md5Sum, u64)> {
    let mut tee = Tee { input, out, len: 0 };
    let sum = md5_reader(&mut tee)?;
    Ok((sum, tee.len))
}

/// A reader that writes everything it reads to `out`.
struct Tee<'a> {
    input: &'a mut File,
    out: &'a File,
    len: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.out.write_all(&buf[..n])?;
        self.len += n as u64;
        Ok(n)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::sync_tree;

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
