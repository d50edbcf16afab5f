//! Why the engine does not copy with `fs_extra` (one of the project's chosen dependencies): its
//! overwriting copy rewrites the destination in place, so a server holding the old jar open
//! would read a mix of old and new bytes, and a crash would leave a half-written jar. This test
//! measures that on a real file; the engine's own copies are checked in `cli.rs`
//! (`replaces_by_rename_keeps_modes_and_leaves_no_temporary_file`).

use std::fs;
use std::os::unix::fs::MetadataExt;

#[test]
fn fs_extra_overwrites_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("new.jar"), dir.path().join("old.jar"));
    fs::write(&src, b"new bytes").unwrap();
    fs::write(&dst, b"old bytes, longer").unwrap();
    let inode = fs::metadata(&dst).unwrap().ino();
    let opts = fs_extra::file::CopyOptions::new().overwrite(true);
    fs_extra::file::copy(&src, &dst, &opts).unwrap();
    assert_eq!(fs::read(&dst).unwrap(), b"new bytes");
    assert_eq!(
        fs::metadata(&dst).unwrap().ino(),
        inode,
        "same inode: the old file was truncated and rewritten"
    );
}
