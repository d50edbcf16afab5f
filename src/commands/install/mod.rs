//! `install`: puts a patch or service pack into the product as an operator would by hand (unzip,
//! copy into the patches or service-packs dir), but checked and atomic. Owns identifying the
//! source (a dir, or a zip as WSO2 ships them), checking a zip against its published sum,
//! reading a zip entry by entry with every escape refused, and putting the result in place:
//! staged beside the target under a private name, made durable, validated by the scan's own
//! per-source rules, renamed into place in one step, and taken back out when the product
//! planned before it and no longer does (a product already broken by something else keeps it,
//! with a warning naming the old problem). Nothing is left behind on failure.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::{exit, InstallArgs};
use crate::commands::apply::{self as oneshot, report_error};
use crate::fsops::{self, CopyOptions, Links};
use crate::launcher::bundle;
use crate::launcher::layout::{self, Layout};
use crate::product::digest_cache::DigestCache;
use crate::product::scan::{self, Scan};
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

/// The checksum `--md5` or `--sha256` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha256,
}

impl Algo {
    fn label(self) -> &'static str {
        match self {
            Algo::Md5 => "MD5",
            Algo::Sha256 => "SHA-256",
        }
    }
    /// The tag of `md5sum --tag` / `sha256sum --tag` lines.
    fn bsd_tag(self) -> &'static str {
        match self {
            Algo::Md5 => "MD5",
            Algo::Sha256 => "SHA256",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha256 => 64,
        }
    }
    fn digest(self, r: impl Read) -> io::Result<String> {
        match self {
            Algo::Md5 => hash::<md5::Md5>(r),
            Algo::Sha256 => hash::<sha2::Sha256>(r),
        }
    }
}

fn hash<D: sha2::Digest>(r: impl Read) -> io::Result<String> {
    let sum = crate::fsops::digest::digest_reader::<D>(r)?;
    Ok(sum.iter().map(|b| format!("{b:02x}")).collect())
}

/// The most a sums file may hold: a published sums file is a few lines, and `--md5 /dev/zero`
/// (or any endless source) must fail rather than read forever.
pub const MAX_SUMS_BYTES: u64 = 1024 * 1024;

/// A name as coreutils escapes it on a line starting with `\`: `\\`, `\n` and `\r`; `None`
/// for any other escape (coreutils calls such a line improperly formatted).
fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// One line of a sums file: the sum and, unless it is a bare sum, the file it names.
fn parse_sum_line(line: &str, algo: Algo) -> Option<(&str, Option<String>)> {
    // coreutils starts a line with `\` when the name holds a backslash or a line break, which
    // it then escapes.
    let (line, escaped) = match line.strip_prefix('\\') {
        Some(rest) => (rest, true),
        None => (line, false),
    };
    // `md5sum --tag`: `MD5 (name) = hex`.
    let (hex, name) = if let Some(rest) = line
        .strip_prefix(algo.bsd_tag())
        .and_then(|r| r.strip_prefix(" ("))
    {
        let (name, hex) = rest.rsplit_once(") = ")?;
        (hex.trim(), name)
    } else {
        // `md5sum`: `hex  name` (text mode) or `hex *name` (binary mode), or a bare `hex`.
        match line.split_once(' ') {
            None if escaped => return None,
            None => return Some((line, None)),
            Some((hex, rest)) => {
                let name = rest
                    .strip_prefix('*')
                    .or_else(|| rest.strip_prefix(' '))
                    .unwrap_or(rest);
                (hex, name)
            }
        }
    };
    let name = if escaped {
        unescape_name(name)?
    } else {
        name.to_string()
    };
    // `md5sum < f.zip` names standard input: the sum of whatever was piped, a bare sum.
    if name == "-" {
        return Some((hex, None));
    }
    Some((hex, Some(name)))
}

/// Reads a sums file, refusing one larger than [`MAX_SUMS_BYTES`] without reading further.
fn read_sums_file(sums: &Path) -> Result<Vec<u8>> {
    let file = File::open(sums).with_context(|| format!("{}: cannot read", sums.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SUMS_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read", sums.display()))?;
    if bytes.len() as u64 > MAX_SUMS_BYTES {
        bail!(
            "{}: more than 1 MiB; not a checksum file (md5sum or sha256sum output)",
            sums.display()
        );
    }
    Ok(bytes)
}

/// The sum `sums` gives for the file named `file_name`: from the line naming it (a path whose
/// last component is `file_name` counts), or the file's only line when that is a bare sum
/// (or names `-`, standard input).
fn expected_sum(sums: &Path, file_name: &str, algo: Algo) -> Result<String> {
    let bytes = read_sums_file(sums)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let parsed: Vec<(&str, Option<String>)> = lines
        .iter()
        .filter_map(|l| parse_sum_line(l, algo))
        .collect();
    let names_it = |n: &str| n == file_name || Path::new(n).file_name() == Some(file_name.as_ref());
    let mut sums_for: Vec<&str> = parsed
        .iter()
        .filter(|(_, n)| n.as_deref().is_some_and(names_it))
        .map(|(h, _)| *h)
        .collect();
    if sums_for.is_empty() {
        match parsed.as_slice() {
            [(hex, None)] if lines.len() == 1 => sums_for.push(hex),
            _ => bail!("{}: no line names {file_name}", sums.display()),
        }
    }
    let hex = sums_for[0];
    if sums_for.iter().any(|h| !h.eq_ignore_ascii_case(hex)) {
        bail!("{}: gives different sums for {file_name}", sums.display());
    }
    if hex.len() != algo.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{}: {hex:?} is not an {} sum ({} hex digits)",
            sums.display(),
            algo.label(),
            algo.hex_len()
        );
    }
    Ok(hex.to_ascii_lowercase())
}

/// Refuses `file` (opened from `source`) unless its sum is the one `sums` gives for it.
fn check_sum(file: &mut File, source: &Path, algo: Algo, sums: &Path) -> Result<()> {
    let file_name = source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{}: not a file name", source.display()))?;
    let want = expected_sum(sums, file_name, algo)?;
    let have = algo
        .digest(&mut *file)
        .with_context(|| format!("{}: cannot read", source.display()))?;
    if have != want {
        bail!(
            "{}: {} mismatch: {} gives {want}, the file has {have}; nothing was extracted",
            source.display(),
            algo.label(),
            sums.display()
        );
    }
    file.rewind()
        .with_context(|| format!("{}: cannot read", source.display()))?;
    Ok(())
}

/// The part of a zip that is the patch or service pack.
#[derive(Debug)]
struct ZipSource {
    name: String,
    kind: Kind,
    /// Its path inside the zip (`patch0001`, or `WSO2-…/patch0001`).
    prefix: PathBuf,
    items: Vec<ZipItem>,
}

#[derive(Debug)]
struct ZipItem {
    index: usize,
    /// Below `prefix`.
    rel: PathBuf,
    dir: bool,
    size: u64,
}

/// Refuses a raw entry name that leaves its dir: absolute, a drive, `..` anywhere, NUL. Stricter
/// than `enclosed_name`, which accepts `a/../b` and drops a leading `/`.
fn check_entry_name(name: &str) -> Result<()> {
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
fn read_zip_layout<R: Read + Seek>(zip: &zip::ZipArchive<R>, shown: &str) -> Result<ZipSource> {
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
fn dos_time(t: zip::DateTime) -> Option<filetime::FileTime> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDate::from_ymd_opt(t.year().into(), t.month().into(), t.day().into())?
        .and_hms_opt(t.hour().into(), t.minute().into(), t.second().into())?;
    let local = chrono::Local.from_local_datetime(&naive).earliest()?;
    Some(filetime::FileTime::from_unix_time(local.timestamp(), 0))
}

/// Extracts the source's entries into the existing dir `staging`, streamed, every CRC checked,
/// the total capped.
fn extract<R: Read + Seek>(
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

/// Checks the staged copy by the rules a run applying it would use (the scan's own), so it is
/// refused before it is visible rather than by the next run.
fn validate(layout: &Layout, kind: Kind, name: &str, staged: &Path) -> Result<()> {
    // Nothing learned about a staged file is worth keeping: its name is about to change.
    let cache = DigestCache::default();
    match kind {
        Kind::Patch => scan::read_patch_dir(name, staged, layout, &cache).map(drop),
        Kind::ServicePack => {
            // What makes a dir a service pack at all, whether or not it will be the latest.
            let lib = staged.join(layout::SERVICEPACK_LIB_DIR);
            if !lib.is_dir() {
                bail!("{}: a service pack without a lib/ dir", staged.display());
            }
            let list = staged.join(layout::SERVICEPACK_PATCHES_FILE);
            if !list.is_file() {
                bail!(
                    "{}: a service pack without {}",
                    staged.display(),
                    layout::SERVICEPACK_PATCHES_FILE
                );
            }
            scan::read_servicepack(staged, name, layout, &cache).map(drop)
        }
    }
}

/// Whether two trees hold the same relative paths, each the same kind, files the same bytes.
fn same_tree(a: &Path, b: &Path) -> Result<bool> {
    let list = |root: &Path| -> Result<Vec<(PathBuf, fs::FileType, u64)>> {
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(root).sort_by_file_name() {
            let e = e.with_context(|| format!("{}: cannot read", root.display()))?;
            let md = e
                .metadata()
                .with_context(|| format!("{}: cannot read", e.path().display()))?;
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("below root")
                .to_path_buf();
            out.push((rel, md.file_type(), md.len()));
        }
        Ok(out)
    };
    let (la, lb) = (list(a)?, list(b)?);
    if la.len() != lb.len() {
        return Ok(false);
    }
    for ((pa, ta, sa), (pb, tb, sb)) in la.iter().zip(&lb) {
        if pa != pb || ta != tb {
            return Ok(false);
        }
        if ta.is_symlink() {
            if fs::read_link(a.join(pa)).ok() != fs::read_link(b.join(pb)).ok() {
                return Ok(false);
            }
        } else if ta.is_file() && (sa != sb || !same_bytes(&a.join(pa), &b.join(pb))?) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let open = |p: &Path| {
        File::open(p)
            .map(BufReader::new)
            .with_context(|| format!("{}: cannot read", p.display()))
    };
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n =
            read_full(&mut fa, &mut ba).with_context(|| format!("{}: cannot read", a.display()))?;
        let m =
            read_full(&mut fb, &mut bb).with_context(|| format!("{}: cannot read", b.display()))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What an install did.
#[derive(Debug, PartialEq, Eq)]
enum Installed {
    New,
    /// The same name already held the same content: nothing changed.
    Already,
    /// Swapped for a copy with other content (`--replace`).
    Replaced,
}

/// What an install did, and what the operator should know about it.
#[derive(Debug)]
struct Committed {
    installed: Installed,
    /// For standard error, beside the `installed:` line; the install stands.
    warnings: Vec<String>,
}

/// Judges a copy just made visible by the product as planned before and after it: an error
/// (take it back out) only when the product planned before and no longer does. A product that
/// did not plan before was broken by something else: the copy is kept and the old problem
/// named, rather than a good patch refused for it.
fn judge(
    kind: Kind,
    name: &str,
    before: Result<Prepared>,
    after: Result<Prepared>,
) -> Result<Vec<String>> {
    match (before, after) {
        (Ok(_), Err(e)) => Err(e),
        (Err(old), Err(now)) => {
            let (old, now) = (format!("{old:#}"), format!("{now:#}"));
            let now = if now == old {
                String::new()
            } else {
                format!(" (now: {now})")
            };
            Ok(vec![format!(
                "{name} is installed, but the product could not be applied before it was, and \
                 still cannot: {old}{now}; the next apply or server start fails until that is \
                 fixed"
            )])
        }
        (_, Ok(after)) => Ok(ignored(&after.scan, kind, name).into_iter().collect()),
    }
}

/// Why the launcher will not apply what was just installed, if it will not, read off the scan
/// that planned it: it applies only the latest service pack (by `String.compareTo`), and skips
/// the patches that one lists in `servicepack_patches.txt`.
fn ignored(scan: &Scan, kind: Kind, name: &str) -> Option<String> {
    let latest = scan.latest_servicepack.as_ref().map(|sp| &sp.source.name);
    match kind {
        Kind::ServicePack => match latest {
            Some(latest) if latest == name => None,
            Some(latest) => Some(format!(
                "{name} will be ignored by the launcher: it applies only the latest service \
                 pack, and {latest} sorts after it"
            )),
            None => Some(format!(
                "{name} will be ignored by the launcher: the last servicepack… entry of {}, \
                 which sorts after it, is not a directory",
                scan.layout.servicepacks.display()
            )),
        },
        Kind::Patch => latest
            .filter(|_| scan.listed_by_servicepack(name))
            .map(|latest| {
                format!(
                "{name} will be ignored by the launcher: the service pack {latest} lists it in \
                 {} (its fixes are part of the service pack)",
                layout::SERVICEPACK_PATCHES_FILE
            )
            }),
    }
}

/// Puts the staged copy at `target`, or finds it is already there. The product is planned
/// before and after it becomes visible; see [`judge`] for when it is taken back out (left under
/// the staging name for the caller to remove) with the planning error.
fn commit(
    layout: &Layout,
    kind: Kind,
    name: &str,
    staging: &Path,
    target: &Path,
    replace: bool,
) -> Result<Committed> {
    let parent = target.parent().expect("a target has a parent");
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let before = Prepared::new(layout);
            fsops::rename_noreplace(staging, target)?;
            fsops::sync_dir(parent)?;
            match judge(kind, name, before, Prepared::new(layout)) {
                Ok(warnings) => Ok(Committed {
                    installed: Installed::New,
                    warnings,
                }),
                Err(e) => {
                    fsops::rename_noreplace(target, staging)?;
                    fsops::sync_dir(parent)?;
                    Err(e.context(format!(
                        "{name} taken back out: the product no longer plans with it"
                    )))
                }
            }
        }
        Err(e) => Err(e).with_context(|| format!("{}: cannot read", target.display())),
        Ok(_) => {
            if same_tree(staging, target)? {
                return Ok(Committed {
                    installed: Installed::Already,
                    warnings: Vec::new(),
                });
            }
            if !replace {
                bail!(
                    "{}: already installed with other content; pass --replace to swap it",
                    target.display()
                );
            }
            let before = Prepared::new(layout);
            fsops::exchange(staging, target)?;
            fsops::sync_dir(parent)?;
            match judge(kind, name, before, Prepared::new(layout)) {
                Ok(warnings) => Ok(Committed {
                    installed: Installed::Replaced,
                    warnings,
                }),
                Err(e) => {
                    fsops::exchange(staging, target)?;
                    fsops::sync_dir(parent)?;
                    Err(e.context(format!(
                        "the previous {name} put back: the product no longer plans with the new one"
                    )))
                }
            }
        }
    }
}

/// The staged path in an error, as the operator knows it: where it came from.
fn shown_as(e: anyhow::Error, staging: &Path, shown: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    match staging.to_str() {
        Some(s) if text.contains(s) => anyhow!("{}", text.replace(s, shown)),
        _ => e,
    }
}

/// Stages `name` beside `target` with `fill`, checks it, and puts it in place; removes
/// whatever is left under the staging name, and on failure the dirs it created.
fn put_in_place(
    layout: &Layout,
    kind: Kind,
    name: &str,
    shown: &str,
    replace: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<(Committed, PathBuf)> {
    let target = target_of(layout, kind, name);
    let parent = target
        .parent()
        .expect("a target has a parent")
        .to_path_buf();
    let created = fsops::create_missing_dirs(&parent)?;
    // A private dot-name: never taken for a patch by the launcher, and removed as a leftover
    // by the next run should we be killed.
    let staging = fsops::temp_beside(&target);
    let result = (|| {
        fill(&staging)?;
        fsops::sync_tree(&staging)?;
        validate(layout, kind, name, &staging).map_err(|e| shown_as(e, &staging, shown))?;
        commit(layout, kind, name, &staging, &target, replace)
    })();
    // Whatever holds the staging name now is ours to remove: an unused copy, the old copy
    // after a swap, or the new one taken back out.
    let cleanup = fsops::remove_leftover(&staging).and_then(|()| fsops::sync_dir(&parent));
    match result {
        Ok(committed) => {
            if let Err(e) = cleanup {
                // Only a cost: the next run removes it as a leftover.
                tracing::warn!("{e:#}");
            }
            Ok((committed, target))
        }
        Err(e) => {
            fsops::remove_created(&created);
            Err(e)
        }
    }
}

fn dir_name(dir: &Path) -> Result<String> {
    let name = match dir.file_name() {
        Some(n) => n.to_owned(),
        None => fs::canonicalize(dir)
            .with_context(|| format!("{}: cannot read", dir.display()))?
            .file_name()
            .map(|n| n.to_owned())
            .ok_or_else(|| anyhow!("{}: has no name", dir.display()))?,
    };
    name.into_string()
        .map_err(|_| anyhow!("{}: name is not valid UTF-8", dir.display()))
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
    let layout = match Layout::resolve(&args.paths.settings()) {
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
        if let Some(code) = oneshot::refuse_while_running(&layout, &args.control) {
            return code;
        }
    }
    let lock = match oneshot::lock(&layout, &args.control) {
        Ok(l) => l,
        Err(code) => return code,
    };
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
    oneshot::apply(&layout, &args.control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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

    #[test]
    fn sums_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sums");
        let md5 = "0123456789abcdef0123456789abcdef";
        let sum = |text: &str| {
            fs::write(&f, text).unwrap();
            expected_sum(&f, "x.zip", Algo::Md5)
        };
        assert_eq!(sum(&format!("{md5}  x.zip\n")).unwrap(), md5);
        assert_eq!(sum(&format!("{md5} *dist/x.zip\r\n")).unwrap(), md5);
        assert_eq!(
            sum(&format!(
                "ffffffffffffffffffffffffffffffff  y.zip\n{md5}  x.zip\n"
            ))
            .unwrap(),
            md5
        );
        assert_eq!(sum(&format!("{}\n", md5.to_uppercase())).unwrap(), md5);
        assert_eq!(sum(&format!("MD5 (x.zip) = {md5}\n")).unwrap(), md5);
        assert!(
            sum(&format!("{md5}  y.zip\n")).is_err(),
            "names another file"
        );
        assert!(sum("abc  x.zip\n").is_err(), "not an MD5");
        assert!(sum(&format!("{md5}\n{md5}\n")).is_err(), "two bare sums");
        // `md5sum < x.zip` names standard input.
        assert_eq!(sum(&format!("{md5}  -\n")).unwrap(), md5);
        assert!(
            sum(&format!("{md5}  -\n{md5}  y.zip\n")).is_err(),
            "`-` among other lines names nothing"
        );
        // coreutils' escaped lines.
        let escaped = |text: &str, name: &str| {
            fs::write(&f, text).unwrap();
            expected_sum(&f, name, Algo::Md5)
        };
        assert_eq!(
            escaped(&format!("\\{md5}  a\\\\b.zip\n"), "a\\b.zip").unwrap(),
            md5
        );
        assert_eq!(
            escaped(&format!("\\{md5} *a\\nb.zip\n"), "a\nb.zip").unwrap(),
            md5
        );
        assert_eq!(
            escaped(&format!("\\{md5}  a\\rb.zip\n"), "a\rb.zip").unwrap(),
            md5
        );
        assert_eq!(
            escaped(&format!("\\MD5 (a\\\\b.zip) = {md5}\n"), "a\\b.zip").unwrap(),
            md5
        );
        assert!(escaped(&format!("\\{md5}  a\\xb.zip\n"), "a\\xb.zip").is_err());
        // Unescaped, a backslash is part of the name.
        assert_eq!(
            escaped(&format!("{md5}  a\\b.zip\n"), "a\\b.zip").unwrap(),
            md5
        );
        // Capped: one byte over 1 MiB is refused.
        let mut big = format!("{md5}  x.zip\n").into_bytes();
        big.resize(MAX_SUMS_BYTES as usize + 1, b'\n');
        fs::write(&f, &big).unwrap();
        let e = expected_sum(&f, "x.zip", Algo::Md5).unwrap_err();
        assert!(format!("{e:#}").contains("more than 1 MiB"), "{e:#}");
        big.truncate(MAX_SUMS_BYTES as usize);
        fs::write(&f, &big).unwrap();
        assert_eq!(expected_sum(&f, "x.zip", Algo::Md5).unwrap(), md5);
        let sha = "a".repeat(64);
        fs::write(&f, format!("{sha}  x.zip\n")).unwrap();
        assert_eq!(expected_sum(&f, "x.zip", Algo::Sha256).unwrap(), sha);
        assert!(expected_sum(&f, "x.zip", Algo::Md5).is_err());
    }

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
