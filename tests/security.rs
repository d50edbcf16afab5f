//! Where carbon-patcher writes, and with which permissions. Every kind of run (first apply,
//! revert, service-pack upgrade, the watcher) touches only `components/plugins`,
//! `components/patches`, `repository/logs` and its own state dir: not the product's `bin`, `conf`,
//! `lib`, the rest of `repository`, the other `components` dirs, the service packs, nor anything
//! beside the home. Replaced files keep their mode and owner; new files get the umask's mode and,
//! when run as root, the owner of their directory.
//!
//! Symbolic links are left out here: the engine does not refuse them yet (`--follow-symlinks` is
//! being added); their tests come with it.

mod common;
mod support_faults;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use support_faults::*;

const V: &str = "4.4.9";

fn b(i: usize) -> String {
    format!("org.example.b{i:02}")
}

fn jar(i: usize) -> String {
    format!("{}_{V}.jar", b(i))
}

/// A product with what surrounds `components` in a real one, and a sibling dir beside the home.
fn product(root: &Path) -> Product {
    let p = Product::new(root, &[]);
    for i in 0..12 {
        p.add_plugin(&b(i), V, "original");
    }
    let h = &p.home;
    write(&h.join("bin/wso2server.sh"), b"#!/bin/sh\nexec java ...\n");
    fs::set_permissions(
        h.join("bin/wso2server.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(&h.join("conf/carbon.xml"), b"<Server/>\n");
    write(&h.join("lib/endorsed/x.jar"), &bundle_jar("x", "1", "lib"));
    write(&h.join("repository/conf/x.xml"), b"<x/>\n");
    write(&h.join("repository/deployment/y"), b"y\n");
    write(
        &h.join("repository/deployment/server/webapps/app.war"),
        b"war",
    );
    write(&h.join("repository/logs/wso2carbon.log"), b"started\n");
    write(
        &h.join("repository/components/dropins/d.jar"),
        &bundle_jar("d", "1", "dropins"),
    );
    write(
        &h.join("repository/components/lib/l.jar"),
        &bundle_jar("l", "1", "lib"),
    );
    write(
        &h.join("repository/components/default/configuration/config.ini"),
        b"osgi\n",
    );
    write(&root.join("sibling/important.txt"), b"not the product's\n");
    write(
        &root.join("product-old/repository/components/plugins/old.jar"),
        &bundle_jar("old", "1", "old"),
    );
    p.add_servicepack(
        "servicepack001",
        &[
            (&jar(0), &b(0), V, "servicepack001"),
            (
                "org.example.sp_1.0.0.jar",
                "org.example.sp",
                "1.0.0",
                "servicepack001",
            ),
        ],
        &["patch0001"],
    );
    p.add_patch_jar("patch0001", &jar(0), &b(0), V, "patch0001");
    p.add_patch_jar("patch0002", &jar(2), &b(2), V, "patch0002");
    p.add_patch_jar("patch0003", &jar(4), &b(4), V, "patch0003");
    p.add_patch_jar(
        "patch0003",
        "org.example.new_1.0.0.jar",
        "org.example.new",
        "1.0.0",
        "patch0003",
    );
    p
}

/// What can tell that a path was written: for files everything down to the change time (which
/// any write, chmod, chown or rename onto it moves) and the bytes; for directories their
/// identity, mode and owner (their times move when an entry inside is created).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    ctime: Option<(i64, i64)>,
    mtime: Option<(i64, i64)>,
    bytes: Option<Vec<u8>>,
}

fn look(root: &Path) -> BTreeMap<PathBuf, Seen> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let md = fs::symlink_metadata(e.path()).unwrap();
        let (kind, times, bytes) = if md.file_type().is_symlink() {
            (
                "link",
                true,
                Some(
                    fs::read_link(e.path())
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                ),
            )
        } else if md.is_dir() {
            ("dir", false, None)
        } else {
            ("file", true, Some(fs::read(e.path()).unwrap()))
        };
        out.insert(
            e.path().strip_prefix(root).unwrap().to_path_buf(),
            Seen {
                kind,
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                ino: md.ino(),
                ctime: times.then(|| (md.ctime(), md.ctime_nsec())),
                mtime: times.then(|| (md.mtime(), md.mtime_nsec())),
                bytes,
            },
        );
    }
    out
}

/// The places a run may write, relative to the temp root holding `product/`.
const ALLOWED: [&str; 5] = [
    "product/repository/components/plugins",
    "product/repository/components/patches",
    "product/repository/components/servicepacks",
    "product/repository/logs",
    "product/repository/.carbon-patcher",
];

/// Asserts every difference between `before` and `after` is inside [`ALLOWED`], and that the
/// service packs did not change at all.
#[track_caller]
fn assert_writes_stay_inside(
    what: &str,
    before: &BTreeMap<PathBuf, Seen>,
    after: &BTreeMap<PathBuf, Seen>,
) {
    let mut outside = Vec::new();
    let mut servicepacks = Vec::new();
    let paths: std::collections::BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    for path in paths {
        let (x, y) = (before.get(path), after.get(path));
        if x == y {
            continue;
        }
        // Creating repository/logs or the state dir is an entry in repository: its times move,
        // which `Seen` does not hold for dirs, so no exception is needed for parents.
        if path.starts_with(ALLOWED[2]) {
            servicepacks.push(format!("{}: {x:?} -> {y:?}", path.display()));
        }
        if !ALLOWED.iter().any(|a| path.starts_with(a)) {
            outside.push(format!(
                "{}:\n  before {x:?}\n  after  {y:?}",
                path.display()
            ));
        }
    }
    assert!(
        outside.is_empty(),
        "{what} wrote outside plugins, patches, logs and its state dir:\n{}",
        outside.join("\n")
    );
    assert!(
        servicepacks.is_empty(),
        "{what} changed the service packs:\n{}",
        servicepacks.join("\n")
    );
}

fn wait_for(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < within {
        if cond() {
            return;
        }
        sleep(Duration::from_millis(20));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

#[test]
fn every_kind_of_run_writes_only_where_it_belongs() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let p = product(root);
    let run = Run::default();

    let before = look(root);
    assert_ok(&run.apply(&p));
    assert!(p.backup_dir().join(jar(11)).is_file());
    assert_writes_stay_inside("the first apply", &before, &look(root));

    fs::remove_dir_all(p.patches().join("patch0002")).unwrap();
    let before = look(root);
    assert_ok(&run.apply(&p));
    assert!(p
        .read_metadata("prePatchedDir.txt")
        .lines()
        .all(|l| l != "patch0002"));
    assert_writes_stay_inside("a revert", &before, &look(root));

    p.add_servicepack(
        "servicepack002",
        &[
            (&jar(0), &b(0), V, "servicepack002"),
            (&jar(1), &b(1), V, "servicepack002"),
        ],
        &["patch0001", "patch0003"],
    );
    let before = look(root);
    assert_ok(&run.apply(&p));
    assert!(p
        .read_metadata("prePatchedDir.txt")
        .starts_with("servicepack002\n"));
    assert_writes_stay_inside("a service-pack upgrade", &before, &look(root));

    // The watcher: first cycle, a patch dropped in and applied, SIGTERM.
    let before = look(root);
    let status = p.home.join("repository/.carbon-patcher/watch-status.json");
    let mut child = run
        .command(&[
            "watch",
            "--carbon-home",
            p.home.to_str().unwrap(),
            "--settle",
            "0.2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(15), "the watcher's first cycle", || {
        status.exists()
    });
    p.add_patch_jar("patch0005", &jar(7), &b(7), V, "patch0005");
    wait_for(Duration::from_secs(15), "patch0005 applied", || {
        fs::read_to_string(p.metadata().join("prePatchedDir.txt"))
            .is_ok_and(|t| t.lines().any(|l| l == "patch0005"))
    });
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the watcher did not stop on SIGTERM");
        }
        sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    assert_eq!(
        fs::read(p.plugins().join(jar(7))).unwrap(),
        fs::read(p.patches().join("patch0005").join(jar(7))).unwrap()
    );
    assert_writes_stay_inside("the watcher", &before, &look(root));
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Every file and dir under `dir`, with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().to_path_buf(),
                mode(e.path()),
                e.file_type().is_dir(),
            )
        })
        .collect()
}

#[test]
fn replaced_files_keep_their_mode_new_files_get_the_umask() {
    let t = tempfile::tempdir().unwrap();
    let p = product(t.path());
    // A mode no umask gives, on a plugin patch0003 replaces and on one patch0002 replaces (and
    // the revert puts back).
    fs::set_permissions(p.plugins().join(jar(4)), fs::Permissions::from_mode(0o604)).unwrap();
    fs::set_permissions(p.plugins().join(jar(2)), fs::Permissions::from_mode(0o604)).unwrap();
    let out = Run::default().umask("027").apply(&p);
    assert_ok(&out);
    assert_eq!(
        mode(&p.plugins().join(jar(4))),
        0o604,
        "replaced: keeps its mode"
    );
    assert_eq!(
        mode(&p.plugins().join(jar(2))),
        0o604,
        "replaced: keeps its mode"
    );
    assert_eq!(
        mode(&p.plugins().join(jar(0))),
        0o644,
        "replaced: keeps its mode"
    );
    for new in ["org.example.new_1.0.0.jar", "org.example.sp_1.0.0.jar"] {
        assert_eq!(mode(&p.plugins().join(new)), 0o640, "new in plugins: {new}");
    }
    let mut created = modes(&p.backup_dir());
    created.extend(modes(&p.metadata()));
    created.push((p.patches_log(), mode(&p.patches_log()), false));
    for (path, m, is_dir) in &created {
        let want = if *is_dir { 0o750 } else { 0o640 };
        assert_eq!(*m, want, "created under umask 027: {}", path.display());
    }

    // Under another umask, files that exist keep their mode: the metadata rewritten, the log
    // appended to, the plugin the revert restores.
    fs::remove_dir_all(p.patches().join("patch0002")).unwrap();
    assert_ok(&Run::default().umask("077").apply(&p));
    assert_eq!(mode(&p.plugins().join(jar(2))), 0o604);
    for f in ["prePatchedDir.txt", "prePatchedJARs.txt"] {
        assert_eq!(
            mode(&p.metadata().join(f)),
            0o640,
            "{f} rewritten keeps its mode"
        );
    }
    assert_eq!(mode(&p.patches_log()), 0o640);
    assert_eq!(mode(&p.plugins().join(jar(4))), 0o604);
}

#[test]
fn as_root_on_a_product_owned_by_its_user_everything_stays_that_users() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to own a tree by another user");
        return;
    }
    const UID: u32 = 1234;
    const GID: u32 = 2345;
    // A jar owned by yet another user (an operator's copy): replaced, it keeps that owner.
    const OTHER: (u32, u32) = (4321, 5432);
    let t = tempfile::tempdir().unwrap();
    let p = product(t.path());
    chown_tree(&p.home, UID, GID);
    let odd = p.plugins().join(jar(4));
    std::os::unix::fs::lchown(&odd, Some(OTHER.0), Some(OTHER.1)).unwrap();
    fs::set_permissions(&odd, fs::Permissions::from_mode(0o640)).unwrap();
    let check = |what: &str| {
        let mut wrong = Vec::new();
        for e in walkdir::WalkDir::new(&p.home) {
            let e = e.unwrap();
            let md = fs::symlink_metadata(e.path()).unwrap();
            let want = if e.path() == odd { OTHER } else { (UID, GID) };
            if (md.uid(), md.gid()) != want {
                wrong.push(format!(
                    "{} is {}:{}, want {}:{}",
                    e.path().display(),
                    md.uid(),
                    md.gid(),
                    want.0,
                    want.1
                ));
            }
        }
        assert!(wrong.is_empty(), "{what}:\n{}", wrong.join("\n"));
    };
    assert_ok(&Run::default().umask("027").apply(&p));
    assert_eq!(mode(&odd), 0o640);
    check("after the first apply");
    // The revert rewrites the metadata and restores plugins; the log is appended to.
    fs::remove_dir_all(p.patches().join("patch0002")).unwrap();
    assert_ok(&Run::default().apply(&p));
    check("after a revert");
    // And what the patch replaced is put back from patch0000 with the owner it has there.
    fs::remove_dir_all(p.patches().join("patch0003")).unwrap();
    assert_ok(&Run::default().apply(&p));
    check("after reverting the patch of the odd jar");
}
