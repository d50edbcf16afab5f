//! `META-INF/MANIFEST.MF` parsing with the rules of `java.util.jar.Manifest` (Java 8), which the
//! launcher uses to name bundles: 512-byte lines, `Name: value` headers, one-space continuation
//! lines, case-insensitive header names, a main section ended by an empty line, and a last line
//! that Java silently drops when it has no line terminator.

use std::fmt;

/// Java reads manifest lines into a 512-byte buffer: a line and its `\n` must fit.
pub const MAX_LINE: usize = 512;

/// Why Java would refuse the manifest (its `IOException` messages, plus the line number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub reason: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ManifestError {}

/// The main section's attributes, in file order; a repeated name keeps the last value (Java's
/// `putValue` replaces). Values are kept as bytes: Java decodes them as UTF-8, replacing what
/// does not decode in its own way, so a value that is not UTF-8 is for the caller to refuse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MainAttributes(Vec<(String, Vec<u8>)>);

impl MainAttributes {
    /// `Attributes.getValue`: names compare ASCII-case-insensitively.
    pub fn get(&self, name: &str) -> Option<Result<&str, std::str::Utf8Error>> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| std::str::from_utf8(v))
    }
}

/// Splits like `Manifest.FastInputStream.readLine` with a 512-byte buffer: yields each line
/// including its `\n`, or an over-long chunk without one; a final line that has no `\n` and fits
/// the buffer is not returned at all (Java drops it).
struct Lines<'a> {
    rest: &'a [u8],
}

impl Lines<'_> {
    /// Java's `peek()`: the next raw byte, even of a last line that `next` will drop.
    fn next_is_continuation(&self) -> bool {
        self.rest.first() == Some(&b' ')
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let window = &self.rest[..self.rest.len().min(MAX_LINE)];
        let len = match window.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if window.len() == MAX_LINE => MAX_LINE,
            None => return None, // an unterminated last line: Java's readLine gives -1
        };
        let (line, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(line)
    }
}

/// One line's content without its terminator, or Java's "line too long".
fn content(raw: &[u8], line: usize) -> Result<&[u8], ManifestError> {
    let Some(body) = raw.strip_suffix(b"\n") else {
        return Err(ManifestError {
            line,
            reason: "line too long (more than 512 bytes)",
        });
    };
    Ok(body.strip_suffix(b"\r").unwrap_or(body))
}

/// `Attributes.Name`: 1 to 70 of `[A-Za-z0-9_-]`.
fn valid_name(name: &[u8]) -> bool {
    (1..=70).contains(&name.len())
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Reads one section's headers (Java's `Attributes.read`) until an empty line or the end.
/// Returns the headers and how many lines were consumed.
fn read_section(
    lines: &mut Lines<'_>,
    line_no: &mut usize,
) -> Result<Vec<(String, Vec<u8>)>, ManifestError> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut name: Option<String> = None;
    let mut pending: Option<Vec<u8>> = None;
    while let Some(raw) = lines.next() {
        *line_no += 1;
        let line = content(raw, *line_no)?;
        if line.is_empty() {
            break;
        }
        let next_continues = lines.next_is_continuation();
        let value = if line[0] == b' ' {
            let Some(mut buf) = pending.take() else {
                return Err(ManifestError {
                    line: *line_no,
                    reason: "misplaced continuation line",
                });
            };
            buf.extend_from_slice(&line[1..]);
            if next_continues {
                pending = Some(buf);
                continue;
            }
            buf
        } else {
            let colon = line.iter().position(|&b| b == b':');
            let Some(colon) = colon.filter(|&c| line.get(c + 1) == Some(&b' ')) else {
                return Err(ManifestError {
                    line: *line_no,
                    reason: "invalid header field (no \": \")",
                });
            };
            let raw_name = &line[..colon];
            if !valid_name(raw_name) {
                return Err(ManifestError {
                    line: *line_no,
                    reason: "invalid header field name",
                });
            }
            name = Some(raw_name.iter().map(|&b| b as char).collect());
            let value = line[colon + 2..].to_vec();
            if next_continues {
                pending = Some(value);
                continue;
            }
            value
        };
        let n = name.clone().expect("a value always follows a name");
        out.push((n, value));
    }
    Ok(out)
}

/// Parses a whole manifest as Java's `new Manifest(InputStream)` does, returning the main
/// section. Later sections must start with `Name: ` and are checked but not kept.
pub fn parse(bytes: &[u8]) -> Result<MainAttributes, ManifestError> {
    let mut lines = Lines { rest: bytes };
    let mut line_no = 0;
    let main = read_section(&mut lines, &mut line_no)?;
    // Per-entry sections: blank lines between them are skipped; each starts with "Name: ".
    while let Some(raw) = lines.next() {
        line_no += 1;
        let line = content(raw, line_no)?;
        if line.is_empty() {
            continue;
        }
        let is_name = line.len() >= 6 && line[..6].eq_ignore_ascii_case(b"name: ");
        if !is_name {
            return Err(ManifestError {
                line: line_no,
                reason: "invalid manifest format (section without \"Name: \")",
            });
        }
        // A wrapped entry name: its continuation lines belong to the name.
        while lines.next_is_continuation() {
            if lines.next().is_none() {
                break;
            }
            line_no += 1;
        }
        read_section(&mut lines, &mut line_no)?;
    }
    Ok(MainAttributes(main))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main(text: &str) -> MainAttributes {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn plain_headers_any_case() {
        let m = main("Manifest-Version: 1.0\r\nbundle-symbolicname: org.a;singleton:=true\r\nBUNDLE-VERSION: 1.2.3\r\n\r\n");
        assert_eq!(
            m.get("Bundle-SymbolicName"),
            Some(Ok("org.a;singleton:=true"))
        );
        assert_eq!(m.get("Bundle-Version"), Some(Ok("1.2.3")));
        assert_eq!(m.get("Export-Package"), None);
    }

    #[test]
    fn continuation_lines_join() {
        let m =
            main("Bundle-SymbolicName: org.wso2.carbon.\n very.long.na\n me\nBundle-Version: 1\n");
        assert_eq!(
            m.get("bundle-symbolicname"),
            Some(Ok("org.wso2.carbon.very.long.name"))
        );
        assert_eq!(m.get("bundle-version"), Some(Ok("1")));
    }

    #[test]
    fn values_are_not_trimmed_and_last_duplicate_wins() {
        let m = main("Bundle-Version: 1.0 \nBundle-Version:  2.0\n");
        assert_eq!(m.get("Bundle-Version"), Some(Ok(" 2.0")));
    }

    #[test]
    fn main_section_ends_at_empty_line() {
        let m = main("A: 1\n\nName: x/y.class\nBundle-Version: 9\n");
        assert_eq!(m.get("A"), Some(Ok("1")));
        assert_eq!(m.get("Bundle-Version"), None);
    }

    #[test]
    fn unterminated_last_line_is_dropped() {
        let m = main("A: 1\nBundle-Version: 2");
        assert_eq!(m.get("A"), Some(Ok("1")));
        assert_eq!(m.get("Bundle-Version"), None);
    }

    #[test]
    fn unterminated_continuation_drops_the_whole_header() {
        // Java peeks the raw next byte: the header waits for its continuation, which is then
        // dropped with the unterminated line, and the header never lands.
        let m = main("Bundle-SymbolicName: a\nBundle-Version: 1\n 2");
        assert_eq!(m.get("Bundle-SymbolicName"), Some(Ok("a")));
        assert_eq!(m.get("Bundle-Version"), None);
    }

    #[test]
    fn line_limit_is_512_bytes_with_terminator() {
        let ok = format!("A: {}\n", "x".repeat(MAX_LINE - 4));
        assert_eq!(ok.len(), MAX_LINE);
        assert!(parse(ok.as_bytes()).is_ok());
        let long = format!("A: {}\n", "x".repeat(MAX_LINE - 3));
        let err = parse(long.as_bytes()).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("too long"));
        // CRLF counts too: 511 bytes of content + \r\n is too long.
        let crlf = format!("A: {}\r\n", "x".repeat(MAX_LINE - 4));
        assert!(parse(crlf.as_bytes()).is_err());
        // So does an unterminated line that fills the buffer.
        assert!(parse("x".repeat(MAX_LINE).as_bytes()).is_err());
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert!(parse(b" continued\n").is_err());
        assert!(parse(b"NoColon\n").is_err());
        assert!(parse(b"A:novalue-space\n").is_err());
        assert!(parse(b"Bad Name: x\n").is_err());
        assert!(parse(b": x\n").is_err());
        assert!(parse(b"A: 1\n\nNot-A-Name-Line: x\n").is_err());
        assert!(parse(b"A: 1\n\n\n\nName: a\n B\nX: 1\n\n\nName: b\n").is_ok());
    }

    #[test]
    fn values_keep_their_bytes() {
        let m = parse(b"Bundle-Version: 1.\xff\n").unwrap();
        assert!(m.get("Bundle-Version").unwrap().is_err());
    }

    #[test]
    fn empty_manifest_has_no_attributes() {
        assert_eq!(main("").get("A"), None);
        assert_eq!(main("\n").get("A"), None);
    }
}
