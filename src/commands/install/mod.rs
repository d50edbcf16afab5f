//! `install`: puts a patch or service pack into the product as an operator would by hand (unzip,
//! copy into the patches or service-packs dir), but checked and atomic. Owns identifying the
//! source (a dir, or a zip as WSO2 ships them), checking a zip against its published sum,
//! reading a zip entry by entry with every escape refused, and putting the result in place:
//! staged beside the target under a private name, made durable, validated by the scan's own
//! per-source rules, renamed into place in one step, and taken back out when the product
//! planned before it and no longer does (a product already broken by something else keeps it,
//! with a warning naming the old problem). Nothing is left behind on failure.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

mod archive;
mod checksum;
mod commit;

use archive::{extract, read_zip_layout};
use checksum::{check_sum, Algo};
use commit::{dir_name, put_in_place, Committed, Installed};

use crate::cli::{exit, InstallArgs};
use crate::commands::apply::{self, report_error};
use crate::fsops::{self, CopyOptions, Links};
use crate::launcher::bundle;
use crate::launcher::layout::Layout;
use crate::product::scan::Moved;
use crate::product::Prepared;

/// What all extracted entries of one zip may inflate to (a service pack: hundreds of MB).
pub const MAX_EXTRACTED_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// How many entries a zip may hold (a service pack: a few hundred).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Patch,
    ServicePack,
}

/// What a dir name makes it: `patchNNNN` (four digits or more, not all zero) a patch,
/// `servicepack…` a service pack, anything else neither. `patch0000` is refused outright.
fn kind_of(name: &str) -> Result<Option<Kind>> {
    if let Some(n) = name.strip_prefix("patch") {
        let digits = n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit());
        if digits && n.bytes().all(|b| b == b'0') {
            bail!("{name} is the launcher's backup of plugins, never a patch to install");
        }
        return Ok(digits.then_some(Kind::Patch));
    }
    if name.starts_with("servicepack") {
        bundle::check_safe_name(name).with_context(|| format!("{name:?}"))?;
        return Ok(Some(Kind::ServicePack));
    }
    Ok(None)
}

fn target_of(layout: &Layout, kind: Kind, name: &str) -> PathBuf {
    match kind {
        Kind::Patch => layout.patches.join(name),
        Kind::ServicePack => layout.servicepacks.join(name),
    }
}

/// Refuses a dir source that is, or holds, a symbolic link, naming the flag that follows it.
fn refuse_links(source: &Path) -> Result<()> {
    for e in walkdir::WalkDir::new(source) {
        let e = e.with_context(|| format!("{}: cannot read", source.display()))?;
        if e.path_is_symlink() {
            bail!(
                "{}: a symbolic link; pass --follow-symlinks to copy what it points to",
                e.path().display()
            );
        }
    }
    Ok(())
}

fn is_zip_name(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn install(
    layout: &Layout,
    source: &Path,
    sums: Option<(Algo, &Path)>,
    replace: bool,
) -> Result<(String, Committed, PathBuf)> {
    let md = fs::metadata(source).with_context(|| format!("{}: cannot read", source.display()))?;
    if md.is_dir() {
        let name = dir_name(source)?;
        let kind = kind_of(&name)
            .with_context(|| source.display().to_string())?
            .ok_or_else(|| {
                anyhow!(
                    "{}: neither a patch dir (patchNNNN) nor a service pack dir (servicepack…)",
                    source.display()
                )
            })?;
        let shown = source.display().to_string();
        // Followed as a run with --follow-symlinks reads through links, so what is installed
        // holds the files they point to and no link at all; refused otherwise, before
        // anything is staged.
        let links = if layout.follow_symlinks {
            Links::Follow
        } else {
            refuse_links(source)?;
            Links::Refuse
        };
        let opts = CopyOptions {
            keep_mode: false,
            links,
        };
        let (committed, target) = put_in_place(layout, kind, &name, &shown, replace, |staging| {
            fsops::copy_tree(source, staging, opts)
        })?;
        return Ok((name, committed, target));
    }
    if !is_zip_name(source) {
        bail!(
            "{}: neither a patch dir, a service pack dir, nor a .zip",
            source.display()
        );
    }
    let mut file =
        File::open(source).with_context(|| format!("{}: cannot read", source.display()))?;
    if let Some((algo, sums)) = sums {
        check_sum(&mut file, source, algo, sums)?;
    }
    let shown = source.display().to_string();
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| anyhow!("{shown}: not a valid zip: {e}"))?;
    let src = read_zip_layout(&zip, &shown)?;
    let inner = format!("{shown}!/{}", src.prefix.display());
    let (committed, target) =
        put_in_place(layout, src.kind, &src.name, &inner, replace, |staging| {
            fsops::create_dir_owned(staging)?;
            extract(&mut zip, &src, staging, &inner)
        })?;
    Ok((src.name, committed, target))
}

/// Whether an apply would do anything; an error is for the apply to report.
fn needs_apply(layout: &Layout) -> bool {
    Prepared::new(layout).map_or(true, |p| p.writes_anything())
}

/// `carbon-patcher install`: the exit code.
pub fn run(args: &InstallArgs) -> i32 {
    let layout = match crate::product::home::resolve(&args.paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    let sums = match (&args.md5, &args.sha256) {
        (Some(f), _) => Some((Algo::Md5, f.as_path())),
        (None, Some(f)) => Some((Algo::Sha256, f.as_path())),
        (None, None) => None,
    };
    if sums.is_some() && args.source.is_dir() {
        eprintln!(
            "carbon-patcher: error: --md5 and --sha256 check a .zip; {} is a directory",
            args.source.display()
        );
        return exit::USAGE;
    }
    // Before anything changes, so exit 5 leaves the product as it was.
    if args.apply {
        if let Some(code) = apply::refuse_while_running(&layout, &args.control) {
            return code;
        }
    }
    let lock = match apply::lock(&layout, &args.control) {
        Ok(l) => l,
        Err(code) => return code,
    };
    // A dir SOURCE: the apply after it planned before anything is installed, so one that
    // would undo outside changes installs nothing. (A zip is planned once extracted: it is
    // installed, and the apply after it refuses.)
    if args.apply && !args.control.revert_outside_changes && args.source.is_dir() {
        let named = dir_name(&args.source)
            .ok()
            .filter(|n| kind_of(n).is_ok_and(|k| k.is_some()));
        if let Some(name) = named {
            let from = fs::canonicalize(&args.source).unwrap_or(args.source.clone());
            if let Err(e) = apply::outside_refusal(&layout, &Moved::In { name, from }) {
                report_error(&e);
                return apply::error_code(&e);
            }
        }
    }
    let result = install(&layout, &args.source, sums, args.replace);
    drop(lock);
    let (name, committed, target) = match result {
        Ok(r) => r,
        Err(e) => {
            report_error(&e);
            return exit::ERROR;
        }
    };
    match committed.installed {
        Installed::Already => println!("already installed: {name}"),
        Installed::New | Installed::Replaced => {
            println!("installed: {name} -> {}", target.display())
        }
    }
    for w in &committed.warnings {
        eprintln!("carbon-patcher: warning: {w}");
    }
    let apply = match committed.installed {
        // An earlier install whose apply failed (busy, say) is applied now; a product already
        // up to date is left untouched, so a repeated run changes nothing.
        Installed::Already => args.apply && needs_apply(&layout),
        Installed::New | Installed::Replaced => args.apply,
    };
    if !apply {
        return exit::OK;
    }
    apply::apply(&layout, &args.control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(kind_of("patch0001").unwrap(), Some(Kind::Patch));
        assert_eq!(kind_of("patch12345").unwrap(), Some(Kind::Patch));
        assert_eq!(kind_of("servicepack001").unwrap(), Some(Kind::ServicePack));
        assert_eq!(kind_of("patches").unwrap(), None);
        assert_eq!(kind_of("patch001").unwrap(), None);
        assert_eq!(kind_of("WSO2-CARBON-PATCH-4.4.0-0001").unwrap(), None);
        assert!(kind_of("patch0000").is_err());
        assert!(kind_of("servicepack\n1").is_err());
    }
}
