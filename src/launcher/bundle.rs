//! Bundle file names (spec section 4): the name a patch entry gets in `plugins`, from its
//! manifest's headers as the launcher names it, with the check the launcher lacks: the name must
//! stay inside `plugins` and fit on a line of the metadata files. Reading the jar is
//! [`crate::product::jar`]'s.

use anyhow::{bail, Context, Result};

use crate::launcher::manifest;

/// The name an entry called `file_name` gets in `plugins`, given the bundle name its manifest
/// gives (read for a jar only; see [`from_manifest`]): that one for a jar that has it,
/// else its own. The scan calls this with a name from the digest cache.
pub fn name_in_plugins(file_name: &str, manifest: Option<String>) -> String {
    manifest.unwrap_or_else(|| file_name.to_string())
}

/// Whether the launcher reads the manifest of an entry so named.
pub fn is_jar_name(file_name: &str) -> bool {
    file_name.ends_with(".jar")
}

/// Refuses a name that would leave `plugins` or corrupt the metadata files.
pub fn check_safe_name(name: &str) -> Result<()> {
    if name.contains('/') || name.contains('\\') {
        bail!("a file name must not contain a path separator");
    }
    // Only `.` and `..` themselves lead elsewhere; `a_1.0..jar` (Bundle-Version `1.0.`) is an
    // ordinary name.
    if name == "." || name == ".." {
        bail!("a file name must not be \".\" or \"..\"");
    }
    if name.contains('\0') {
        bail!("a file name must not contain NUL");
    }
    check_line_safe(name)
}

/// Names end up as lines of the metadata files: a line break would split them.
pub fn check_line_safe(name: &str) -> Result<()> {
    if name.contains('\n') || name.contains('\r') {
        bail!("name contains a line break, which would corrupt the metadata files");
    }
    Ok(())
}

/// The name a jar's manifest gives it in `plugins` (`Bundle-SymbolicName_Bundle-Version.jar`,
/// the symbolic name up to its first `;`), or `None` when the manifest lacks either header (the
/// launcher then keeps the entry's own name). Refused when the name would be unsafe.
pub fn from_manifest(attrs: &manifest::MainAttributes) -> Result<Option<String>> {
    let (Some(symbolic), Some(version)) = (
        attrs.get("Bundle-SymbolicName"),
        attrs.get("Bundle-Version"),
    ) else {
        return Ok(None);
    };
    let (Ok(symbolic), Ok(version)) = (symbolic, version) else {
        bail!("its manifest's Bundle-SymbolicName or Bundle-Version is not valid UTF-8");
    };
    // `Bundle-SymbolicName: a.b;singleton:=true` names the bundle `a.b`.
    let symbolic = symbolic.split(';').next().unwrap_or_default();
    let name = format!("{symbolic}_{version}.jar");
    check_safe_name(&name).with_context(|| {
        format!("its manifest's Bundle-SymbolicName and Bundle-Version make the file name {name:?}")
    })?;
    Ok(Some(name))
}
