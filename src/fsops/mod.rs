//! The file layer: atomic writes and renames ([`write`]), copies ([`copy`]), syncs ([`sync`]),
//! owners and modes ([`owner`]), digests ([`digest`]) and fault points ([`fault`]). It imports
//! nothing else of the crate, so every layer above can build on it alone.

use std::path::Path;

use anyhow::{Context, Result};

pub mod copy;
pub mod digest;
pub mod fault;
pub mod link;
pub mod owner;
pub mod sync;
pub mod write;

pub use copy::{copy_mtime, copy_new, copy_tree, set_mtime, Copied, CopyOptions, Links};
pub use link::link_or_copy;
pub use owner::{
    create_dir_all_owned, create_dir_owned, create_missing_dirs, likeness, own_like_parent,
    remove_created, Likeness,
};
pub use sync::{sync_dir, sync_files, sync_tree};
pub use write::{
    exchange, remove_leftover, rename, rename_noreplace, stage_write, temp_beside, write_atomic,
    write_atomic_unsynced, write_marker,
};

/// Our own temporary names. They start with a dot, never with `patch` or `servicepack`, so the
/// launcher never takes them for patches.
pub const TEMP_PREFIX: &str = ".carbon-patcher-tmp-";

/// A fault point (see [`fault`]) for a change that takes no space, as an error of ours.
pub(crate) fn point(path: &Path) -> Result<()> {
    fault::point(path, fault::Space::Free)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// A fault point for a change that takes space (a new file or directory).
pub(crate) fn space_point(path: &Path) -> Result<()> {
    fault::point(path, fault::Space::Takes)
        .with_context(|| format!("{}: cannot write", path.display()))
}
