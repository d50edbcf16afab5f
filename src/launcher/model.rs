//! The product tree as the launcher sees it, as values: the candidates of the service-packs and
//! patches dirs, the latest service pack, the patch dirs in play with their entries, the
//! `plugins` and `patch0000` trees, and the metadata files. [`crate::product::scan`] fills it
//! from the disk; the plan reads only this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fsops::digest::Md5Sum;
use crate::launcher::layout::Layout;

/// An entry of the service-packs or patches dir whose name starts with `patch` or `servicepack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// As Java's `File.isDirectory`: follows symbolic links.
    pub is_dir: bool,
}

/// A file of a patch dir or of a service pack's `lib`, as the launcher will copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's own name (what `Patched …` lines show).
    pub name: String,
    pub path: PathBuf,
    /// The name it gets in `plugins` (spec section 4).
    pub bundle_name: String,
    pub md5: Md5Sum,
}

/// A patch dir or a service pack's `lib`, entries in directory-listing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePack {
    /// Its `lib` dir's entries; `source.name` is the service pack's name.
    pub source: Source,
    /// `servicepack_patches.txt`, line by line, verbatim.
    pub listed: Vec<String>,
}

/// What one path of a tree (`plugins`, `patch0000`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// A path relative to the root of `plugins` or `patch0000`, ordered by its bytes: a parent
/// still sorts before its children (a prefix comes first), and a comparison is one `memcmp`
/// instead of a walk over components (trees of thousands of files are sorted on every apply).
#[derive(Debug, Clone)]
pub struct Rel(PathBuf);

impl Rel {
    pub fn new(path: impl Into<PathBuf>) -> Rel {
        Rel(path.into())
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_os_str().as_encoded_bytes()
    }
}

impl AsRef<Path> for Rel {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl PartialEq for Rel {
    fn eq(&self, other: &Rel) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Rel {}

impl std::hash::Hash for Rel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl Ord for Rel {
    fn cmp(&self, other: &Rel) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl PartialOrd for Rel {
    fn partial_cmp(&self, other: &Rel) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A directory tree: relative path → kind, parents before children.
pub type Tree = BTreeMap<Rel, Kind>;

/// What `patch0000` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backup {
    Missing,
    Present,
    /// `patch0000` exists but is not a directory: the launcher would fail restoring from it.
    NotADirectory,
}

/// The trees an apply copies: `plugins` (into a new backup, or as the target of the restore)
/// and `patch0000` (restored from). Read only when a run applies, as the launcher does.
#[derive(Debug, Clone, Default)]
pub struct Trees {
    pub plugins: Tree,
    /// `Some` when `patch0000` exists.
    pub backup: Option<Tree>,
    /// Our temporary files left in `plugins` or `patch0000` by an interrupted run.
    pub stale_temps: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Scan {
    pub layout: Layout,
    /// The last service-pack candidate (sorted by `String.compareTo`), when it is a directory.
    pub latest_servicepack: Option<ServicePack>,
    /// Sorted by `String.compareTo`.
    pub patch_candidates: Vec<Candidate>,
    /// Patch dirs whose jars are in play: directories, not `patch0000`, not listed by the
    /// service pack; sorted.
    pub patch_dirs: Vec<Source>,
    pub backup: Backup,
    /// `prePatchedDir.txt` lines; `None` when the file does not exist.
    pub pre_patched_dir: Option<Vec<String>>,
    /// `prePatchedJARs.txt` text; `None` when the file does not exist.
    pub pre_patched_jars: Option<String>,
    /// Both metadata files' bytes as read (`prePatchedDir.txt`, `prePatchedJARs.txt`), so the
    /// plan decides once which of them a run rewrites.
    pub metadata_bytes: [Option<Vec<u8>>; 2],
    /// Leftovers of an interrupted run of ours in the patches, service-packs, metadata and
    /// plugins dirs.
    pub stale_temps: Vec<PathBuf>,
    /// A run of ours was killed while it committed: `plugins` may hold part of its changes,
    /// which the metadata (written last) does not show. The next run must apply.
    pub interrupted: bool,
}

pub fn is_listed(sp: Option<&ServicePack>, name: &str) -> bool {
    sp.is_some_and(|sp| sp.listed.iter().any(|l| l == name))
}

impl Scan {
    /// Whether the latest service pack lists `name` in `servicepack_patches.txt`.
    pub fn listed_by_servicepack(&self, name: &str) -> bool {
        is_listed(self.latest_servicepack.as_ref(), name)
    }

    /// What the launcher copies, in its order: the latest service pack's `lib`, then the patch
    /// dirs in play.
    pub fn sources(&self) -> impl Iterator<Item = &Source> {
        self.latest_servicepack
            .iter()
            .map(|sp| &sp.source)
            .chain(&self.patch_dirs)
    }

    /// The patch candidates the launcher applies (and writes to `prePatchedDir.txt`):
    /// directories not listed by the service pack, `patch0000` included, sorted.
    pub fn applied_patch_names(&self) -> impl Iterator<Item = &str> {
        self.patch_candidates
            .iter()
            .filter(|c| c.is_dir && !self.listed_by_servicepack(&c.name))
            .map(|c| c.name.as_str())
    }
}
