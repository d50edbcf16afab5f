//! The charsets a handler's `encoding` may name that we can write as Java's `OutputStreamWriter`
//! does: UTF-8, ISO-8859-1 and US-ASCII, by their Java names and aliases. A char the charset
//! cannot hold becomes one `?` (Java's encoder replacement), a surrogate pair counting as one
//! char; a lone surrogate has already become `?` on its way in.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Latin1,
    Ascii,
}

const LATIN1: &[&str] = &[
    "iso-8859-1",
    "819",
    "iso8859-1",
    "l1",
    "iso_8859-1:1987",
    "iso_8859-1",
    "8859_1",
    "iso-ir-100",
    "latin1",
    "cp819",
    "iso8859_1",
    "ibm819",
    "iso_8859_1",
    "ibm-819",
    "csisolatin1",
];

const ASCII: &[&str] = &[
    "us-ascii",
    "ansi_x3.4-1968",
    "cp367",
    "csascii",
    "iso-ir-6",
    "ascii",
    "iso_646.irv:1983",
    "ansi_x3.4-1986",
    "ascii7",
    "default",
    "iso_646.irv:1991",
    "iso646-us",
    "ibm367",
    "646",
    "us",
];

impl Charset {
    /// `Charset.forName` for the names we write (Java matches names case-insensitively); `None`
    /// for any other name, whether Java knows it or not.
    pub fn from_java_name(name: &str) -> Option<Charset> {
        let n = name.to_ascii_lowercase();
        if ["utf-8", "utf8", "unicode-1-1-utf-8"].contains(&n.as_str()) {
            Some(Charset::Utf8)
        } else if LATIN1.contains(&n.as_str()) {
            Some(Charset::Latin1)
        } else if ASCII.contains(&n.as_str()) {
            Some(Charset::Ascii)
        } else {
            None
        }
    }

    pub fn encode(self, text: &str) -> Vec<u8> {
        let max = match self {
            Charset::Utf8 => return text.as_bytes().to_vec(),
            Charset::Latin1 => 0xff,
            Charset::Ascii => 0x7f,
        };
        text.chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .ok()
                    .filter(|b| u32::from(*b) <= max)
            })
            .map(|b| b.unwrap_or(b'?'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_output_stream_writer() {
        // OutputStreamWriter on OpenJDK 17 wrote these bytes for "aé€😀z".
        let text = "a\u{e9}\u{20ac}\u{1f600}z";
        assert_eq!(Charset::Latin1.encode(text), b"a\xe9??z");
        assert_eq!(Charset::Ascii.encode(text), b"a???z");
        assert_eq!(
            Charset::Utf8.encode(text),
            b"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"
        );
    }

    #[test]
    fn java_names() {
        assert_eq!(Charset::from_java_name("UTF8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_java_name("Latin1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_java_name("ISO8859_1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_java_name("US-ASCII"), Some(Charset::Ascii));
        assert_eq!(Charset::from_java_name("windows-1252"), None);
        assert_eq!(Charset::from_java_name(" UTF-8"), None);
    }
}
