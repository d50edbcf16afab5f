//! Making changes durable: file data (`fsync`, or one `syncfs` for many files) and directory
//! entries (`fsync` of the directory).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::fault;
use super::point;

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
