//! Checking a downloaded zip against its published sum (`--md5`/`--sha256`): a sum, or a sums
//! file as `md5sum`/`sha256sum` write it, escaped names included.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

/// The checksum `--md5` or `--sha256` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algo {
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

pub(super) fn hash<D: sha2::Digest>(r: impl Read) -> io::Result<String> {
    let sum = crate::fsops::digest::digest_reader::<D>(r)?;
    Ok(sum.iter().map(|b| format!("{b:02x}")).collect())
}

/// The most a sums file may hold: a published sums file is a few lines, and `--md5 /dev/zero`
/// (or any endless source) must fail rather than read forever.
pub(super) const MAX_SUMS_BYTES: u64 = 1024 * 1024;

/// A name as coreutils escapes it on a line starting with `\`: `\\`, `\n` and `\r`; `None`
/// for any other escape (coreutils calls such a line improperly formatted).
pub(super) fn unescape_name(name: &str) -> Option<String> {
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
pub(super) fn parse_sum_line(line: &str, algo: Algo) -> Option<(&str, Option<String>)> {
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
pub(super) fn read_sums_file(sums: &Path) -> Result<Vec<u8>> {
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
pub(super) fn expected_sum(sums: &Path, file_name: &str, algo: Algo) -> Result<String> {
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
pub(super) fn check_sum(file: &mut File, source: &Path, algo: Algo, sums: &Path) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
}
