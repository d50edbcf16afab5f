//! `java.util.Properties.load(InputStream)`, and the `${name}` replacement that Tomcat JULI's
//! `ClassLoaderLogManager.replace` applies to every value it hands out.
//!
//! `load` reads ISO-8859-1 bytes, one char per byte. A *natural* line ends at `\n`, `\r` or
//! `\r\n`; a *logical* line joins natural lines while one ends in an odd number of backslashes
//! (leading whitespace of the next is dropped). Blank lines and lines whose first non-blank char
//! is `#` or `!` are skipped. The key ends at the first unescaped `=`, `:`, space, tab or form
//! feed; whitespace and at most one `=`/`:` follow; the rest is the value. Escapes: `\uXXXX`,
//! `\t \n \r \f`, and `\x` for any other `x`. The last of duplicate keys wins.

use std::collections::BTreeMap;

/// A loaded properties file: what `Properties.getProperty` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    map: BTreeMap<String, String>,
}

/// `Properties.load` threw `IllegalArgumentException("Malformed \uxxxx encoding.")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// The natural line (1-based) where the bad logical line starts.
    pub line: usize,
    /// What was loaded before it (Java keeps those entries).
    pub partial: Properties,
}

impl Properties {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `Properties.load(InputStream)` on `bytes`.
    pub fn load(bytes: &[u8]) -> Result<Properties, Malformed> {
        let mut props = Properties::default();
        let mut reader = LineReader {
            bytes,
            pos: 0,
            line: 1,
        };
        while let Some((start_line, line)) = reader.logical_line() {
            let (key, value) = split_entry(&line);
            match (unescape(key), unescape(value)) {
                (Some(k), Some(v)) => {
                    props.map.insert(k, v);
                }
                _ => {
                    return Err(Malformed {
                        line: start_line,
                        partial: props,
                    })
                }
            }
        }
        Ok(props)
    }
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\x0c')
}

/// `Properties.LineReader`: yields logical lines (as ISO-8859-1 bytes, continuations joined,
/// escapes still in place) with the natural line each starts on.
struct LineReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

impl LineReader<'_> {
    fn next_byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if b == b'\n' || (b == b'\r' && self.bytes.get(self.pos) != Some(&b'\n')) {
            self.line += 1;
        }
        Some(b)
    }

    fn logical_line(&mut self) -> Option<(usize, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut skip_blank = true;
        // After a continuation, an end of line there ends the logical line instead of being
        // skipped as a blank line would be.
        let mut continued = false;
        let mut backslash = false;
        let mut start = self.line;
        loop {
            let Some(c) = self.next_byte() else {
                // End of input: a dangling continuation backslash is dropped.
                if buf.is_empty() {
                    return None;
                }
                if backslash {
                    buf.pop();
                }
                return Some((start, buf));
            };
            if skip_blank {
                if is_blank(c) || (!continued && (c == b'\r' || c == b'\n')) {
                    continue;
                }
                skip_blank = false;
                continued = false;
            }
            if buf.is_empty() && (c == b'#' || c == b'!') {
                // A comment runs to the end of its natural line; a backslash there continues
                // nothing.
                while let Some(c) = self.next_byte() {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                }
                skip_blank = true;
                start = self.line;
                continue;
            }
            if c != b'\n' && c != b'\r' {
                if buf.is_empty() {
                    start = self.line;
                }
                buf.push(c);
                backslash = c == b'\\' && !backslash;
                continue;
            }
            if buf.is_empty() {
                skip_blank = true;
                continue;
            }
            if self.pos >= self.bytes.len() {
                if backslash {
                    buf.pop();
                }
                return Some((start, buf));
            }
            if !backslash {
                return Some((start, buf));
            }
            buf.pop();
            skip_blank = true;
            continued = true;
            backslash = false;
            if c == b'\r' && self.bytes.get(self.pos) == Some(&b'\n') {
                self.pos += 1;
                self.line += 1;
            }
        }
    }
}

/// `Properties.load0`: splits a logical line into its raw key and raw value.
fn split_entry(line: &[u8]) -> (&[u8], &[u8]) {
    let mut key_len = 0;
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut backslash = false;
    while key_len < line.len() {
        let c = line[key_len];
        if (c == b'=' || c == b':') && !backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if is_blank(c) && !backslash {
            value_start = key_len + 1;
            break;
        }
        backslash = c == b'\\' && !backslash;
        key_len += 1;
    }
    while value_start < line.len() {
        let c = line[value_start];
        if !is_blank(c) {
            if !has_sep && (c == b'=' || c == b':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_len], &line[value_start..])
}

/// `Properties.loadConvert`; `None` for a malformed `\uXXXX`. Builds UTF-16 as Java does, so a
/// pair of `\u` escapes makes one char; a lone surrogate becomes `?`, which is what Java's
/// encoders write for it.
fn unescape(raw: &[u8]) -> Option<String> {
    let mut units: Vec<u16> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        if c != b'\\' {
            units.push(u16::from(c));
            continue;
        }
        // The reader never leaves an unescaped backslash last.
        let e = *raw.get(i)?;
        i += 1;
        let unit = match e {
            b'u' => {
                let hex = raw.get(i..i + 4)?;
                i += 4;
                let text = std::str::from_utf8(hex).ok()?;
                if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                u16::from_str_radix(text, 16).ok()?
            }
            b't' => u16::from(b'\t'),
            b'r' => u16::from(b'\r'),
            b'n' => u16::from(b'\n'),
            b'f' => 0x0c,
            other => u16::from(other),
        };
        units.push(unit);
    }
    Some(
        char::decode_utf16(units)
            .map(|r| r.unwrap_or('?'))
            .collect(),
    )
}

/// `ClassLoaderLogManager.replace` (Tomcat 8.5 onwards): each `${name}` whose name is non-empty
/// and a known system property is replaced; an unknown or empty one stays as written, and so
/// does an unterminated `${` and everything after it.
pub fn replace(value: &str, system: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match (!name.is_empty()).then(|| system(name)).flatten() {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(bytes: &[u8]) -> Vec<(String, String)> {
        let p = Properties::load(bytes).unwrap();
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Every expected value below was printed by Properties.load on OpenJDK 17 for the same bytes.

    #[test]
    fn separators_and_whitespace() {
        let text = b"a=1\nb = 2\nc:3\nd 4\n  e\t=\t5  \n\tf\x0c:  6\ng\n=h\n:i\nj==k\nk::l\nm = = n\nn\\ o = p\nq\\=r = s\nt\\:u:v\nw x y\n";
        assert_eq!(
            entries(text),
            pairs(&[
                ("", "i"),
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5  "),
                ("f", "6"),
                ("g", ""),
                ("j", "=k"),
                ("k", ":l"),
                ("m", "= n"),
                ("n o", "p"),
                ("q=r", "s"),
                ("t:u", "v"),
                ("w", "x y"),
            ])
        );
    }

    #[test]
    fn comments_and_continuations() {
        let text = b"# comment\n! also\n  # indented comment\nkey = one \\\n     two \\\n\tthree\nx = a\\\\\ny = a\\\\\\\nb\nz = end\\";
        assert_eq!(
            entries(text),
            pairs(&[
                ("key", "one two three"),
                ("x", "a\\"),
                ("y", "a\\b"),
                ("z", "end")
            ])
        );
        // A continuation onto an empty line ends the entry; a comment's trailing backslash
        // continues nothing; a `#` right after a bare continuation starts a comment.
        let text = b"a=1\\\n\nb=2\n#c=3\\\nd=4\n\\\n#notcomment=5\n";
        assert_eq!(entries(text), pairs(&[("a", "1"), ("b", "2"), ("d", "4")]));
    }

    #[test]
    fn escapes_latin1_and_duplicates() {
        let text = b"u = \\u0041\\u00e9\\t\\n\\r\\f\\q\\\\\nv = caf\xe9\nw=\\uD83D\\uDE00\nlone=\\uD800x\ndup=1\ndup=2\n";
        assert_eq!(
            entries(text),
            pairs(&[
                ("dup", "2"),
                ("lone", "?x"),
                ("u", "A\u{e9}\t\n\r\x0cq\\"),
                ("v", "caf\u{e9}"),
                ("w", "\u{1f600}"),
            ])
        );
    }

    #[test]
    fn line_endings() {
        let text = b"a=1\r\nb=2\rc=3\r\nd=con\\\r\n  tinued\re=x\\\r  y\n";
        assert_eq!(
            entries(text),
            pairs(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "continued"),
                ("e", "xy")
            ])
        );
        let text = b"   \n\t\n\x0c\nkey\nkey2=\n\\ lead=1\n";
        assert_eq!(
            entries(text),
            pairs(&[(" lead", "1"), ("key", ""), ("key2", "")])
        );
    }

    #[test]
    fn malformed_unicode_escape_stops_the_load() {
        let err = Properties::load(b"ok=1\r\n# c\nbad=\\u00G1\nafter=1\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.partial.get("ok"), Some("1"));
        assert_eq!(err.partial.get("after"), None);
        assert_eq!(Properties::load(b"a=\\u12\n").unwrap_err().line, 1);
    }

    #[test]
    fn replace_as_juli() {
        let sys = |k: &str| match k {
            "carbon.home" => Some("/opt/wso2".to_string()),
            "e" => Some(String::new()),
            _ => None,
        };
        // Printed by Tomcat 9.0.70's ClassLoaderLogManager for a FileHandler pattern.
        assert_eq!(
            replace(
                "${carbon.home}/repository/logs/${nope}x${}y${carbon.home",
                &sys
            ),
            "/opt/wso2/repository/logs/${nope}x${}y${carbon.home"
        );
        assert_eq!(replace("a${e}b${carbon.home}}c", &sys), "ab/opt/wso2}c");
        assert_eq!(replace("no dollars", &sys), "no dollars");
        assert_eq!(replace("$${carbon.home}", &sys), "$/opt/wso2");
    }
}
