//! `revert` and `restore`: a round trip leaves `plugins` byte-identical, `--backup` is
//! remembered, refusals and a running server move nothing, and a move across filesystems keeps
//! modes and times.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use common::*;

/// A product with a service pack and two patches, applied.
fn product(root: &Path) -> Product {
    let p = Product::new(root, &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
    p.add_servicepack("servicepack001", &[("d.jar", "d", "1", "sp")], &[]);
    p.add_patch_jar("patch0001", "a.jar", "a", "1", "p1");
    p.add_patch_jar("patch0002", "b.jar", "b", "1", "p2");
    p.add_patch_jar("patch0002", "c.jar", "c", "1", "p2");
    assert_ok(&p.apply(&["--quiet"]));
    p
}

fn cmd(p: &Product, command: &str, args: &[&str]) -> Output {
    p.cmd(command, &[&["--quiet"][..], args].concat())
}

fn state_dir(p: &Product) -> std::path::PathBuf {
    p.home.join("repository/.carbon-patcher")
}

fn plugin(p: &Product, name: &str) -> Vec<u8> {
    fs::read(p.plugins().join(name)).unwrap()
}

#[test]
fn revert_then_restore_leaves_plugins_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let plugins = snapshot(&p.plugins());
    let patch = snapshot(&p.patches().join("patch0002"));
    let dir_list = p.read_metadata("prePatchedDir.txt");
    let jars_list = p.read_metadata("prePatchedJARs.txt");

    let out = cmd(&p, "revert", &["patch0002"]);
    assert_ok(&out);
    let kept = state_dir(&p).join("reverted/patch0002");
    assert!(
        stdout(&out).starts_with(&format!("reverted: patch0002 -> {}\n", kept.display())),
        "{}",
        stdout(&out)
    );
    assert!(!p.patches().join("patch0002").exists());
    assert_eq!(snapshot(&kept), patch, "moved whole");
    // Applied: the bundles come back from patch0000.
    assert_eq!(plugin(&p, "b_1.jar"), bundle_jar("b", "1", "original"));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "original"));
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "p1"));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\npatch0001\n"
    );

    let out = cmd(&p, "restore", &["patch0002"]);
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with(&format!(
            "restored: patch0002 -> {}\n",
            p.patches().join("patch0002").display()
        )),
        "{}",
        stdout(&out)
    );
    assert!(!kept.exists());
    assert_eq!(snapshot(&p.patches().join("patch0002")), patch);
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert_eq!(p.read_metadata("prePatchedDir.txt"), dir_list);
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), jars_list);

    // The service pack too.
    assert_ok(&cmd(&p, "revert", &["servicepack001"]));
    assert!(!p.servicepacks().join("servicepack001").exists());
    assert_eq!(plugin(&p, "d_1.jar"), bundle_jar("d", "1", "original"));
    assert_ok(&cmd(&p, "restore", &["servicepack001"]));
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert_eq!(p.read_metadata("prePatchedDir.txt"), dir_list);
}

#[test]
fn backup_dir_is_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let kept = tmp.path().join("kept");
    let out = cmd(
        &p,
        "revert",
        &["patch0001", "--backup", kept.to_str().unwrap()],
    );
    assert_ok(&out);
    assert!(kept.join("patch0001/a.jar").is_file());
    // Later runs without the flag use it.
    assert_ok(&cmd(&p, "revert", &["patch0002", "--no-apply"]));
    assert!(kept.join("patch0002/b.jar").is_file());
    assert!(!state_dir(&p).join("reverted").exists());
    assert_ok(&cmd(&p, "restore", &["patch0001"]));
    assert!(p.patches().join("patch0001/a.jar").is_file());
    assert!(!kept.join("patch0001").exists());
}

#[test]
fn restore_finds_each_patch_where_its_own_revert_put_it() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let plugins = snapshot(&p.plugins());
    let (x, y) = (tmp.path().join("x"), tmp.path().join("y"));
    assert_ok(&cmd(
        &p,
        "revert",
        &["patch0001", "--backup", x.to_str().unwrap()],
    ));
    assert_ok(&cmd(
        &p,
        "revert",
        &["patch0002", "--backup", y.to_str().unwrap()],
    ));
    assert!(x.join("patch0001/a.jar").is_file() && y.join("patch0002/b.jar").is_file());

    // Y is the remembered --backup now, but patch0001 is found where its revert put it.
    let out = cmd(&p, "restore", &["patch0001"]);
    assert_ok(&out);
    assert!(p.patches().join("patch0001/a.jar").is_file());
    assert!(!x.join("patch0001").exists());
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "p1"));
    // Its record is cleared; patch0002's is kept.
    let record = fs::read_to_string(state_dir(&p).join("reverted-to")).unwrap();
    assert_eq!(record, format!("{}\n", y.join("patch0002").display()));
    assert_ok(&cmd(&p, "restore", &["patch0002"]));
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert!(!state_dir(&p).join("reverted-to").exists());

    // Moved by hand since: `restore --backup DIR` looks there.
    assert_ok(&cmd(
        &p,
        "revert",
        &["patch0001", "--backup", x.to_str().unwrap()],
    ));
    let z = tmp.path().join("z");
    fs::create_dir(&z).unwrap();
    fs::rename(x.join("patch0001"), z.join("patch0001")).unwrap();
    let before = snapshot(tmp.path());
    let out = cmd(&p, "restore", &["patch0001"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not there")
            && err.contains(x.join("patch0001").to_str().unwrap())
            && err.contains("--backup"),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before);
    let out = cmd(
        &p,
        "restore",
        &["patch0001", "--backup", z.to_str().unwrap()],
    );
    assert_ok(&out);
    assert!(p.patches().join("patch0001/a.jar").is_file());
    assert!(!z.join("patch0001").exists());
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert!(!state_dir(&p).join("reverted-to").exists());
}

#[test]
fn a_trailing_slash_from_tab_completion_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let kept = state_dir(&p).join("reverted/patch0002");
    let out = cmd(&p, "revert", &["patch0002/"]);
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with(&format!("reverted: patch0002 -> {}\n", kept.display())),
        "{}",
        stdout(&out)
    );
    assert!(kept.join("b.jar").is_file());
    let out = cmd(&p, "restore", &["patch0002//"]);
    assert_ok(&out);
    assert!(p.patches().join("patch0002/b.jar").is_file());
    assert!(!kept.exists());
}

#[test]
fn refusals_move_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // The destination already holds the name.
    write(
        &state_dir(&p).join("reverted/patch0001/old.jar"),
        b"an older copy",
    );
    let before = snapshot(tmp.path());
    for (command, name, why) in [
        ("revert", "patch0009", "no such patch"),
        ("revert", "patch0000", "backup"),
        ("revert", "plugins", "neither"),
        ("revert", "../patch0001", "path separator"),
        ("revert", "patch0001", "already there"),
        ("restore", "patch0002", "not there"),
        ("restore", "patch0001", "already there"),
    ] {
        let out = cmd(&p, command, &[name]);
        assert_eq!(out.status.code(), Some(1), "{command} {name}");
        assert!(
            stderr(&out).contains(why),
            "{command} {name}: {}",
            stderr(&out)
        );
        assert_eq!(snapshot(tmp.path()), before, "{command} {name}");
    }
}

#[test]
fn a_backup_dir_inside_the_product_dirs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // A link elsewhere that leads into the patches dir, and one yet to be created under it.
    std::os::unix::fs::symlink(p.patches(), tmp.path().join("to-patches")).unwrap();
    let remembered = state_dir(&p).join("revert-backup-dir");
    let before = snapshot(tmp.path());
    for (dir, why) in [
        (p.patches(), "the patches dir"),
        (p.patches().join("patch-kept"), "the patches dir"),
        (p.patches().join("new/deeper"), "the patches dir"),
        (p.patches().join("patch0001"), "the patches dir"),
        (tmp.path().join("to-patches/kept"), "the patches dir"),
        (
            tmp.path().join("none/../to-patches/kept"),
            "the patches dir",
        ),
        (p.servicepacks().join("kept"), "the service-packs dir"),
        (p.plugins(), "plugins"),
        (p.plugins().join("kept"), "plugins"),
        (p.metadata().join("kept"), "the metadata dir"),
    ] {
        let shown = dir.display().to_string();
        let out = cmd(&p, "revert", &["patch0002", "--backup", &shown]);
        assert_eq!(out.status.code(), Some(2), "{shown}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{shown}: {}", stderr(&out));
        assert_eq!(snapshot(tmp.path()), before, "{shown}");
        assert!(!remembered.exists(), "{shown}");
    }
    // The default location, under a state dir put inside the patches dir.
    let state = p.patches().join("state");
    let out = cmd(
        &p,
        "revert",
        &["patch0002", "--state-dir", state.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("default backup dir"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tmp.path()), before);
    // `..` past a dir not there yet is resolved as mkdir -p would: out of the patches dir, and
    // nothing is created inside it on the way.
    let out = cmd(
        &p,
        "revert",
        &[
            "patch0002",
            "--no-apply",
            "--backup",
            p.patches().join("none/../../kept").to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    assert!(p.components().join("kept/patch0002/b.jar").is_file());
    assert!(!p.patches().join("none").exists());
}

#[test]
fn a_remembered_backup_dir_now_inside_the_product_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // As an earlier version allowed it to be remembered.
    let remembered = state_dir(&p).join("revert-backup-dir");
    write(
        &remembered,
        format!("{}\n", p.patches().join("patch-kept").display()).as_bytes(),
    );
    let before = snapshot(tmp.path());
    let out = cmd(&p, "revert", &["patch0002"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("the patches dir"), "{err}");
    assert!(err.contains(remembered.to_str().unwrap()), "{err}");
    assert!(err.contains("--backup"), "{err}");
    assert_eq!(snapshot(tmp.path()), before);
    // --backup elsewhere is the way out, and is remembered instead.
    let kept = tmp.path().join("kept");
    assert_ok(&cmd(
        &p,
        "revert",
        &["patch0002", "--backup", kept.to_str().unwrap()],
    ));
    assert!(kept.join("patch0002/b.jar").is_file());
    assert_eq!(
        fs::read_to_string(&remembered).unwrap(),
        format!("{}\n", kept.display())
    );
}

#[test]
fn a_running_server_refuses_unless_no_apply_or_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let mut server = fake_server(&p.home);
    let before = snapshot(tmp.path());
    let out = cmd(&p, "revert", &["patch0001"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);

    // --no-apply only moves; plugins wait for the next apply.
    let plugins = snapshot(&p.plugins());
    assert_ok(&cmd(&p, "revert", &["patch0001", "--no-apply"]));
    assert!(!p.patches().join("patch0001").exists());
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "p1"));
    // --while-running moves and applies: the revert held back above, and this one.
    assert_ok(&cmd(&p, "revert", &["patch0002", "--while-running"]));
    assert!(!p.patches().join("patch0002").exists());
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "original"));
    assert_eq!(plugin(&p, "b_1.jar"), bundle_jar("b", "1", "original"));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "original"));
    assert_ok(&cmd(&p, "restore", &["patch0001", "--while-running"]));
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "p1"));
    assert_ok(&cmd(&p, "restore", &["patch0002", "--while-running"]));
    assert_eq!(snapshot(&p.plugins()), plugins);
    assert!(carbon_patcher::product::server::detect(&p.home).is_running());
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_move_across_filesystems_keeps_modes_and_times() {
    // tmpfs is another filesystem than the one the temp dir is on, on most Linux machines.
    let shm = Path::new("/dev/shm");
    let tmp = tempfile::tempdir().unwrap();
    let Ok(other) = tempfile::tempdir_in(shm) else {
        eprintln!("skipped: no /dev/shm");
        return;
    };
    if fs::metadata(other.path()).unwrap().dev() == fs::metadata(tmp.path()).unwrap().dev() {
        eprintln!("skipped: /dev/shm is on the temp dir's filesystem");
        return;
    }
    let p = product(tmp.path());
    let plugins = snapshot(&p.plugins());
    let patch = p.patches().join("patch0002");
    fs::set_permissions(patch.join("b.jar"), fs::Permissions::from_mode(0o600)).unwrap();
    let t = filetime::FileTime::from_unix_time(1_500_000_000, 0);
    filetime::set_file_mtime(patch.join("b.jar"), t).unwrap();
    filetime::set_file_mtime(&patch, t).unwrap();
    let before = snapshot(&patch);
    let times = |dir: &Path| {
        [dir.to_path_buf(), dir.join("b.jar"), dir.join("c.jar")]
            .map(|f| filetime::FileTime::from_last_modification_time(&fs::metadata(f).unwrap()))
    };
    let before_times = times(&patch);

    let kept = other.path().join("kept");
    let out = cmd(
        &p,
        "revert",
        &["patch0002", "--backup", kept.to_str().unwrap()],
    );
    assert_ok(&out);
    assert!(!patch.exists());
    assert_eq!(snapshot(&kept.join("patch0002")), before);
    assert_eq!(times(&kept.join("patch0002")), before_times);
    let leftovers = |dir: &Path| {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .count()
    };
    assert_eq!(leftovers(&kept), 0);

    assert_ok(&cmd(&p, "restore", &["patch0002"]));
    assert_eq!(snapshot(&patch), before);
    assert_eq!(times(&patch), before_times);
    assert_eq!(leftovers(&p.patches()), 1, "only .metadata");
    assert_eq!(snapshot(&p.plugins()), plugins);
}
