//! Hard links, for building a new version of a large tree beside the old one without copying
//! the files both hold (a rebase of `patch0000` changes a few of its hundreds of jars).

use std::fs;
use std::path::Path;

use anyhow::Result;

use super::copy::copy_new;
use super::owner::likeness;
use super::space_point;

/// Makes the new path `dst` name the same file as `src` (a hard link), or, where the filesystem
/// cannot link (another device, no link support), a copy of it with its mode and time. Every
/// writer in this crate replaces files by rename, never in place, so the two names never see
/// each other's changes.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    space_point(dst)?;
    if fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    copy_new(src, dst, likeness(src)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn links_when_it_can_and_refuses_an_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"bytes").unwrap();
        link_or_copy(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"bytes");
        assert_eq!(
            fs::metadata(&a).unwrap().ino(),
            fs::metadata(&b).unwrap().ino()
        );
        // An existing target is never overwritten: the copy's create_new refuses it too.
        assert!(link_or_copy(&a, &b).is_err());
        assert_eq!(fs::read(&b).unwrap(), b"bytes");
    }
}
