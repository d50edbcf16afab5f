//! Reading a patch jar as the launcher will: the manifest it names the bundle by
//! (`java.util.jar.JarFile`'s look-up), with the checks the launcher lacks: the jar must be a
//! sound zip (every entry's CRC checked, bounded against zip bombs) with a parseable manifest.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::launcher::{bundle, manifest};

const MANIFEST_NAME: &str = "META-INF/MANIFEST.MF";
/// Real manifests are kilobytes; this bounds what a hostile entry can make us inflate.
pub const MAX_MANIFEST_BYTES: u64 = 8 * 1024 * 1024;
/// What all entries of one jar may inflate to (real bundles: megabytes).
pub const MAX_INFLATED_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Checks the jar at `path` fully and returns the name its manifest gives it in `plugins`
/// (`Bundle-SymbolicName_Bundle-Version.jar`), or `None` when the manifest names no bundle (the
/// launcher then keeps the entry's own name). Depends on the file's bytes only, not its name.
pub fn manifest_bundle_name(path: &Path) -> Result<Option<String>> {
    bundle::from_manifest(&read_jar(path)?)
}

/// Opens the jar, checks every entry, and parses the manifest's main section.
fn read_jar(path: &Path) -> Result<manifest::MainAttributes> {
    let file = File::open(path).context("cannot open")?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| anyhow!("not a valid jar (zip): {e}"))?;
    if zip.has_duplicate_names() {
        // Which of two same-named entries a reader takes differs between readers (and JDKs):
        // the launcher and the server could see different manifests or classes.
        bail!("jar has two entries with the same name; which one a reader takes is not defined");
    }
    // Java looks the exact name up first, then the first META-INF entry equal ignoring case.
    let names = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| anyhow!("not a valid jar (zip): {e}"))?;
    let manifest_name = names
        .iter()
        .find(|n| *n == MANIFEST_NAME)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(MANIFEST_NAME)))
        .cloned()
        .ok_or_else(|| anyhow!("jar has no {MANIFEST_NAME}"))?;
    let mut bytes = Vec::new();
    {
        let entry = zip
            .by_name(&manifest_name)
            .map_err(|e| anyhow!("cannot read {manifest_name}: {e}"))?;
        entry
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow!("corrupt {manifest_name}: {e}"))?;
    }
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        bail!("{manifest_name} is larger than {MAX_MANIFEST_BYTES} bytes");
    }
    // A jar with a sound manifest but a damaged class would fail later inside the server: check
    // every entry's CRC now, while refusing still costs nothing.
    let mut inflated = 0u64;
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| anyhow!("corrupt jar: entry {i}: {e}"))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        // Bounded, so a zip bomb costs seconds, not hours.
        let left = MAX_INFLATED_BYTES - inflated;
        let n = io::copy(&mut entry.take(left + 1), &mut io::sink())
            .map_err(|e| anyhow!("corrupt jar: entry {name}: {e}"))?;
        inflated += n;
        if inflated > MAX_INFLATED_BYTES {
            bail!("jar inflates to more than {MAX_INFLATED_BYTES} bytes (entry {name})");
        }
    }
    manifest::parse(&bytes).map_err(|e| anyhow!("invalid {manifest_name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The name the launcher gives `file_name` in `plugins`, reading the jar at `path` when the name
    /// ends in `.jar` (case-sensitive, as the launcher checks).
    fn bundle_file_name(path: &Path, file_name: &str) -> Result<String> {
        bundle::check_line_safe(file_name)?;
        let manifest = if bundle::is_jar_name(file_name) {
            manifest_bundle_name(path)?
        } else {
            None
        };
        Ok(bundle::name_in_plugins(file_name, manifest))
    }

    fn jar(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (n, b) in entries {
            w.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn name_of(file: &str, bytes: &[u8]) -> Result<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file);
        std::fs::write(&p, bytes).unwrap();
        bundle_file_name(&p, file)
    }

    #[test]
    fn name_from_manifest_without_directives() {
        let j = jar(&[(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\nBundle-SymbolicName: org.wso2.carbon.core;singleton:=true\nBundle-Version: 4.4.9\n\n",
        )]);
        assert_eq!(
            name_of("whatever.jar", &j).unwrap(),
            "org.wso2.carbon.core_4.4.9.jar"
        );
    }

    #[test]
    fn manifest_name_found_ignoring_case() {
        let j = jar(&[(
            "meta-inf/manifest.mf",
            "Bundle-SymbolicName: a\nBundle-Version: 1\n",
        )]);
        assert_eq!(name_of("x.jar", &j).unwrap(), "a_1.jar");
    }

    #[test]
    fn own_name_without_both_headers_or_suffix() {
        let only_name = jar(&[("META-INF/MANIFEST.MF", "Bundle-SymbolicName: a\n")]);
        assert_eq!(name_of("x.jar", &only_name).unwrap(), "x.jar");
        // `.JAR` is not `.jar` to the launcher: not even opened.
        assert_eq!(name_of("x.JAR", b"not a zip").unwrap(), "x.JAR");
        assert_eq!(name_of("notes.txt", b"hello").unwrap(), "notes.txt");
    }

    #[test]
    fn refusals() {
        let no_manifest = jar(&[("a.txt", "x")]);
        assert!(format!("{:#}", name_of("x.jar", &no_manifest).unwrap_err())
            .contains("no META-INF/MANIFEST.MF"));
        assert!(
            format!("{:#}", name_of("x.jar", b"garbage").unwrap_err()).contains("not a valid jar")
        );
        let good = jar(&[("META-INF/MANIFEST.MF", "A: b\n"), ("c.txt", "payload")]);
        assert!(name_of("x.jar", &good[..good.len() / 2]).is_err());
        let escape = jar(&[(
            "META-INF/MANIFEST.MF",
            "Bundle-SymbolicName: ../../evil\nBundle-Version: 1\n",
        )]);
        assert!(format!("{:#}", name_of("x.jar", &escape).unwrap_err()).contains("path separator"));
        // `..` inside a name is harmless (spec section 9): `Bundle-Version: 1.0.` names
        // `a_1.0..jar`.
        let dots = jar(&[(
            "META-INF/MANIFEST.MF",
            "Bundle-SymbolicName: a..b\nBundle-Version: 1.0.\n",
        )]);
        assert_eq!(name_of("x.jar", &dots).unwrap(), "a..b_1.0..jar");
        let long = format!("Bundle-SymbolicName: {}\n", "a".repeat(600));
        let long = jar(&[("META-INF/MANIFEST.MF", &long)]);
        assert!(format!("{:#}", name_of("x.jar", &long).unwrap_err()).contains("too long"));
    }

    #[test]
    fn damaged_entry_is_refused() {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("META-INF/MANIFEST.MF", stored).unwrap();
        w.write_all(b"A: b\n").unwrap();
        w.start_file("data.bin", stored).unwrap();
        w.write_all(b"PAYLOAD-PAYLOAD-PAYLOAD").unwrap();
        let mut bytes = w.finish().unwrap().into_inner();
        let at = bytes.windows(7).position(|w| w == b"PAYLOAD").unwrap();
        bytes[at] = b'X';
        let err = format!("{:#}", name_of("x.jar", &bytes).unwrap_err());
        assert!(err.contains("data.bin"), "{err}");
    }
}
