//! `demo`: the bundled sample product (embedded in the binary) applied in a scratch copy, so the
//! main job can be seen on any machine without touching a real server or the source tree.

use std::path::Path;

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};

use crate::launcher::layout::{Layout, PathSettings};

static SAMPLE_PRODUCT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sample-product");

/// Writes the sample product home into `dir` (created; must not exist yet).
pub fn extract_sample(dir: &Path) -> Result<()> {
    if dir.exists() {
        bail!("{}: already exists", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    SAMPLE_PRODUCT
        .extract(dir)
        .with_context(|| format!("{}: cannot extract the sample product", dir.display()))
}

/// The sample product's layout when extracted at `home`.
pub fn layout(home: &Path) -> Result<Layout> {
    Layout::resolve(&PathSettings {
        carbon_home: Some(home.to_path_buf()),
        ..Default::default()
    })
}
