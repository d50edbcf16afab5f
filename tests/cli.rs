//! The command line around the engine: Carbon's path switches (flags, `-D` properties,
//! `CARBON_REPOSITORY`), exit codes, the sample product and `demo`, and the on-disk promises of
//! an apply (replacement by rename, permissions kept, no temporary file left).

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dst = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

fn sample_copy(root: &Path) -> Product {
    let home = root.join("product");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-product"),
        &home,
    );
    Product { home }
}

const SAMPLE_JARS: &str = "\
org.wso2.carbon.registry.core_4.4.9.jar:0a51f174a8904187e34ab02c11d37d3b
org.wso2.carbon.user.core_4.4.9.jar:f7f1ecde3765741cbaa4ef319e2e7df7
org.wso2.carbon.ui_4.4.9.jar:564a0d3066577427b52e7412a9539cb0
org.wso2.carbon.core_4.4.9.jar:55fc338b462cb005b70f483fce8b3c7b
org.wso2.carbon.utils_4.4.9.jar:b8121fcd3821092deef0b50cf8fde91a
";

#[test]
fn sample_product_applies_as_its_readme_says() {
    let tmp = tempfile::tempdir().unwrap();
    let p = sample_copy(tmp.path());
    let original = files(&p.plugins());
    let out = p.apply(&[]);
    assert_ok(&out);
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\npatch0002\n"
    );
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), SAMPLE_JARS);
    assert_eq!(files(&p.backup_dir()), original);
    let plugins = files(&p.plugins());
    assert_eq!(plugins.len(), 12);
    let lib = p.servicepacks().join("servicepack001/lib");
    for (name, from) in [
        (
            "org.wso2.carbon.core_4.4.9.jar",
            lib.join("org.wso2.carbon.core_4.4.9.jar"),
        ),
        (
            "org.wso2.carbon.ui_4.4.9.jar",
            lib.join("org.wso2.carbon.ui_4.4.9.jar"),
        ),
        (
            "org.wso2.carbon.utils_4.4.9.jar",
            p.patches().join("patch0002/carbon-utils-patched.jar"),
        ),
    ] {
        assert_eq!(plugins[Path::new(name)], fs::read(from).unwrap(), "{name}");
    }
    assert_eq!(
        plugins[Path::new("org.wso2.carbon.base_4.4.9.jar")],
        original[Path::new("org.wso2.carbon.base_4.4.9.jar")]
    );
    // The console: the launcher's PatchInstaller and PatchUtils.console lines only.
    assert_eq!(
        strip_times(&String::from_utf8_lossy(&out.stdout)),
        vec![
            " INFO {org.wso2.carbon.server.extensions.PatchInstaller} -  Patch changes detected ",
            " INFO {org.wso2.carbon.server.util.PatchUtils.console} -  Backed up plugins to patch0000",
            " INFO {org.wso2.carbon.server.util.PatchUtils.console} -  Patch verification started",
            " INFO {org.wso2.carbon.server.util.PatchUtils.console} -  Patch verification successfully completed.",
        ]
    );
    // Nothing to do the second time: nothing of the product written but the log, nothing on
    // the console. (Our digest cache may learn what the first run read too soon after the copy
    // to trust.)
    let before = snapshot(&p.home);
    let len = log_len(&p);
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let after = snapshot(&p.home);
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .filter(|k| !k.starts_with("repository/.carbon-patcher"))
        .collect();
    assert_eq!(changed, vec![PathBuf::from("repository/logs/patches.log")]);
    assert_eq!(new_log_lines(&p, len), NO_CHANGE_LOG);
}

#[test]
fn replaces_by_rename_keeps_modes_and_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1"), ("b", "1")]);
    let a = p.plugins().join("a_1.jar");
    fs::set_permissions(&a, fs::Permissions::from_mode(0o640)).unwrap();
    let a_time = filetime::FileTime::from_unix_time(1_456_827_332, 123_000_000);
    filetime::set_file_mtime(&a, a_time).unwrap();
    let inode = fs::metadata(&a).unwrap().ino();
    // A running server holding the old jar open keeps reading the old bytes.
    let mut held = fs::File::open(&a).unwrap();
    let old = fs::read(&a).unwrap();
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    p.add_patch_jar("patch0001", "c_1.jar", "c", "1", "new bundle");
    let out = p.apply(&["--quiet"]);
    assert_ok(&out);
    assert!(out.stdout.is_empty(), "--quiet prints no console lines");
    let md = fs::metadata(&a).unwrap();
    assert_ne!(
        md.ino(),
        inode,
        "replaced by rename, not rewritten in place"
    );
    assert_eq!(
        md.permissions().mode() & 0o777,
        0o640,
        "mode of the file replaced"
    );
    let mut seen = Vec::new();
    held.read_to_end(&mut seen).unwrap();
    assert_eq!(seen, old);
    // The backup's files are new files: the umask's mode (as a fresh file gets), and the
    // original's modification time.
    let fresh = tmp.path().join("fresh");
    fs::write(&fresh, b"").unwrap();
    let umask_mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    let backed = fs::metadata(p.backup_dir().join("a_1.jar")).unwrap();
    assert_eq!(backed.permissions().mode() & 0o777, umask_mode);
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&backed),
        a_time
    );
    // The patch's copy keeps the patch jar's modification time, as the launcher's does.
    assert_eq!(
        fs::metadata(p.plugins().join("c_1.jar"))
            .unwrap()
            .mtime_nsec(),
        fs::metadata(p.patches().join("patch0001/c_1.jar"))
            .unwrap()
            .mtime_nsec()
    );
    // No temporary name is left (the state dir, repository/.carbon-patcher, is ours to keep).
    for (path, _) in snapshot(&p.home) {
        let name = path.to_string_lossy();
        assert!(
            !name.contains(".carbon-patcher-tmp-") && !name.contains(".carbon-patcher-backup"),
            "left behind: {}",
            path.display()
        );
    }
}

#[test]
fn leftovers_of_an_interrupted_run_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    // What a run killed mid-way leaves: a half-built backup and a temp file in plugins.
    write(
        &p.patches().join(".carbon-patcher-backup/a_1.jar"),
        b"trunc",
    );
    write(&p.plugins().join(".carbon-patcher-tmp-1-0"), b"half");
    let out = p.apply(&[]);
    assert_ok(&out);
    assert!(!p.patches().join(".carbon-patcher-backup").exists());
    assert!(!p.plugins().join(".carbon-patcher-tmp-1-0").exists());
    assert_eq!(
        files(&p.backup_dir()).keys().collect::<Vec<_>>(),
        vec![Path::new("a_1.jar")],
        "the backup holds plugins, not our leftovers"
    );
}

#[test]
fn carbon_property_switches_and_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    // Patches and service packs outside the product, as -Dcarbon.patches.dir.path allows.
    let patches = tmp.path().join("shared-patches");
    write(
        &patches.join("patch0001/a_1.jar"),
        &bundle_jar("a", "1", "patched"),
    );
    let out = run(&[
        "apply",
        &format!("-Dcarbon.home={}", p.home.display()),
        "-D",
        &format!("carbon.patches.dir.path={}", patches.display()),
        "-Dsetup",
        "-DportOffset=1",
    ]);
    assert_ok(&out);
    // The metadata follows the patches dir; the backup is made there too.
    assert_eq!(
        fs::read_to_string(patches.join(".metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\n"
    );
    assert!(patches.join("patch0000/a_1.jar").is_file());
    assert!(!p.metadata().exists());
    assert_eq!(
        fs::read(p.plugins().join("a_1.jar")).unwrap(),
        bundle_jar("a", "1", "patched")
    );

    // CARBON_HOME and CARBON_REPOSITORY from the environment, as the launch script sets them.
    let repo = tmp.path().join("elsewhere/repository");
    let q = Product::new(&tmp.path().join("second"), &[("b", "1")]);
    fs::create_dir_all(repo.parent().unwrap()).unwrap();
    fs::rename(q.home.join("repository"), &repo).unwrap();
    write(
        &repo.join("components/patches/patch0001/b_1.jar"),
        &bundle_jar("b", "1", "patched"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
        .arg("apply")
        .env("CARBON_HOME", &q.home)
        .env("CARBON_REPOSITORY", &repo)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        fs::read_to_string(repo.join("components/patches/.metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\n"
    );
    // patches.log stays under the home, as Carbon's log4j configuration puts it.
    assert!(q.home.join("repository/logs/patches.log").is_file());
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["apply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CARBON_HOME"));
    assert_eq!(run(&["apply", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(run(&["apply", "-D", "=x"]).status.code(), Some(2));
}

#[test]
fn demo_runs_on_a_scratch_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let into = tmp.path().join("demo-home");
    let out = run(&["demo", "--into", into.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Backed up plugins to patch0000"), "{text}");
    assert_eq!(
        fs::read_to_string(into.join("repository/components/patches/.metadata/prePatchedJARs.txt"))
            .unwrap(),
        SAMPLE_JARS
    );
    // The embedded sample equals the committed one, and the committed one is untouched.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-product");
    assert!(!committed
        .join("repository/components/patches/patch0000")
        .exists());
    assert!(!committed.join("repository/logs/patches.log").exists());
    assert_eq!(
        files(&committed.join("repository/components/servicepacks")),
        files(&into.join("repository/components/servicepacks"))
    );
}
