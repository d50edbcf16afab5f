//! Reading a zip as WSO2 ships patches and service packs: every entry checked (no escapes, no
//! links, no encryption, no duplicates), the patch or service pack found in it (its single top
//! dir, or the one inside a wrapper dir), and extracted streamed with every CRC checked.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{self, Read, Seek};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::{kind_of, Kind, MAX_ENTRIES, MAX_EXTRACTED_BYTES};
use crate::fsops;

/// The part of a zip that is the patch or service pack.
#[derive(Debug)]
pub(super) struct ZipSource {
    pub(super) name: String,
    pub(super) kind: Kind,
    /// Its path inside the zip (`patch0001`, or `WSO2-…/patch0001`).
    pub(super) prefix: PathBuf,
    pub(super) items: Vec<ZipItem>,
}

#[derive(Debug)]
pub(super) struct ZipItem {
    pub(super) index: usize,
    /// Below `prefix`.
    pub(super) rel: PathBuf,
    pub(super) dir: bool,
    pub(super) size: u64,
}

/// Refuses a raw entry name that leaves its dir: absolute, a drive, `..` anywhere, NUL. Stricter
/// than `enclosed_name`, which accepts `a/../b` and drops a leading `/`.
pub(super) fn check_entry_name(name: &str) -> Result<()> {
    if name.contains('\0') {
        bail!("a name with NUL");
    }
    if name.starts_with(['/', '\\']) {
        bail!("an absolute path");
    }
    let first = name.split(['/', '\\']).next().unwrap_or_default();
    if first.len() >= 2 && first.as_bytes()[1] == b':' {
        bail!("a path with a drive");
    }
    if name.split(['/', '\\']).any(|p| p == "..") {
        bail!("a path with \"..\", which could leave its dir");
    }
    Ok(())
}

/// Checks every entry of the zip and finds the patch or service pack in it: the zip's single
/// top dir, or the one such dir inside a single wrapper top dir (the WSO2 layout, beside
/// README and LICENSE files).
pub(super) fn read_zip_layout<R: Read + Seek>(
    zip: &zip::ZipArchive<R>,
    shown: &str,
) -> Result<ZipSource> {
    if zip.len() > MAX_ENTRIES {
        bail!("{shown}: more than {MAX_ENTRIES} entries");
    }
    if zip.has_duplicate_names() {
        bail!("{shown}: two entries of the same name; which one a reader takes is not defined");
    }
    // (index, components, is dir, size)
    let mut entries: Vec<(usize, Vec<String>, bool, u64)> = Vec::with_capacity(zip.len());
    let mut seen = BTreeSet::new();
    for i in 0..zip.len() {
        let e = zip
            .by_index_data(i)
            .map_err(|e| anyhow!("{shown}: entry {i}: {e}"))?;
        let name = e
            .name()
            .map_err(|e| anyhow!("{shown}: entry {i}: {e}"))?
            .into_owned();
        let refuse = |why: &str| anyhow!("{shown}: entry {name:?}: {why}; refused");
        check_entry_name(&name).map_err(|e| refuse(&e.to_string()))?;
        let enclosed = e
            .enclosed_name()
            .ok_or_else(|| refuse("a path that leaves the archive"))?;
        if e.is_symlink() {
            return Err(refuse("a symbolic link, which could point anywhere"));
        }
        if let Some(mode) = e.unix_mode() {
            let t = mode & libc::S_IFMT;
            if t != 0 && t != libc::S_IFREG && t != libc::S_IFDIR {
                return Err(refuse("not a regular file or directory"));
            }
        }
        if e.encrypted() {
            return Err(refuse("encrypted"));
        }
        if !matches!(
            e.compression(),
            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
        ) {
            return Err(refuse(&format!(
                "compressed with {:?}; only stored and deflated entries are read (as Java does)",
                e.compression()
            )));
        }
        let comps: Vec<String> = enclosed
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if comps.is_empty() {
            continue;
        }
        if !seen.insert(comps.clone()) {
            return Err(refuse("a second entry for the same path"));
        }
        entries.push((i, comps, e.is_dir(), e.size()));
    }

    let tops: BTreeSet<&str> = entries.iter().map(|(_, c, _, _)| c[0].as_str()).collect();
    let top = match tops.len() {
        0 => bail!("{shown}: empty; expected a patch or service pack dir"),
        1 => *tops.iter().next().expect("one"),
        n => bail!(
            "{shown}: {n} entries at its top ({}); expected one patch or service pack dir, or one \
             wrapper dir holding one",
            tops.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    let is_dir_at = |path: &[String]| {
        entries.iter().any(|(_, c, dir, _)| {
            (c.len() > path.len() && c.starts_with(path)) || (*dir && c.as_slice() == path)
        })
    };
    let top_path = vec![top.to_string()];
    if !is_dir_at(&top_path) {
        bail!("{shown}: holds only the file {top}; expected a patch or service pack dir");
    }
    let kind = kind_of(top).with_context(|| shown.to_string())?;
    let (prefix, name, kind) = match kind {
        Some(kind) => (top_path, top.to_string(), kind),
        None => {
            // A wrapper: the one patch or service pack dir inside it is what is installed.
            let children: BTreeSet<&str> = entries
                .iter()
                .filter(|(_, c, dir, _)| c.len() > 2 || (c.len() == 2 && *dir))
                .map(|(_, c, _, _)| c[1].as_str())
                .collect();
            let mut found = Vec::new();
            for child in children {
                if let Some(kind) =
                    kind_of(child).with_context(|| format!("{shown}: {top}/{child}"))?
                {
                    found.push((child, kind));
                }
            }
            match found.as_slice() {
                [(child, kind)] => (
                    vec![top.to_string(), child.to_string()],
                    child.to_string(),
                    *kind,
                ),
                [] => bail!(
                    "{shown}: neither its top dir {top} nor anything inside it is a patch dir \
                     (patchNNNN) or a service pack dir (servicepack…)"
                ),
                more => bail!(
                    "{shown}: {top} holds {} patch or service pack dirs ({}); install them one at \
                     a time",
                    more.len(),
                    more.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };
    let items = entries
        .into_iter()
        .filter(|(_, c, _, _)| c.len() > prefix.len() && c.starts_with(&prefix))
        .map(|(index, c, dir, size)| ZipItem {
            index,
            rel: c[prefix.len()..].iter().collect(),
            dir,
            size,
        })
        .collect();
    Ok(ZipSource {
        name,
        kind,
        prefix: prefix.iter().collect(),
        items,
    })
}

/// A zip time (local, as `unzip` reads it) as a file time.
pub(super) fn dos_time(t: zip::DateTime) -> Option<filetime::FileTime> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDate::from_ymd_opt(t.year().into(), t.month().into(), t.day().into())?
        .and_hms_opt(t.hour().into(), t.minute().into(), t.second().into())?;
    let local = chrono::Local.from_local_datetime(&naive).earliest()?;
    Some(filetime::FileTime::from_unix_time(local.timestamp(), 0))
}

/// Extracts the source's entries into the existing dir `staging`, streamed, every CRC checked,
/// the total capped.
pub(super) fn extract<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    src: &ZipSource,
    staging: &Path,
    shown: &str,
) -> Result<()> {
    let declared: u64 = src
        .items
        .iter()
        .map(|i| i.size)
        .fold(0, u64::saturating_add);
    if declared > MAX_EXTRACTED_BYTES {
        bail!("{shown}: inflates to more than {MAX_EXTRACTED_BYTES} bytes");
    }
    let mut total = 0u64;
    for item in &src.items {
        let dst = staging.join(&item.rel);
        let at = || format!("{shown}/{}", item.rel.display());
        if item.dir {
            fsops::create_dir_all_owned(&dst)?;
            continue;
        }
        if let Some(parent) = dst.parent() {
            fsops::create_dir_all_owned(parent)?;
        }
        let mut entry = zip
            .by_index(item.index)
            .map_err(|e| anyhow!("{}: {e}", at()))?;
        let mtime = entry.last_modified().and_then(dos_time);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dst)
            .with_context(|| format!("{}: cannot create", dst.display()))?;
        // Bounded, so a zip bomb that lies about its sizes costs seconds and no more disk.
        let left = MAX_EXTRACTED_BYTES - total;
        let n = io::copy(&mut (&mut entry).take(left + 1), &mut out)
            .map_err(|e| anyhow!("{}: corrupt: {e}", at()))?;
        total += n;
        if total > MAX_EXTRACTED_BYTES {
            bail!("{shown}: inflates to more than {MAX_EXTRACTED_BYTES} bytes");
        }
        fsops::own_like_parent(&dst)?;
        if let Some(t) = mtime {
            filetime::set_file_handle_times(&out, None, Some(t))
                .with_context(|| format!("{}: cannot set modification time", dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[&str]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        for n in entries {
            if n.ends_with('/') {
                w.add_directory(*n, o).unwrap();
            } else {
                w.start_file(*n, o).unwrap();
                w.write_all(b"x").unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn layout_of(bytes: Vec<u8>) -> Result<ZipSource> {
        let zip = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        read_zip_layout(&zip, "t.zip")
    }

    #[test]
    fn zip_layouts() {
        let top = layout_of(zip_of(&["patch0001/", "patch0001/a.jar"])).unwrap();
        assert_eq!((top.name.as_str(), top.kind), ("patch0001", Kind::Patch));
        assert_eq!(top.items.len(), 1);
        assert_eq!(top.items[0].rel, Path::new("a.jar"));

        let wso2 = layout_of(zip_of(&[
            "WSO2-CARBON-PATCH-4.4.0-0001/README.txt",
            "WSO2-CARBON-PATCH-4.4.0-0001/LICENSE.txt",
            "WSO2-CARBON-PATCH-4.4.0-0001/patch0001/a.jar",
        ]))
        .unwrap();
        assert_eq!(wso2.name, "patch0001");
        assert_eq!(
            wso2.prefix,
            Path::new("WSO2-CARBON-PATCH-4.4.0-0001/patch0001")
        );
        assert_eq!(wso2.items.len(), 1);

        let sp = layout_of(zip_of(&[
            "w/servicepack001/lib/a.jar",
            "w/servicepack001/servicepack_patches.txt",
        ]))
        .unwrap();
        assert_eq!(
            (sp.name.as_str(), sp.kind),
            ("servicepack001", Kind::ServicePack)
        );
        assert_eq!(sp.items.len(), 2);

        let err = |e: &[&str]| format!("{:#}", layout_of(zip_of(e)).unwrap_err());
        assert!(err(&["patch0001/a.jar", "README"]).contains("2 entries at its top"));
        assert!(err(&["w/patch0001/a.jar", "w/patch0002/b.jar"]).contains("one at a time"));
        assert!(err(&["w/README"]).contains("neither"));
        assert!(err(&["patch0000/a.jar"]).contains("backup"));
        assert!(err(&["a.jar"]).contains("only the file"));
    }

    #[test]
    fn escaping_entries() {
        for bad in [
            "patch0001/../evil.jar",
            "../evil.jar",
            "/etc/evil.jar",
            "patch0001/..\\..\\evil.jar",
            "C:/evil.jar",
        ] {
            let e = layout_of(zip_of(&["patch0001/a.jar", bad])).unwrap_err();
            assert!(format!("{e:#}").contains("refused"), "{bad}: {e:#}");
        }
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        w.add_symlink(
            "patch0001/a.jar",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        let e = layout_of(w.finish().unwrap().into_inner()).unwrap_err();
        assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
    }

    /// Patches a field of every local and central header (offsets per APPNOTE 4.3.7 / 4.3.12).
    fn patch_headers(bytes: &mut [u8], local_at: usize, central_at: usize, value: u16) {
        let mut i = 0;
        while i + 4 <= bytes.len() {
            let at = match &bytes[i..i + 4] {
                b"PK\x03\x04" => Some(i + local_at),
                b"PK\x01\x02" => Some(i + central_at),
                _ => None,
            };
            if let Some(at) = at {
                bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
            }
            i += 1;
        }
    }

    #[test]
    fn encrypted_unsupported_and_duplicate_entries() {
        let mut enc = zip_of(&["patch0001/a.jar"]);
        patch_headers(&mut enc, 6, 8, 1);
        let e = layout_of(enc).unwrap_err();
        assert!(format!("{e:#}").contains("encrypted"), "{e:#}");

        let mut bzip = zip_of(&["patch0001/a.jar"]);
        patch_headers(&mut bzip, 8, 10, 12);
        let e = layout_of(bzip).unwrap_err();
        assert!(
            format!("{e:#}").contains("only stored and deflated"),
            "{e:#}"
        );

        let mut dup = zip_of(&["patch0001/a.jar", "patch0001/b.jar"]);
        let at: Vec<usize> = dup
            .windows(15)
            .enumerate()
            .filter(|(_, w)| *w == b"patch0001/b.jar")
            .map(|(i, _)| i)
            .collect();
        for i in at {
            dup[i + 10] = b'a';
        }
        let e = layout_of(dup).unwrap_err();
        assert!(format!("{e:#}").contains("same"), "{e:#}");

        let e = layout_of(zip_of(&["patch0001/a.jar", "patch0001//a.jar"])).unwrap_err();
        assert!(format!("{e:#}").contains("same path"), "{e:#}");
    }
}
