//! Several product homes sharing one `repository/components` (plugins, patches, service packs),
//! as the WSO2 FAQ's shared deployment directory: apply on one home, and every other home finds
//! its plugins already right. Two ways to share, with different metadata:
//!
//! - the whole components dir, by a symbolic link `repository/components -> /shared/components`
//!   (or a mount there): the metadata (`components/patches/.metadata`) is shared too, so the
//!   other homes find nothing to do at all;
//! - `--components-dir` / `-Dcarbon.components.dir.path`: as in the launcher, the metadata stays
//!   under each home's `repository/components/patches/.metadata`, so the first run on each
//!   other home records the patches in its own metadata (and logs them in its own
//!   `patches.log`), but writes no plugin: they already hold the right bytes.
//!
//! Either way `patches.log` is per home (`<home>/repository/logs`): the lines of an apply are in
//! the log of the home it ran on; the others log that nothing was detected.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

const CORE: (&str, &str) = ("org.wso2.carbon.core", "4.4.9");
const UTILS: (&str, &str) = ("org.wso2.carbon.utils", "4.4.9");
const UI: (&str, &str) = ("org.wso2.carbon.ui", "4.4.9");

/// Inode, size, mtime (s and ns) and bytes of every file under `root`: equal before and after a
/// run means that run wrote no file there (a rewrite by rename changes the inode).
fn written_state(root: &Path) -> BTreeMap<PathBuf, (u64, u64, i64, i64, Vec<u8>)> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let md = e.metadata().unwrap();
            (
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                (
                    md.ino(),
                    md.size(),
                    md.mtime(),
                    md.mtime_nsec(),
                    fs::read(e.path()).unwrap(),
                ),
            )
        })
        .collect()
}

/// The shared components dir: three bundles in `plugins`, patch0001 (core) and patch0002 (utils).
fn shared_components(root: &Path) -> Product {
    // A Product only to reuse its layout helpers on the shared tree: its "home" is a scratch
    // dir whose repository/components is the shared dir.
    let shared = Product::new(&root.join("shared"), &[CORE, UTILS, UI]);
    shared.add_patch_jar("patch0001", "core.jar", CORE.0, CORE.1, "core fix");
    shared.add_patch_jar("patch0002", "utils.jar", UTILS.0, UTILS.1, "utils fix");
    shared
}

/// A product home under `root/<name>` with its own `repository/logs` and state, and
/// `repository/components` a symbolic link to `components`.
fn linked_home(root: &Path, name: &str, components: &Path) -> Product {
    let home = root.join(name).join("product");
    fs::create_dir_all(home.join("repository/logs")).unwrap();
    std::os::unix::fs::symlink(components, home.join("repository/components")).unwrap();
    Product { home }
}

/// A product home of its own (empty `repository/components`), to be pointed at a shared
/// components dir by flag or property.
fn plain_home(root: &Path, name: &str) -> Product {
    let home = root.join(name).join("product");
    fs::create_dir_all(home.join("repository/components")).unwrap();
    fs::create_dir_all(home.join("repository/logs")).unwrap();
    Product { home }
}

fn log_of(p: &Product) -> Vec<String> {
    new_log_lines(p, 0)
}

fn verify(p: &Product, extra: &[&str]) {
    let out = run(&[
        &["verify", "--carbon-home", p.home.to_str().unwrap()],
        extra,
    ]
    .concat());
    assert_ok(&out);
}

fn status_code(p: &Product, extra: &[&str]) -> Option<i32> {
    run(&[
        &["status", "--carbon-home", p.home.to_str().unwrap()],
        extra,
    ]
    .concat())
    .status
    .code()
}

#[test]
fn linked_components_apply_once_and_the_other_homes_find_nothing_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = shared_components(tmp.path());
    let components = shared.components();
    let homes: Vec<Product> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| linked_home(tmp.path(), n, &components))
        .collect();

    // The first home applies: backup, both patches, the shared metadata; its log has the lines.
    assert_ok(&homes[0].apply(&["--quiet"]));
    assert_eq!(
        fs::read_to_string(components.join("patches/.metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\npatch0002\n"
    );
    assert_eq!(
        fs::read(components.join("plugins/org.wso2.carbon.core_4.4.9.jar")).unwrap(),
        bundle_jar(CORE.0, CORE.1, "core fix")
    );
    let first_log = log_of(&homes[0]);
    assert!(
        first_log
            .iter()
            .any(|l| l.contains("Patch changes detected")),
        "{first_log:?}"
    );

    // Every other home: nothing to do, no file written anywhere in the shared dir, verification
    // clean, status clean; its own log says nothing was detected.
    for home in &homes[1..] {
        let before = written_state(&components);
        assert_ok(&home.apply(&["--quiet"]));
        assert_eq!(
            written_state(&components),
            before,
            "{}: the shared components changed",
            home.home.display()
        );
        assert_eq!(log_of(home), NO_CHANGE_LOG);
        verify(home, &[]);
        assert_eq!(status_code(home, &[]), Some(0));
    }
    // The apply lines are in the first home's log only, and it too now finds nothing to do.
    assert_ok(&homes[0].apply(&["--quiet"]));
    let again = log_of(&homes[0]);
    assert_eq!(&again[..first_log.len()], &first_log[..]);
    assert_eq!(&again[first_log.len()..], NO_CHANGE_LOG);

    // A patch dropped into the shared patches dir later is applied by whichever home runs
    // first (here node3); the others then find nothing to do.
    shared.add_patch_jar("patch0003", "ui.jar", UI.0, UI.1, "ui fix");
    let log_len_before = log_of(&homes[2]).len();
    assert_ok(&homes[2].apply(&["--quiet"]));
    assert!(log_of(&homes[2])[log_len_before..]
        .iter()
        .any(|l| l.contains("Patch changes detected")));
    for home in &homes[..2] {
        let before = written_state(&components);
        let len = log_of(home).len();
        assert_ok(&home.apply(&["--quiet"]));
        assert_eq!(written_state(&components), before);
        assert_eq!(log_of(home)[len..], NO_CHANGE_LOG);
        verify(home, &[]);
    }
}

#[test]
fn components_dir_flag_or_property_shares_plugins_but_each_home_keeps_its_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = shared_components(tmp.path());
    let components = shared.components();
    let flag = ["--components-dir", components.to_str().unwrap()];
    let property = format!("-Dcarbon.components.dir.path={}", components.display());
    let homes: Vec<Product> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| plain_home(tmp.path(), n))
        .collect();
    // node1 and node3 by the flag, node2 by the property the launch script gives the JVM.
    let args = |i: usize| -> Vec<&str> {
        if i == 1 {
            vec!["--quiet", property.as_str()]
        } else {
            [&["--quiet"][..], &flag[..]].concat()
        }
    };

    assert_ok(&homes[0].apply(&args(0)));
    // The backup and the patched plugins are in the shared dir; the metadata is node1's own.
    assert!(components.join("patches/patch0000").is_dir());
    assert!(!components.join("patches/.metadata").exists());
    assert_eq!(
        homes[0].read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\npatch0002\n"
    );
    let applied_lines = log_of(&homes[0]);
    let backed_up =
        " INFO {org.wso2.carbon.server.util.PatchUtils} -  Backed up plugins to patch0000";
    assert!(
        applied_lines.iter().any(|l| l == backed_up),
        "{applied_lines:?}"
    );
    let mut restore_lines: Vec<String> = Vec::new();
    for l in applied_lines.iter().filter(|l| *l != backed_up) {
        restore_lines.push(l.clone());
        if l.ends_with("Applying patches ...") {
            restore_lines.push(
                " INFO {org.wso2.carbon.server.util.PatchUtils} -  restoring bundle backup directory"
                    .to_string(),
            );
        }
    }

    for (i, home) in homes.iter().enumerate().skip(1) {
        let before = written_state(&components);
        assert_ok(&home.apply(&args(i)));
        // No plugin (nor the backup) written: they already hold the right bytes.
        assert_eq!(
            written_state(&components),
            before,
            "{}: the shared components changed",
            home.home.display()
        );
        // But this home had no metadata: it records the same state in its own, and logs the
        // launcher's lines for it, as the launcher itself would on its first start (which,
        // finding patch0000 there, restores from it instead of backing up).
        assert_eq!(
            home.read_metadata("prePatchedDir.txt"),
            homes[0].read_metadata("prePatchedDir.txt")
        );
        assert_eq!(
            home.read_metadata("prePatchedJARs.txt"),
            homes[0].read_metadata("prePatchedJARs.txt")
        );
        assert_eq!(log_of(home), restore_lines);
        verify(home, &args(i)[1..]);
        assert_eq!(status_code(home, &args(i)[1..]), Some(0));

        // From then on, nothing to do on it either.
        let len = log_of(home).len();
        assert_ok(&home.apply(&args(i)));
        assert_eq!(written_state(&components), before);
        assert_eq!(log_of(home)[len..], NO_CHANGE_LOG);
    }
}

#[test]
fn two_homes_applying_at_once_take_turns_on_the_shared_plugins() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = shared_components(tmp.path());
    let components = shared.components();
    let a = linked_home(tmp.path(), "node1", &components);
    let b = linked_home(tmp.path(), "node2", &components);
    // Both homes lock the same plugins dir (through the link), so one applies and the other,
    // after it, finds nothing to do.
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.apply(&["--quiet"]));
        let tb = s.spawn(|| b.apply(&["--quiet"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_ok(&ra);
    assert_ok(&rb);
    let applied = [&a, &b]
        .iter()
        .filter(|p| {
            log_of(p)
                .iter()
                .any(|l| l.contains("Patch changes detected"))
        })
        .count();
    assert_eq!(applied, 1, "exactly one home applies");
    let idle = if log_of(&a) == NO_CHANGE_LOG { &a } else { &b };
    assert_eq!(log_of(idle), NO_CHANGE_LOG);
    verify(&a, &[]);
    verify(&b, &[]);
}

#[test]
fn shared_patches_dir_property_shares_the_metadata_too() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = shared_components(tmp.path());
    let components = shared.components();
    // As a launch script would pass them: with the patches dir given, the metadata moves to
    // <patches dir>/.metadata, in the shared dir.
    let props = [
        format!("-Dcarbon.components.dir.path={}", components.display()),
        format!(
            "-Dcarbon.patches.dir.path={}",
            components.join("patches").display()
        ),
    ];
    let args: Vec<&str> = ["--quiet"]
        .into_iter()
        .chain(props.iter().map(String::as_str))
        .collect();
    let homes: Vec<Product> = ["node1", "node2"]
        .iter()
        .map(|n| plain_home(tmp.path(), n))
        .collect();
    assert_ok(&homes[0].apply(&args));
    assert!(components
        .join("patches/.metadata/prePatchedDir.txt")
        .is_file());
    let before = written_state(&components);
    assert_ok(&homes[1].apply(&args));
    assert_eq!(written_state(&components), before);
    assert_eq!(log_of(&homes[1]), NO_CHANGE_LOG);
    assert!(!homes[1].metadata().exists(), "no metadata of its own");
    verify(&homes[1], &args[1..]);
}
