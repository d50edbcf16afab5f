//! Reads the product tree into a [`Scan`] value: the candidates of the service-packs and patches
//! dirs, the latest service pack, the patch dirs in play with their entries (readdir order, bundle
//! names, MD5s), the `plugins` and `patch0000` trees, and the metadata files. Everything the plan
//! needs is read here, once, and every structural problem is refused here with the file and the
//! reason, before anything is written. (What only copying reads, the bytes of `plugins` and
//! `patch0000`, is read while an apply stages, which also leaves the product as it was when it
//! fails.)

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;

use crate::fsops::digest::Md5Sum;
use crate::launcher::bundle;
use crate::launcher::java;
use crate::launcher::layout::{self, Layout};
use crate::launcher::model::{
    is_listed, Backup, Candidate, Entry, Kind, Rel, Scan, ServicePack, Source, Tree, Trees,
};
use crate::product::digest_cache::DigestCache;
use crate::product::jar;

use crate::fsops::TEMP_PREFIX;
/// Where a new `patch0000` is built before it is renamed into place.
pub const BACKUP_STAGING: &str = ".carbon-patcher-backup";

fn utf8_name(name: OsString, dir: &Path) -> Result<String> {
    name.into_string().map_err(|raw| {
        anyhow!(
            "{}: name is not valid UTF-8; the launcher would mangle it",
            dir.join(raw).display()
        )
    })
}

/// One entry of a directory listing.
struct Listed(fs::DirEntry);

impl Listed {
    fn name(&self) -> OsString {
        self.0.file_name()
    }

    fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// Whether the entry is a symbolic link: from the listing itself where the filesystem gives
    /// the type there, else one `lstat` (asked only of the entries that matter).
    fn is_symlink(&self) -> bool {
        self.0.file_type().is_ok_and(|t| t.is_symlink())
    }
}

/// A directory's entries in listing order (Java's `File.listFiles`), or `None` when it does not
/// exist (Java's `listFiles` returns null).
fn list_dir(dir: &Path) -> Result<Option<Vec<Listed>>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", dir.display())),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("{}: cannot list", dir.display()))?;
        out.push(Listed(e));
    }
    Ok(Some(out))
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

fn is_candidate(name: &[u8]) -> bool {
    name.starts_with(b"patch") || name.starts_with(b"servicepack")
}

fn is_ours(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX.as_bytes()) || name == BACKUP_STAGING.as_bytes()
}

/// Refuses a symbolic link that leads out of the product, unless links are to be followed: a
/// patch should not pull in files from wherever a link points.
fn check_link(entry: &Listed, layout: &Layout) -> Result<()> {
    // An entry gone since the listing reads as no link; reading it then says it is gone.
    if layout.follow_symlinks || !entry.is_symlink() {
        return Ok(());
    }
    let path = &entry.path();
    let target = fs::canonicalize(path)
        .with_context(|| format!("{}: a symbolic link that leads nowhere", path.display()))?;
    let home = fs::canonicalize(&layout.carbon_home).unwrap_or(layout.carbon_home.clone());
    if !target.starts_with(&home) {
        bail!(
            "{}: a symbolic link to {}, outside the product; pass --follow-symlinks to allow it",
            path.display(),
            target.display()
        );
    }
    Ok(())
}

/// The candidates of the patches or service-packs dir, sorted, from one listing that also
/// yields our leftovers there (into `temps`).
fn candidates(dir: &Path, layout: &Layout, temps: &mut Vec<PathBuf>) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for entry in list_dir(dir)?.unwrap_or_default() {
        let raw = entry.name();
        if is_ours(raw.as_encoded_bytes()) {
            temps.push(entry.path());
            continue;
        }
        if !is_candidate(raw.as_encoded_bytes()) {
            continue;
        }
        let name = utf8_name(raw, dir)?;
        let path = entry.path();
        bundle::check_line_safe(&name).with_context(|| format!("{}", path.display()))?;
        check_link(&entry, layout)?;
        out.push(Candidate {
            is_dir: is_dir(&path),
            name,
        });
    }
    out.sort_by(|a, b| java::compare(&a.name, &b.name));
    Ok(out)
}

/// Reads the entries of a patch dir or a service pack's `lib`: every entry must be a regular
/// file, every `.jar` a sound jar.
/// `what` names the dir for messages; `why` says how the launcher fails on a directory in it.
/// A patch entry, named in `plugins` as the launcher names it.
fn named_entry(name: String, path: PathBuf, manifest_name: Option<String>, md5: Md5Sum) -> Entry {
    Entry {
        bundle_name: bundle::name_in_plugins(&name, manifest_name),
        name,
        path,
        md5,
    }
}

fn read_source(
    name: &str,
    dir: &Path,
    layout: &Layout,
    cache: &DigestCache,
    what: &str,
    why: &str,
) -> Result<Source> {
    let listing = list_dir(dir)?.ok_or_else(|| anyhow!("{}: cannot list", dir.display()))?;
    let mut entries = Vec::with_capacity(listing.len());
    // Entries the cache does not know: (index, entry name, path, metadata).
    let mut unknown = Vec::new();
    for entry in listing {
        let entry_name = utf8_name(entry.name(), dir)?;
        check_link(&entry, layout)?;
        let path = entry.path();
        let md = fs::metadata(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        if md.is_dir() {
            bail!(
                "{}: a directory inside {what}; only files can be applied ({why})",
                path.display()
            );
        }
        if !md.is_file() {
            bail!("{}: not a regular file", path.display());
        }
        bundle::check_line_safe(&entry_name).with_context(|| format!("{}", path.display()))?;
        let known = if bundle::is_jar_name(&entry_name) {
            cache.known_jar(&md)
        } else {
            cache.known_md5(&md).map(|md5| (None, md5))
        };
        match known {
            Some((manifest_name, md5)) => {
                entries.push(Some(named_entry(entry_name, path, manifest_name, md5)))
            }
            None => {
                unknown.push((entries.len(), entry_name, path, md));
                entries.push(None);
            }
        }
    }
    // Checking and hashing what the cache does not know, on every core when there is more than
    // one (a run that changes nothing starts no threads); the first error in listing order.
    let check = |(i, entry_name, path, md): (usize, String, PathBuf, fs::Metadata)| {
        // A non-jar is copied under its own name; the launcher never looks inside.
        let jar = bundle::is_jar_name(&entry_name);
        let (manifest_name, md5) = cache
            .read_entry(&path, &md, jar, || jar::manifest_bundle_name(&path))
            .with_context(|| format!("{}", path.display()))?;
        Ok((i, named_entry(entry_name, path, manifest_name, md5)))
    };
    let checked: Vec<Result<(usize, Entry)>> = if unknown.len() > 1 {
        unknown.into_par_iter().map(check).collect()
    } else {
        unknown.into_iter().map(check).collect()
    };
    for r in checked {
        let (i, e) = r?;
        entries[i] = Some(e);
    }
    Ok(Source {
        name: name.to_string(),
        path: dir.to_path_buf(),
        entries: entries
            .into_iter()
            .map(|e| e.expect("every entry read"))
            .collect(),
    })
}

/// Reads and checks a service pack dir as a run applying it would: `lib/` and
/// `servicepack_patches.txt` present, every entry of `lib/` a regular file, every `.jar` a sound
/// jar with a safe bundle name. `install` calls it on a service pack before it becomes visible.
pub fn read_servicepack(
    dir: &Path,
    name: &str,
    layout: &Layout,
    cache: &DigestCache,
) -> Result<ServicePack> {
    let lib = dir.join(layout::SERVICEPACK_LIB_DIR);
    if !lib.exists() {
        bail!(
            "{}: the latest service pack has no {}/ directory",
            dir.display(),
            layout::SERVICEPACK_LIB_DIR
        );
    }
    let list_file = dir.join(layout::SERVICEPACK_PATCHES_FILE);
    let text = read_text(&list_file)?.ok_or_else(|| {
        anyhow!(
            "{}: the latest service pack has no {}",
            list_file.display(),
            layout::SERVICEPACK_PATCHES_FILE
        )
    })?;
    let listed = java::read_lines(&text)
        .into_iter()
        .map(String::from)
        .collect();
    if !is_dir(&lib) {
        // A `lib` that is a file: the launcher lists nothing in it and applies nothing from it.
        let source = Source {
            name: name.to_string(),
            path: lib,
            entries: Vec::new(),
        };
        return Ok(ServicePack { source, listed });
    }
    let source = read_source(
        name,
        &lib,
        layout,
        cache,
        "a service pack's lib/",
        "the launcher copies it, then cannot checksum it and fails verification on every start",
    )?;
    Ok(ServicePack { source, listed })
}

/// Reads and checks a patch dir as a run applying it would: every entry a regular file, every
/// `.jar` a sound jar with a safe bundle name. `install` calls it on a patch before it becomes
/// visible, so it is refused by the very rules a run would refuse it by.
pub fn read_patch_dir(
    name: &str,
    dir: &Path,
    layout: &Layout,
    cache: &DigestCache,
) -> Result<Source> {
    read_source(
        name,
        dir,
        layout,
        cache,
        "a patch dir",
        "the launcher dies copying it, half-way through the apply",
    )
}

/// A file's bytes, or `None` when it does not exist.
fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
    }
}

/// A text file as Java's `FileReader` sees it (undecodable bytes become U+FFFD), or `None` when
/// it does not exist.
fn read_text(path: &Path) -> Result<Option<String>> {
    Ok(read_bytes(path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Lists a tree recursively (following links, as Java's `File` does), parents first. Files are
/// not opened here: those an apply copies are read while it stages, where a file that cannot be
/// read fails the run before anything visible changes. Our own temporary files are left out and
/// reported in `temps`.
fn read_tree(root: &Path, temps: &mut Vec<PathBuf>) -> Result<Tree> {
    let mut tree = Tree::new();
    let mut walk = walkdir::WalkDir::new(root)
        .follow_links(true)
        .min_depth(1)
        .into_iter();
    while let Some(e) = walk.next() {
        let e = e.map_err(|e| {
            let at = e.path().unwrap_or(root).display().to_string();
            anyhow!(
                "{at}: cannot read: {}",
                e.io_error().map_or(e.to_string(), |io| io.to_string())
            )
        })?;
        let name = e.file_name().to_str().ok_or_else(|| {
            anyhow!(
                "{}: name is not valid UTF-8; the launcher would mangle it",
                e.path().display()
            )
        })?;
        if name.starts_with(TEMP_PREFIX) {
            temps.push(e.path().to_path_buf());
            if e.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("walkdir stays below its root");
        let kind = if e.file_type().is_dir() {
            Kind::Dir
        } else if e.file_type().is_file() {
            Kind::File
        } else {
            bail!("{}: not a regular file or directory", e.path().display());
        };
        tree.insert(Rel::new(rel), kind);
    }
    Ok(tree)
}

/// Reads the trees an apply copies. Called only when a run applies.
pub fn read_trees(scan: &Scan) -> Result<Trees> {
    let mut trees = Trees::default();
    let mut plugin_temps = Vec::new();
    trees.plugins = read_tree(&scan.layout.plugins, &mut plugin_temps)?;
    // Those at the top the scan has reported already.
    let top = |t: &PathBuf| t.parent() == Some(scan.layout.plugins.as_path());
    trees
        .stale_temps
        .extend(plugin_temps.into_iter().filter(|t| !top(t)));
    if scan.backup == Backup::Present {
        trees.backup = Some(read_tree(&scan.layout.backup(), &mut trees.stale_temps)?);
    }
    Ok(trees)
}

/// A move `revert` or `restore` is about to make, so the product can be planned as it will be
/// before anything moves.
#[derive(Debug, Clone)]
pub enum Moved {
    /// The patch or service pack of this name leaves the product.
    Out(String),
    /// The patch or service pack of this name comes in, from `from`.
    In { name: String, from: PathBuf },
}

/// Applies `moved` to the candidates of the dir whose names start with `prefix` (where a
/// `patch…` or `servicepack…` NAME lives).
fn move_candidate(out: &mut Vec<Candidate>, moved: Option<&Moved>, prefix: &str) {
    match moved {
        Some(Moved::Out(name)) if name.starts_with(prefix) => out.retain(|c| c.name != *name),
        Some(Moved::In { name, from }) if name.starts_with(prefix) => {
            out.retain(|c| c.name != *name);
            out.push(Candidate {
                name: name.clone(),
                is_dir: is_dir(from),
            });
            out.sort_by(|a, b| java::compare(&a.name, &b.name));
        }
        _ => {}
    }
}

/// Where candidate `name` of `dir` is read from, `moved` considered.
fn candidate_path(dir: &Path, name: &str, moved: Option<&Moved>) -> PathBuf {
    match moved {
        Some(Moved::In { name: n, from }) if n == name => from.clone(),
        _ => dir.join(name),
    }
}

/// Reads everything detection and planning need. Refuses (with the file and the reason) what
/// the launcher would fail on half-way.
pub fn scan(layout: &Layout, cache: &DigestCache) -> Result<Scan> {
    scan_moved(layout, cache, None)
}

/// [`scan`] of the product as it will be once `moved` is made.
pub fn scan_moved(layout: &Layout, cache: &DigestCache, moved: Option<&Moved>) -> Result<Scan> {
    if !is_dir(&layout.plugins) {
        bail!(
            "{}: the plugins directory is missing (is this a Carbon product home?)",
            layout.plugins.display()
        );
    }
    let mut stale_temps = Vec::new();
    let mut servicepack_candidates = candidates(&layout.servicepacks, layout, &mut stale_temps)?;
    move_candidate(&mut servicepack_candidates, moved, "servicepack");
    let latest_servicepack = match servicepack_candidates.last() {
        Some(c) if c.is_dir => Some(read_servicepack(
            &candidate_path(&layout.servicepacks, &c.name, moved),
            &c.name,
            layout,
            cache,
        )?),
        _ => None,
    };

    let mut patch_candidates = candidates(&layout.patches, layout, &mut stale_temps)?;
    move_candidate(&mut patch_candidates, moved, "patch");
    let mut patch_dirs = Vec::new();
    for c in &patch_candidates {
        if c.is_dir
            && c.name != layout::BACKUP_DIR
            && !is_listed(latest_servicepack.as_ref(), &c.name)
        {
            let dir = candidate_path(&layout.patches, &c.name, moved);
            patch_dirs.push(read_patch_dir(&c.name, &dir, layout, cache)?);
        }
    }

    let backup_path = layout.backup();
    let backup = match fs::metadata(&backup_path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Backup::Missing,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", backup_path.display())),
        Ok(m) if m.is_dir() => Backup::Present,
        Ok(_) => Backup::NotADirectory,
    };

    let dir_bytes = read_bytes(&layout.pre_patched_dir_file())?;
    let jars_bytes = read_bytes(&layout.pre_patched_jars_file())?;
    let pre_patched_dir = dir_bytes.as_deref().map(|b| {
        java::read_lines(&String::from_utf8_lossy(b))
            .into_iter()
            .map(String::from)
            .collect()
    });
    let pre_patched_jars = jars_bytes
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned());

    // The patches and service-packs dirs were listed above (the latter holds the staging dir
    // of an interrupted `install` of a service pack); temporary files deeper in plugins are
    // found when a run applies.
    for dir in [&layout.metadata, &layout.plugins] {
        for entry in list_dir(dir)?.unwrap_or_default() {
            if is_ours(entry.name().as_encoded_bytes()) {
                stale_temps.push(entry.path());
            }
        }
    }

    Ok(Scan {
        layout: layout.clone(),
        latest_servicepack,
        patch_candidates,
        patch_dirs,
        backup,
        pre_patched_dir,
        pre_patched_jars,
        metadata_bytes: [dir_bytes, jars_bytes],
        stale_temps,
        // Anything under the marker's name counts, even a link that leads nowhere.
        interrupted: fs::symlink_metadata(layout.apply_marker()).is_ok(),
    })
}
