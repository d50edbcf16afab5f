//! Single rules of the spec seen end to end, where a unit test of the rule alone would not show
//! that the engine wires it in: how `servicepack_patches.txt` is read, which changes are not
//! changes, and the Java `HashMap` order of `prePatchedJARs.txt` when jar names collide.

mod common;

use std::fs;

use common::*;

/// Lines end at `\n`, `\r\n` or `\r`; nothing is trimmed, blank lines are kept. A name listed
/// with a trailing space does not match the dir, so that patch is applied on its own as well.
#[test]
fn servicepack_list_line_ends_and_no_trimming() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(
        tmp.path(),
        &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")],
    );
    for (patch, bundle) in [
        ("patch0001", "a"),
        ("patch0002", "b"),
        ("patch0003", "c"),
        ("patch0004", "d"),
    ] {
        p.add_patch_jar(patch, &format!("{bundle}_1.jar"), bundle, "1", patch);
    }
    p.add_servicepack("servicepack001", &[("a_1.jar", "a", "1", "sp")], &[]);
    write(
        &p.servicepacks()
            .join("servicepack001/servicepack_patches.txt"),
        b"patch0001\r\n\rpatch0002\rpatch0003 \npatch0004",
    );
    assert_ok(&p.apply(&[]));
    // Listed (skipped): patch0001, patch0002, patch0004. Not listed: "patch0003 " ≠ patch0003.
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\npatch0003\n"
    );
    let log = new_log_lines(&p, 0);
    assert!(log.contains(
        &" INFO {org.wso2.carbon.server.util.PatchUtils} -  Applying - patch0003".to_string()
    ));
    assert!(!log.iter().any(|l| l.contains("Applying - patch0001")));
    // The listed patches' jars are not in play: b and d keep their original bytes.
    assert_eq!(
        fs::read(p.plugins().join("b_1.jar")).unwrap(),
        bundle_jar("b", "1", "original")
    );
    assert_eq!(
        fs::read(p.plugins().join("d_1.jar")).unwrap(),
        bundle_jar("d", "1", "original")
    );
}

/// A jar deleted from an applied patch is not a change: the launcher applies nothing and only
/// drops it from `prePatchedJARs.txt`; its copy stays in `plugins`.
#[test]
fn jar_deleted_from_applied_patch_is_not_a_change() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1"), ("b", "1")]);
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    p.add_patch_jar("patch0001", "b_1.jar", "b", "1", "patched");
    assert_ok(&p.apply(&[]));
    fs::remove_file(p.patches().join("patch0001/b_1.jar")).unwrap();
    let len = log_len(&p);
    let out = p.apply(&[]);
    assert_ok(&out);
    assert!(
        out.stdout.is_empty(),
        "nothing applied, nothing on the console"
    );
    assert_eq!(new_log_lines(&p, len), NO_CHANGE_LOG);
    assert_eq!(
        p.read_metadata("prePatchedJARs.txt"),
        format!("a_1.jar:{}\n", md5_hex(&bundle_jar("a", "1", "patched")))
    );
    assert_eq!(
        fs::read(p.plugins().join("b_1.jar")).unwrap(),
        bundle_jar("b", "1", "patched")
    );
}

/// Patch dirs are applied in `String.compareTo` order, the last writer of a bundle wins, and the
/// entries of a patch that are not jars keep their own names.
#[test]
fn order_of_patch_dirs_and_last_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    // "patch10" sorts before "patch9": patch9 is applied last and wins.
    p.add_patch_jar("patch9", "x.jar", "a", "1", "from patch9");
    p.add_patch_jar("patch10", "y.jar", "a", "1", "from patch10");
    write(&p.patches().join("patch10/readme.txt"), b"notes");
    // Not a candidate: ignored entirely.
    p.add_patch_jar("hotfix1", "a_1.jar", "a", "1", "ignored");
    assert_ok(&p.apply(&[]));
    assert_eq!(
        fs::read(p.plugins().join("a_1.jar")).unwrap(),
        bundle_jar("a", "1", "from patch9")
    );
    assert_eq!(fs::read(p.plugins().join("readme.txt")).unwrap(), b"notes");
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch10\npatch9\n"
    );
    let jars = p.read_metadata("prePatchedJARs.txt");
    assert!(jars.contains(&format!(
        "a_1.jar:{}\n",
        md5_hex(&bundle_jar("a", "1", "from patch9"))
    )));
    assert!(jars.contains(&format!("readme.txt:{}\n", md5_hex(b"notes"))));
}

/// `..` inside a bundle file name is an ordinary name (spec section 9): `Bundle-Version: 1.0.`
/// names `a_1.0..jar`, and a symbolic name `..` names `.._1.jar`; both stay inside `plugins` and
/// are applied as the launcher applies them.
#[test]
fn dots_inside_a_bundle_file_name_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1.0.")]);
    p.add_patch_jar("patch0001", "a.jar", "a", "1.0.", "patched");
    p.add_patch_jar("patch0001", "dots.jar", "..", "1", "dots");
    assert_ok(&p.apply(&[]));
    assert_eq!(
        fs::read(p.plugins().join("a_1.0..jar")).unwrap(),
        bundle_jar("a", "1.0.", "patched")
    );
    assert_eq!(
        fs::read(p.plugins().join(".._1.jar")).unwrap(),
        bundle_jar("..", "1", "dots")
    );
    let jars = p.read_metadata("prePatchedJARs.txt");
    assert!(jars.contains("a_1.0..jar:"), "{jars}");
    assert!(jars.contains(".._1.jar:"), "{jars}");
}

/// The launcher reads `plugins` only when it applies: an odd entry there (a dangling link) does
/// not stop a run that has nothing to apply.
#[test]
fn plugins_are_not_read_when_nothing_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    std::os::unix::fs::symlink("/nonexistent", p.plugins().join("dangling.jar")).unwrap();
    assert_ok(&p.apply(&[]));
    assert_eq!(p.read_metadata("prePatchedDir.txt"), "");
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), "");
    // When it does apply, the same entry is refused before anything is written.
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    let before = snapshot(&p.home);
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dangling.jar"));
    assert_eq!(snapshot(&p.home), before);
}

/// A service pack whose `lib` is a file: the launcher lists nothing in it, applies nothing from
/// it, and records the service pack as applied.
#[test]
fn servicepack_lib_that_is_a_file_applies_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    write(&p.servicepacks().join("servicepack001/lib"), b"not a dir");
    write(
        &p.servicepacks()
            .join("servicepack001/servicepack_patches.txt"),
        b"",
    );
    assert_ok(&p.apply(&[]));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\n"
    );
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), "");
}

/// Run as root on a product owned by its own user, new and replaced files keep that user, so
/// the launcher (running as that user) can still rewrite them.
#[test]
fn files_keep_the_product_owner() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1"), ("b", "1")]);
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    p.add_patch_jar("patch0001", "c_1.jar", "c", "1", "new bundle");
    let root = unsafe { libc::geteuid() } == 0;
    // As root: give the product to another user first. Otherwise everything is ours anyway.
    let (uid, gid) = if root {
        (4321, 4321)
    } else {
        unsafe { (libc::geteuid(), libc::getegid()) }
    };
    if root {
        for e in walkdir::WalkDir::new(&p.home) {
            std::os::unix::fs::lchown(e.unwrap().path(), Some(uid), Some(gid)).unwrap();
        }
    }
    assert_ok(&p.apply(&[]));
    for f in [
        p.plugins().join("a_1.jar"),
        p.plugins().join("c_1.jar"),
        p.backup_dir().join("b_1.jar"),
        p.metadata().join("prePatchedDir.txt"),
        p.metadata().join("prePatchedJARs.txt"),
        p.patches_log(),
    ] {
        let md = fs::metadata(&f).unwrap();
        assert_eq!((md.uid(), md.gid()), (uid, gid), "{}", f.display());
    }
}

/// A link in a patch dir that leads out of the product is refused unless --follow-symlinks; a
/// link within the product is followed, as the launcher (Java's File) follows links.
#[test]
fn symlinks_out_of_the_product_need_follow_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1"), ("b", "1")]);
    let outside = tmp.path().join("elsewhere/a_1.jar");
    write(&outside, &bundle_jar("a", "1", "from outside"));
    fs::create_dir_all(p.patches().join("patch0001")).unwrap();
    std::os::unix::fs::symlink(&outside, p.patches().join("patch0001/a_1.jar")).unwrap();
    let inside = p.home.join("staging/b_1.jar");
    write(&inside, &bundle_jar("b", "1", "from inside"));
    std::os::unix::fs::symlink(&inside, p.patches().join("patch0001/b_1.jar")).unwrap();
    let before = snapshot(tmp.path());
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a_1.jar") && err.contains("--follow-symlinks"),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before);
    assert_ok(&p.apply(&["--follow-symlinks"]));
    assert_eq!(
        fs::read(p.plugins().join("a_1.jar")).unwrap(),
        bundle_jar("a", "1", "from outside")
    );
    assert_eq!(
        fs::read(p.plugins().join("b_1.jar")).unwrap(),
        bundle_jar("b", "1", "from inside")
    );
    // The copy in plugins is a file, not a link.
    assert!(!fs::symlink_metadata(p.plugins().join("a_1.jar"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// The digest cache never hides a change: a patch jar rewritten in place with the same size and
/// its old modification time put back (`touch -r`) is still seen as updated.
#[test]
fn cache_sees_a_rewrite_that_keeps_size_and_mtime() {
    use std::io::Write;
    let stored = |payload: &[u8]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        w.start_file("META-INF/MANIFEST.MF", o).unwrap();
        w.write_all(b"Bundle-SymbolicName: a\r\nBundle-Version: 1\r\n\r\n")
            .unwrap();
        w.start_file("payload", o).unwrap();
        w.write_all(payload).unwrap();
        w.finish().unwrap().into_inner()
    };
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    let jar = p.patches().join("patch0001/a_1.jar");
    write(&jar, &stored(b"first version"));
    // Old enough to be cached (the cache skips files changed in the last second).
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_ok(&p.apply(&[]));
    assert!(p.home.join("repository/.carbon-patcher/digests").exists());
    let second = stored(b"other version");
    assert_eq!(second.len(), fs::metadata(&jar).unwrap().len() as usize);
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&jar).unwrap());
    fs::OpenOptions::new()
        .write(true)
        .open(&jar)
        .unwrap()
        .write_all(&second)
        .unwrap();
    filetime::set_file_mtime(&jar, mtime).unwrap();
    let len = log_len(&p);
    assert_ok(&p.apply(&[]));
    assert!(
        new_log_lines(&p, len)
            .iter()
            .any(|l| l.ends_with("a_1.jar has been updated")),
        "{:?}",
        new_log_lines(&p, len)
    );
    assert_eq!(fs::read(p.plugins().join("a_1.jar")).unwrap(), second);
}

/// A file's name in `plugins` is decided by its own name as well as its bytes: a non-jar keeps
/// its name, a jar whose manifest names no bundle keeps its name, a bundle jar takes the
/// manifest's. Hard links give two entries the same bytes (and inode) under other names; the
/// digest cache, keyed by inode, must not hand one entry's name to the other, in the run that
/// learns them or in a later one.
#[test]
fn hard_linked_entries_keep_their_own_names() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("x", "1")]);
    p.add_patch_jar("patch0001", "anything.jar", "x", "1", "patched x");
    let plain = zip_bytes(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n")]);
    write(&p.patches().join("patch0003/plain.jar"), &plain);
    for (link, to) in [
        ("patch0002/notes.txt", "patch0001/anything.jar"),
        ("patch0004/other.jar", "patch0003/plain.jar"),
    ] {
        fs::create_dir_all(p.patches().join(link).parent().unwrap()).unwrap();
        fs::hard_link(p.patches().join(to), p.patches().join(link)).unwrap();
    }
    // Old enough for the cache to keep what the first run learns, on any filesystem.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let want = ["notes.txt", "other.jar", "plain.jar", "x_1.jar"];
    for run in 0..2 {
        assert_ok(&p.apply(&[]));
        let plugins = files(&p.plugins());
        for name in want {
            assert!(
                plugins.contains_key(std::path::Path::new(name)),
                "run {run}: plugins lacks {name}: {:?}",
                plugins.keys().collect::<Vec<_>>()
            );
        }
        assert_eq!(plugins.len(), want.len(), "run {run}: {:?}", plugins.keys());
        // The next run applies again, from what the cache learned.
        p.add_patch_jar(&format!("patch001{run}"), "x.jar", "x", "1", "x again");
    }
}

/// The `insert` and `order` lines of one case of a fixture recorded from `java.util.HashMap`.
fn java_case(fixture: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let body = fixture
        .split(&format!("case {name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("\nend\n").next())
        .unwrap_or_else(|| panic!("no case {name}"));
    let lines = |prefix: &str| -> Vec<String> {
        body.lines()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .collect()
    };
    (lines("insert "), lines("order "))
}

/// Jar names colliding in one bucket of a 64+ table make Java's latest-jars map a tree bin:
/// `prePatchedJARs.txt` lists the jars in the order Java's `HashMap` recorded for the same
/// insertions (tests/fixtures/java_hashmap_trees.txt), each with its last writer's MD5. One
/// patch dir per insertion, so the insertion order is the sorted patch dir order; a repeated
/// name is a later patch replacing the bundle.
#[test]
fn prepatched_jars_in_java_order_for_colliding_names() {
    let fixture = include_str!("fixtures/java_hashmap_trees.txt");
    // Treeify, puts and re-puts into the tree; a resize splitting a tree bin.
    for case in ["tree_put_and_replace", "tree_split_lo_tree_hi_list"] {
        let (inserts, java_order) = java_case(fixture, case);
        let tmp = tempfile::tempdir().unwrap();
        let p = Product::new(tmp.path(), &[]);
        let mut last_jar = std::collections::HashMap::new();
        for (i, file_name) in inserts.iter().enumerate() {
            let symbolic = file_name.strip_suffix("_1.0.0.jar").unwrap();
            let payload = format!("put {i}");
            // From patch0001: patch0000 is the backup.
            let patch = format!("patch{:04}", i + 1);
            p.add_patch_jar(&patch, "p.jar", symbolic, "1.0.0", &payload);
            last_jar.insert(file_name, bundle_jar(symbolic, "1.0.0", &payload));
        }
        assert_ok(&p.apply(&[]));
        let want: String = java_order
            .iter()
            .map(|name| format!("{name}:{}\n", md5_hex(&last_jar[name])))
            .collect();
        assert_eq!(p.read_metadata("prePatchedJARs.txt"), want, "case {case}");
    }
}
