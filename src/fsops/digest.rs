//! MD5 of files, streamed (never a whole jar in memory), in the lowercase hex the launcher writes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use md5::Md5;

/// An MD5 digest; `Display` gives the launcher's 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Md5Sum(pub [u8; 16]);

impl fmt::Display for Md5Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Digests everything `reader` yields with `D` (MD5 for the engine; `install` also SHA-256), in
/// large blocks: `io::copy`'s 8 KiB would cost two system calls per 8 KiB of a plugins dir of
/// hundreds of MB when the reader copies as it goes ([`super::copy`]).
pub fn digest_reader<D: md5::Digest>(mut reader: impl Read) -> io::Result<md5::digest::Output<D>> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize())
}

/// The MD5 of everything `reader` yields.
pub fn md5_reader(reader: impl Read) -> io::Result<Md5Sum> {
    Ok(Md5Sum(digest_reader::<Md5>(reader)?.into()))
}

pub fn md5_file(path: &Path) -> io::Result<Md5Sum> {
    md5_reader(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_like_md5sum() {
        assert_eq!(
            md5_reader(&b""[..]).unwrap().to_string(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            md5_reader(&b"abc"[..]).unwrap().to_string(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
