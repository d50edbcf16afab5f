//! `demo`: the bundled sample product (embedded in the binary) applied in a scratch copy, so the
//! main job can be seen on any machine without touching a real server or the source tree.

use std::path::Path;

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};

use crate::cli::{exit, DemoArgs, DemoProduct};
use crate::commands::apply::{outcome_code, report_error};
use crate::launcher::layout::{Layout, PathSettings};
use crate::product::run_apply;

static SAMPLE_PRODUCT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sample-product");
static SAMPLE_PRODUCT_4_9: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sample-product-4.9");
static SAMPLE_PRODUCT_MI: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sample-product-mi");

/// Writes the sample product home into `dir` (created; must not exist yet).
pub fn extract_sample(dir: &Path) -> Result<()> {
    extract(&SAMPLE_PRODUCT, dir)
}

fn extract(sample: &Dir<'_>, dir: &Path) -> Result<()> {
    if dir.exists() {
        bail!("{}: already exists", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    sample
        .extract(dir)
        .with_context(|| format!("{}: cannot extract the sample product", dir.display()))
}

/// The sample product's layout when extracted at `home`, found as any product is.
pub fn layout(home: &Path) -> Result<Layout> {
    crate::product::home::resolve(&PathSettings {
        carbon_home: Some(home.to_path_buf()),
        ..Default::default()
    })
}

/// `demo`: extracts the sample product (into `--into`, or a scratch dir), applies it twice, and
/// shows the launcher's console lines and the files the runs wrote.
pub fn run(args: &DemoArgs) -> i32 {
    match demo_inner(args) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            exit::ERROR
        }
    }
}

fn demo_inner(args: &DemoArgs) -> Result<i32> {
    let scratch = tempfile::tempdir()?;
    let home = match &args.into {
        Some(dir) => dir.clone(),
        None => scratch.path().join("sample-product"),
    };
    let sample = match args.product {
        DemoProduct::Carbon44 => &SAMPLE_PRODUCT,
        DemoProduct::Carbon49 => &SAMPLE_PRODUCT_4_9,
        DemoProduct::MicroIntegrator => &SAMPLE_PRODUCT_MI,
    };
    extract(sample, &home)?;
    let layout = layout(&home)?;
    println!("== sample product extracted to {}", home.display());
    println!("== its launcher: {}", layout.launcher.describe());
    println!("== first apply (console lines as the launcher prints them):");
    let first = run_apply(&layout, true)?;
    println!("== second apply (nothing changed):");
    let second = run_apply(&layout, true)?;
    for file in [
        layout.pre_patched_dir_file(),
        layout.pre_patched_jars_file(),
        layout.patches_log.clone(),
    ] {
        println!("== {}:", layout.show(&file));
        print!("{}", std::fs::read_to_string(&file)?);
    }
    println!(
        "== first run wrote {} plugin files and backed up {}; second run wrote {}",
        first.written.written, first.written.backed_up, second.written.written
    );
    if args.into.is_some() {
        println!("== kept in {}", home.display());
    }
    Ok(outcome_code(&second).max(outcome_code(&first)))
}
