//! Faults from outside the plan: a full disk, permissions, a file gone or changed between the
//! scan and the copy. The promise under test (README, "What is written, and how"): a failure
//! while staging leaves the product exactly as it was (exit 1, the file and the reason on
//! standard error), a failure after the commit (the verification lines of `patches.log`) is a
//! warning on a fully applied product, and the next clean run converges on the result of a run
//! that never failed. Never a partial state.
//!
//! A full disk is tested two ways: on a real, small tmpfs when the test may mount one (root), and
//! always with `CARBON_PATCHER_FAULT=enospc@k` at every space-taking change of a run. Files
//! changing under a run are timed exactly with a fanotify gate (root) that holds the binary's
//! `open` of one file while the test deletes or rewrites another (or the same) file, and also
//! by bounded races that only check the invariant for whatever timing they hit.

mod common;
mod support_faults;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use support_faults::*;

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

const V: &str = "4.4.9";
const NO_SYNC: (&str, &str) = ("CARBON_PATCHER_NO_SYNC", "1");
const LOG: &str = "repository/logs/patches.log";
/// The new bundle patch0003 adds (its file name is its bundle file name).
const NEW_JAR: &str = "org.example.new_1.0.0.jar";
const SP_NEW_JAR: &str = "org.example.sp_1.0.0.jar";

/// Builds a product under a root.
type Build = fn(&Path) -> Product;
/// Picks a path in a product.
type Pick = fn(&Product) -> PathBuf;

fn b(i: usize) -> String {
    format!("org.example.b{i:02}")
}

fn jar(i: usize) -> String {
    format!("{}_{V}.jar", b(i))
}

/// A product as operators have them: `n` plugins, `repository/logs` with the server's own log
/// (when `logs`), `servicepack001` (lib: b00, b01 and the new bundle `org.example.sp`; lists
/// `patch0001`), `patch0001` (b00, left out: listed by the service pack), `patch0002` (b02, and
/// b03 under another file name), `patch0003` (b04 and the new bundle `org.example.new`).
fn product(root: &Path, n: usize, logs: bool) -> Product {
    let p = Product::new(root, &[]);
    for i in 0..n {
        p.add_plugin(&b(i), V, "original");
    }
    if logs {
        write(
            &p.home.join("repository/logs/wso2carbon.log"),
            b"[2016-03-01 10:15:32,123]  INFO {org.wso2.carbon.core.init.CarbonServerManager} -  Starting\n",
        );
    }
    p.add_servicepack(
        "servicepack001",
        &[
            (&jar(0), &b(0), V, "servicepack001"),
            (&jar(1), &b(1), V, "servicepack001"),
            (SP_NEW_JAR, "org.example.sp", "1.0.0", "servicepack001"),
        ],
        &["patch0001"],
    );
    p.add_patch_jar("patch0001", &jar(0), &b(0), V, "patch0001");
    p.add_patch_jar("patch0002", &jar(2), &b(2), V, "patch0002");
    p.add_patch_jar("patch0002", "b03-fix.jar", &b(3), V, "patch0002");
    p.add_patch_jar("patch0003", &jar(4), &b(4), V, "patch0003");
    p.add_patch_jar(
        "patch0003",
        NEW_JAR,
        "org.example.new",
        "1.0.0",
        "patch0003",
    );
    p
}

/// The first apply of a 20-plugin product: backup, service pack, patches.
fn first_apply(root: &Path) -> Product {
    product(root, 20, true)
}

/// The same product, applied, with `patch0002` removed: the next run restores from `patch0000`.
fn revert(root: &Path) -> Product {
    let p = first_apply(root);
    assert_ok(&Run::default().env(NO_SYNC.0, NO_SYNC.1).apply(&p));
    fs::remove_dir_all(p.patches().join("patch0002")).unwrap();
    p
}

/// The same product without `repository/logs` (a fresh unpack that never started).
fn first_apply_without_logs_dir(root: &Path) -> Product {
    product(root, 20, false)
}

/// carbon-patcher's own state dir (its digest cache, lock files, watcher status): not the
/// product, and a cache keyed by inodes and change times, different in every copy.
const STATE: &str = "repository/.carbon-patcher";

/// Everything in the product home but carbon-patcher's state dir.
fn product_snap(p: &Product) -> Snap {
    let mut s = snapshot(&p.home);
    s.retain(|path, _| !path.starts_with(STATE));
    s
}

/// The product's snapshot with `patches.log` emptied: its bytes carry each run's timestamps,
/// compared separately as lines.
fn tree(p: &Product) -> Snap {
    let mut s = product_snap(p);
    let log = PathBuf::from(LOG);
    if let Some(Node::File(mode, _)) = s.remove(&log) {
        s.insert(log, Node::File(mode, Vec::new()));
    }
    s
}

fn no_sync() -> Run<'static> {
    Run::default().env(NO_SYNC.0, NO_SYNC.1)
}

/// What a run that never failed leaves: the tree and the lines it adds to `patches.log`.
struct Reference {
    tree: Snap,
    lines: Vec<String>,
}

fn reference(build: fn(&Path) -> Product) -> Reference {
    let t = tempfile::tempdir().unwrap();
    let p = build(t.path());
    let len = log_len(&p);
    assert_ok(&no_sync().apply(&p));
    Reference {
        tree: tree(&p),
        lines: new_log_lines(&p, len),
    }
}

fn space_points(build: fn(&Path) -> Product) -> u64 {
    let t = tempfile::tempdir().unwrap();
    let p = build(t.path());
    let out = no_sync().env("CARBON_PATCHER_FAULT", "count").apply(&p);
    assert_ok(&out);
    let err = stderr(&out);
    let tail = err
        .split("(taking space: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no fault count in: {err}"));
    tail[..tail.find(')').unwrap()].parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Disk full, injected at every space-taking change
// ---------------------------------------------------------------------------------------------

/// Fails the k-th space-taking change of the run `build` prepares, for every k; checks each
/// outcome and that a clean run converges afterwards. Returns the points that failed after the
/// commit (the verification lines).
fn enospc_at_every_point(what: &str, build: fn(&Path) -> Product) -> Vec<(u64, &'static str)> {
    let r = reference(build);
    let n = r.lines.len();
    assert!(
        n >= 2
            && r.lines[n - 2].ends_with(" -  Patch verification started")
            && r.lines[n - 1].ends_with(" -  Patch verification successfully completed"),
        "{what}: the reference run should end with its verification lines: {:#?}",
        r.lines
    );
    let m = space_points(build);
    assert!(m >= 5, "{what}: only {m} space-taking points");
    let mut after_commit = Vec::new();
    for k in 1..=m {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        let before = product_snap(&p);
        let len = log_len(&p);
        let out = no_sync()
            .env("CARBON_PATCHER_FAULT", format!("enospc@{k}"))
            .apply(&p);
        let err = stderr(&out);
        let ctx = format!("{what}, disk full at space-taking point {k} of {m}");
        assert!(
            err.contains("No space left on device"),
            "{ctx}: {}",
            describe(&out)
        );
        assert!(
            err.contains(p.home.to_str().unwrap()),
            "{ctx}: the message should name the file: {err}"
        );
        match out.status.code() {
            Some(1) => {
                assert!(err.contains("carbon-patcher: error: "), "{ctx}: {err}");
                assert_same(&before, &product_snap(&p), &ctx);
                // Space again: the next run does the whole job.
                let len = log_len(&p);
                assert_ok(&no_sync().apply(&p));
                assert_same(&r.tree, &tree(&p), &format!("{ctx}, then a clean run"));
                assert_eq!(new_log_lines(&p, len), r.lines, "{ctx}, then a clean run");
            }
            Some(0) => {
                // Past the commit: the product is fully applied; what failed is only a record.
                assert_same(&r.tree, &tree(&p), &ctx);
                let lines = new_log_lines(&p, len);
                if err.contains(p.patches_log().to_str().unwrap()) {
                    // The verification lines: reported, missing from patches.log, nothing else.
                    assert!(err.contains("carbon-patcher: warning: "), "{ctx}: {err}");
                    assert_eq!(
                        lines,
                        r.lines[..n - 2],
                        "{ctx}: patches.log should miss only the verification lines"
                    );
                    after_commit.push((k, "verification lines"));
                } else {
                    // carbon-patcher's own state (its digest cache): a cost for the next run only.
                    assert!(
                        err.contains(p.home.join(STATE).to_str().unwrap()),
                        "{ctx}: exit 0 after a failure that is neither patches.log nor the state \
                         dir: {err}"
                    );
                    assert_eq!(lines, r.lines, "{ctx}");
                    after_commit.push((k, "state dir"));
                }
                // Nothing left to do for the next run.
                let len = log_len(&p);
                assert_ok(&no_sync().apply(&p));
                assert_same(&r.tree, &tree(&p), &format!("{ctx}, then a clean run"));
                assert_eq!(
                    new_log_lines(&p, len),
                    NO_CHANGE_LOG,
                    "{ctx}, then a clean run"
                );
            }
            _ => panic!("{ctx}: {}", describe(&out)),
        }
    }
    // Only the last points may come after the commit: the verification lines, then (if the
    // build has one) carbon-patcher's own state.
    let ks: Vec<u64> = after_commit.iter().map(|(k, _)| *k).collect();
    let tail: Vec<u64> = (m + 1 - ks.len() as u64..=m).collect();
    let verification: Vec<u64> = after_commit
        .iter()
        .filter(|(_, w)| *w == "verification lines")
        .map(|(k, _)| *k)
        .collect();
    assert!(
        ks == tail && verification.len() == 1 && verification[0] == ks[0],
        "{what}: only the last space-taking points may fail with exit 0 (the verification \
         lines, then the state dir); these did: {after_commit:?} of 1..={m}"
    );
    // The verification lines, then the state dir: its creation, the last-apply record (for
    // `status`), the digest cache.
    assert!(
        after_commit.len() <= 4,
        "{what}: too many points after the commit: {after_commit:?}"
    );
    eprintln!(
        "{what}: {m} space-taking points; exit 1 and the product untouched at 1..={}, exit 0 at \
         {after_commit:?}",
        m - ks.len() as u64
    );
    after_commit
}

#[test]
fn disk_full_at_every_point_of_a_first_apply_leaves_the_product_as_it_was() {
    enospc_at_every_point("first apply", first_apply);
}

#[test]
fn disk_full_at_every_point_of_a_revert_leaves_the_product_as_it_was() {
    enospc_at_every_point("revert", revert);
}

/// A product that never ran has no `repository/logs`: the run creates it for `patches.log`.
/// Failing to write the log must not leave that directory behind either.
#[test]
fn disk_full_at_every_point_of_a_first_apply_without_a_logs_dir() {
    enospc_at_every_point(
        "first apply, no repository/logs",
        first_apply_without_logs_dir,
    );
}

// ---------------------------------------------------------------------------------------------
// Disk full, for real: a small tmpfs
// ---------------------------------------------------------------------------------------------

/// Fills the tmpfs so that exactly `leave` blocks stay free.
fn fill(fs_: &Tmpfs, filler: &Path, leave: u64) {
    let _ = fs::remove_file(filler);
    let free = fs_.free_blocks();
    assert!(free >= leave, "{free} blocks free, wanted {leave}");
    fs::write(
        filler,
        vec![0u8; ((free - leave) * fs_.block_size()) as usize],
    )
    .unwrap();
    assert_eq!(fs_.free_blocks(), leave, "filler accounting");
}

#[test]
fn disk_full_on_a_real_tmpfs() {
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("mnt");
    let tmpfs = match Tmpfs::mount(&mnt, "4m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED (injection only): cannot mount a tmpfs here: {e}");
            return;
        }
    };
    // The reference run on the same filesystem: the launcher's "Patched" lines follow the
    // directory listing order, which differs between tmpfs and the temp dir's filesystem.
    let r = {
        let p = first_apply(&mnt.join("ref"));
        assert_ok(&Run::default().apply(&p));
        let r = Reference {
            tree: tree(&p),
            lines: new_log_lines(&p, 0),
        };
        fs::remove_dir_all(mnt.join("ref")).unwrap();
        r
    };
    let filler = mnt.join("filler");
    let build = || {
        let _ = fs::remove_file(&filler);
        let _ = fs::remove_dir_all(mnt.join("product"));
        first_apply(&mnt)
    };

    // A first apply needs a block per backed-up plugin alone: 4 free blocks are not enough.
    let p = build();
    fill(&tmpfs, &filler, 4);
    let before = product_snap(&p);
    let out = Run::default().apply(&p);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(p.home.to_str().unwrap()),
        "names the file: {err}"
    );
    assert_same(&before, &product_snap(&p), "disk full on tmpfs");
    // Free the space: the same run succeeds, as if it had never failed.
    fs::remove_file(&filler).unwrap();
    let len = log_len(&p);
    assert_ok(&Run::default().apply(&p));
    assert_same(&r.tree, &tree(&p), "after freeing space");
    assert_eq!(new_log_lines(&p, len), r.lines);

    // Every fill level, from nothing free to enough: each run either fails leaving the product
    // as it was, or does the whole job.
    let mut outcomes = String::new();
    let mut successes = 0;
    for leave in 0..80u64 {
        let p = build();
        fill(&tmpfs, &filler, leave);
        let before = product_snap(&p);
        let out = Run::default().apply(&p);
        let err = stderr(&out);
        let ctx = format!("tmpfs with {leave} blocks free");
        match out.status.code() {
            Some(1) => {
                assert!(err.contains("No space left on device"), "{ctx}: {err}");
                assert!(err.contains(p.home.to_str().unwrap()), "{ctx}: {err}");
                assert_same(&before, &product_snap(&p), &ctx);
                outcomes.push_str(&format!("{leave}:E "));
            }
            Some(0) if err.contains("carbon-patcher: warning: ") => {
                assert_same(&r.tree, &tree(&p), &ctx);
                assert_eq!(new_log_lines(&p, 0), r.lines[..r.lines.len() - 2], "{ctx}");
                outcomes.push_str(&format!("{leave}:W "));
            }
            Some(0) => {
                assert!(err.is_empty(), "{ctx}: {err}");
                assert_same(&r.tree, &tree(&p), &ctx);
                assert_eq!(new_log_lines(&p, 0), r.lines, "{ctx}");
                outcomes.push_str(&format!("{leave}:ok "));
                successes += 1;
                if successes == 3 {
                    break;
                }
            }
            _ => panic!("{ctx}: {}", describe(&out)),
        }
    }
    assert_eq!(successes, 3, "never enough space? {outcomes}");
    assert!(outcomes.starts_with("0:E "), "{outcomes}");
    eprintln!("tmpfs fill levels (free blocks: outcome): {outcomes}");
    drop(tmpfs);
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn read_only_plugins_is_refused_and_changes_nothing() {
    for applied_before in [false, true] {
        let what = if applied_before {
            "a new patch on an applied product"
        } else {
            "a first apply"
        };
        let t = tempfile::tempdir().unwrap();
        let p = product(t.path(), 8, true);
        if applied_before {
            assert_ok(&no_sync().apply(&p));
            p.add_patch_jar("patch0004", &jar(5), &b(5), V, "patch0004");
        }
        let user = unprivileged(t.path());
        chmod(&p.plugins(), 0o555);
        let before = product_snap(&p);
        let out = Run::default().user(user).apply(&p);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{}", p.plugins().display()))
                && err.contains("Permission denied"),
            "{what}: the message should name plugins (or a file in it) and the reason: {err}"
        );
        assert_same(&before, &product_snap(&p), what);
        // Writable again: the run goes through.
        chmod(&p.plugins(), 0o755);
        assert_ok(&Run::default().user(user).apply(&p));
        assert!(p.read_metadata("prePatchedDir.txt").contains("patch0003"));
    }
}

#[test]
fn unreadable_input_is_refused_and_changes_nothing() {
    // Each made unreadable (mode 000) in turn; the run needs to read every one.
    let cases: [(&str, Pick); 4] = [
        ("a patch jar", |p| {
            p.patches().join("patch0003").join(NEW_JAR)
        }),
        ("a service pack jar", |p| {
            p.servicepacks().join("servicepack001/lib").join(SP_NEW_JAR)
        }),
        ("a patch dir", |p| p.patches().join("patch0002")),
        ("a plugin (read for the backup)", |p| {
            p.plugins().join(jar(7))
        }),
    ];
    for (what, path) in cases {
        let t = tempfile::tempdir().unwrap();
        let p = product(t.path(), 8, true);
        let user = unprivileged(t.path());
        refused_while_unreadable(&p, user, &path(&p), what);
    }
}

/// Makes `bad` unreadable (mode 000) and checks that an apply as `user` is refused naming it and
/// the reason, with nothing changed, then that it goes through once `bad` is readable again.
fn refused_while_unreadable(p: &Product, user: Option<u32>, bad: &Path, what: &str) {
    let old_mode = fs::metadata(bad).unwrap();
    chmod(bad, 0o000);
    let before = product_snap(p);
    let out = Run::default().user(user).apply(p);
    assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(bad.to_str().unwrap()) && err.contains("Permission denied"),
        "{what}: the message should name {} and the reason: {err}",
        bad.display()
    );
    assert_same(&before, &product_snap(p), what);
    fs::set_permissions(bad, old_mode.permissions()).unwrap();
    assert_ok(&Run::default().user(user).apply(p));
}

/// The launcher's restore reads every file of `patch0000`, also those a patch then replaces in
/// `plugins` (which an apply never needs to copy): one it cannot read would stop the launcher
/// half-way, so it is refused before anything changes.
#[test]
fn an_unreadable_patch0000_file_that_a_patch_replaces_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let p = product(t.path(), 8, true);
    let user = unprivileged(t.path());
    assert_ok(&Run::default().user(user).apply(&p));
    // A new patch makes the next run restore; patch0002 replaces b02 after the restore.
    p.add_patch_jar("patch0009", &jar(5), &b(5), V, "patch0009");
    unprivileged(t.path());
    let bad = p.backup_dir().join(jar(2));
    refused_while_unreadable(&p, user, &bad, "a patch0000 file a patch replaces");
}

// ---------------------------------------------------------------------------------------------
// A file gone between the scan and the copy
// ---------------------------------------------------------------------------------------------

/// Runs apply on `p` with a gate on `gated` that runs `action` while the binary's `at`-th open
/// of it waits. Returns the output and whether the action ran.
fn apply_gated(
    p: &Product,
    gated: &Path,
    at: usize,
    action: impl FnOnce(&File) + Send + 'static,
) -> (Output, bool) {
    let fired = Arc::new(AtomicBool::new(false));
    let mut action = Some(action);
    let gate = OpenGate::new(gated, {
        let fired = fired.clone();
        move |n, f| {
            if n == at {
                if let Some(a) = action.take() {
                    a(f);
                    fired.store(true, Ordering::SeqCst);
                }
            }
        }
    })
    .unwrap();
    // One thread: the backup then copies in path order, so the gated file's copy comes before
    // the deleted one's (with more, another thread may have copied that already: a deletion
    // after its copy is not this test's case).
    let out = no_sync().env("RAYON_NUM_THREADS", "1").apply(p);
    gate.finish();
    (out, fired.load(Ordering::SeqCst))
}

#[test]
fn a_file_gone_between_scan_and_copy_is_refused_and_changes_nothing() {
    let probe = tempfile::tempdir().unwrap();
    if let Err(e) = gates_work(&probe.path().join("probe")) {
        eprintln!("SKIPPED (the race test still runs): no fanotify permission events: {e}");
        return;
    }
    // (what, product, the file whose open by the binary times the deletion, the file deleted):
    // the gated file is opened after the scan (while the backup or the restore copies), the
    // deleted one is copied later.
    let cases: [(&str, Build, Pick, Pick); 4] = [
        (
            "a patch jar, during the backup",
            first_apply,
            |p| p.plugins().join(jar(0)),
            |p| p.patches().join("patch0003").join(NEW_JAR),
        ),
        (
            "a service pack jar, during the backup",
            first_apply,
            |p| p.plugins().join(jar(0)),
            |p| p.servicepacks().join("servicepack001/lib").join(SP_NEW_JAR),
        ),
        (
            "a plugin, during the backup",
            first_apply,
            |p| p.plugins().join(jar(0)),
            |p| p.plugins().join(jar(15)),
        ),
        (
            // The restore reads only what it copies back: the jars of the removed patch0002,
            // b02's first (the copies go in path order), then b03's.
            "a patch0000 file, during a restore",
            revert,
            |p| p.backup_dir().join(jar(2)),
            |p| p.backup_dir().join(jar(3)),
        ),
    ];
    for (what, build, gated, deleted) in cases {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        let gone = deleted(&p);
        let rel = gone.strip_prefix(&p.home).unwrap().to_path_buf();
        let before = product_snap(&p);
        let (out, fired) = apply_gated(&p, &gated(&p), 1, {
            let gone = gone.clone();
            move |_| fs::remove_file(&gone).unwrap()
        });
        assert!(fired, "{what}: the gated file was never opened");
        assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(gone.to_str().unwrap()) && err.contains("No such file"),
            "{what}: the message should name {} and the reason: {err}",
            gone.display()
        );
        assert_same(&without(before, &rel), &product_snap(&p), what);
    }
}

/// The same without a gate: delete a patch jar after a growing delay while apply runs on a larger
/// product, whatever the timing hits. Every outcome must be consistent: the jar deleted before
/// the scan (it is simply not part of the patch), while the run stages (exit 1 naming it,
/// nothing changed), or after its copy (applied with it).
#[test]
fn a_patch_jar_deleted_while_apply_runs_never_leaves_a_partial_state() {
    const PLUGINS: usize = 60;
    let build = |root: &Path| product(root, PLUGINS, true);
    let rel = PathBuf::from("repository/components/patches/patch0003").join(NEW_JAR);
    // The two consistent results.
    let with = {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        let started = Instant::now();
        assert_ok(&no_sync().apply(&p));
        let took = started.elapsed();
        fs::remove_file(p.home.join(&rel)).unwrap();
        (tree(&p), took)
    };
    let (with, took) = with;
    let without_jar = {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        fs::remove_file(p.home.join(&rel)).unwrap();
        assert_ok(&no_sync().apply(&p));
        tree(&p)
    };
    let attempts = 30u32;
    let (mut before_scan, mut refused, mut after_copy) = (0, 0, 0);
    for i in 0..attempts {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        let gone = p.home.join(&rel);
        let before = product_snap(&p);
        let child = no_sync()
            .command(&[
                "apply",
                "--carbon-home",
                p.home.to_str().unwrap(),
                "--quiet",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(took * i / attempts);
        fs::remove_file(&gone).unwrap();
        let out = child.wait_with_output().unwrap();
        let ctx = format!("attempt {i} (deleted after {:?})", took * i / attempts);
        match out.status.code() {
            Some(0) if tree(&p) == without_jar => before_scan += 1,
            Some(0) if tree(&p) == with => after_copy += 1,
            Some(0) => panic!(
                "{ctx}: exit 0 with a result matching neither the run with the jar nor the run \
                 without it:\n{}",
                diff(&with, &tree(&p))
            ),
            Some(1) => {
                let err = stderr(&out);
                assert!(err.contains(gone.to_str().unwrap()), "{ctx}: {err}");
                assert_same(&without(before, &rel), &product_snap(&p), &ctx);
                refused += 1;
            }
            _ => panic!("{ctx}: {}", describe(&out)),
        }
    }
    eprintln!(
        "deleted before the scan: {before_scan}, between scan and copy (refused): {refused}, \
         after the copy: {after_copy} (of {attempts}; one apply takes {took:?})"
    );
}

// ---------------------------------------------------------------------------------------------
// A patch dir still being written
// ---------------------------------------------------------------------------------------------

/// The check of a run that read a patch jar while it was being rewritten: exit 0 with `plugins`
/// holding the bytes `prePatchedJARs.txt` records, or exit 1 naming the jar and `plugins`,
/// `patch0000` and the metadata as they were; and in every case a valid jar in `plugins`.
fn check_run_on_moving_jar(
    ctx: &str,
    p: &Product,
    jar_path: &Path,
    before: Snap,
    out: &Output,
) -> Result<&'static str, String> {
    let target = p.plugins().join(NEW_JAR);
    if let Ok(bytes) = fs::read(&target) {
        valid_zip(&bytes).map_err(|e| {
            format!(
                "{ctx}: plugins/{NEW_JAR} is not a valid jar ({e}); {}",
                describe(out)
            )
        })?;
    }
    match out.status.code() {
        Some(0) => {
            let jars = p.read_metadata("prePatchedJARs.txt");
            let recorded = jars
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{NEW_JAR}:")))
                .ok_or(format!("{ctx}: {NEW_JAR} not in prePatchedJARs.txt"))?;
            let have = md5_hex(&fs::read(&target).unwrap());
            if recorded != have {
                return Err(format!(
                    "{ctx}: exit 0, but plugins/{NEW_JAR} has MD5 {have} and prePatchedJARs.txt \
                     records {recorded}"
                ));
            }
            Ok("applied")
        }
        Some(1) => {
            let err = stderr(out);
            if !err.contains(jar_path.to_str().unwrap()) {
                return Err(format!("{ctx}: exit 1 without naming the jar: {err}"));
            }
            let rel = jar_path.strip_prefix(&p.home).unwrap();
            let after = without(product_snap(p), rel);
            let before = without(before, rel);
            if before != after {
                return Err(format!(
                    "{ctx}: exit 1 but the tree changed:\n{}",
                    diff(&before, &after)
                ));
            }
            Ok("refused")
        }
        _ => Err(format!("{ctx}: {}", describe(out))),
    }
}

/// A bigger jar of the new bundle, `version` making each rewrite differ.
fn big_new_jar(version: u64) -> Vec<u8> {
    // Pseudo-random text deflate cannot shrink much: ~48 KiB compressed.
    let mut x = version
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let payload: String = (0..64 * 1024)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alphabet[(x >> 58) as usize] as char
        })
        .collect();
    bundle_jar("org.example.new", "1.0.0", &payload)
}

/// Exactly timed: the patch jar is truncated, or rewritten as another complete jar, while the
/// binary's n-th open of it waits, for every n (the scan's reads, and the copy's).
#[test]
fn a_patch_jar_rewritten_at_each_of_its_reads_is_never_half_applied() {
    let probe = tempfile::tempdir().unwrap();
    if let Err(e) = gates_work(&probe.path().join("probe")) {
        eprintln!("SKIPPED (the race test still runs): no fanotify permission events: {e}");
        return;
    }
    let build = |root: &Path| {
        let p = first_apply(root);
        write(
            &p.patches().join("patch0003").join(NEW_JAR),
            &big_new_jar(1),
        );
        p
    };
    // How often does a run open the jar?
    let opens = {
        let t = tempfile::tempdir().unwrap();
        let p = build(t.path());
        let gate = OpenGate::new(&p.patches().join("patch0003").join(NEW_JAR), |_, _| {}).unwrap();
        assert_ok(&no_sync().apply(&p));
        gate.finish()
    };
    assert!(
        opens >= 2,
        "the jar is read by the scan and by the copy: {opens} opens"
    );
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for at in 1..=opens {
        for (how, rewrite) in [
            ("truncated to half", 0u64),
            ("rewritten as another complete jar", 2),
        ] {
            let t = tempfile::tempdir().unwrap();
            let p = build(t.path());
            let jar_path = p.patches().join("patch0003").join(NEW_JAR);
            let before = product_snap(&p);
            let (out, fired) = apply_gated(&p, &jar_path, at, move |f| {
                let len = f.metadata().unwrap().len();
                if rewrite == 0 {
                    f.set_len(len / 2).unwrap();
                } else {
                    let bytes = big_new_jar(rewrite);
                    f.set_len(0).unwrap();
                    f.write_all_at(&bytes, 0).unwrap();
                }
            });
            assert!(fired, "open {at} of {opens} never came");
            let ctx = format!("jar {how} at open {at} of {opens}");
            match check_run_on_moving_jar(&ctx, &p, &jar_path, before, &out) {
                Ok(kind) => seen.push(format!("{ctx}: {kind}")),
                Err(e) => failures.push(e),
            }
            // The operator puts the intended jar back: the next run must not call a plugins that
            // differs from it clean (exit 0); it either fixes it or reports it (exit 3).
            write(&jar_path, &big_new_jar(1));
            let next = no_sync().apply(&p);
            let have = fs::read(p.plugins().join(NEW_JAR)).unwrap_or_default();
            let want = big_new_jar(1);
            match next.status.code() {
                Some(0) if have == want => {}
                Some(3) => seen.push(format!(
                    "{ctx}, the jar put back: the next run warns (exit 3)"
                )),
                _ => failures.push(format!(
                    "{ctx}, then the jar put back as it was: the next run leaves plugins/{NEW_JAR} \
                     with MD5 {} (the jar's is {}; prePatchedJARs.txt says {:?}); {}",
                    md5_hex(&have),
                    md5_hex(&want),
                    p.read_metadata("prePatchedJARs.txt")
                        .lines()
                        .find(|l| l.starts_with(NEW_JAR))
                        .unwrap_or(""),
                    describe(&next)
                )),
            }
        }
    }
    eprintln!("{}", seen.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {} timings broke the promise:\n{}",
        failures.len(),
        opens * 2,
        failures.join("\n\n")
    );
}

/// Not timed: a thread rewrites the patch jar in place, over and over, while apply runs again
/// and again. Every run must be consistent for the bytes it saw.
#[test]
fn a_patch_dir_being_written_while_apply_runs() {
    let t = tempfile::tempdir().unwrap();
    let p = product(t.path(), 60, true);
    let jar_path = p.patches().join("patch0003").join(NEW_JAR);
    write(&jar_path, &big_new_jar(1));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(0u64));
    let writer = std::thread::spawn({
        let (stop, writes, jar_path) = (stop.clone(), writes.clone(), jar_path.clone());
        move || {
            let mut v = 2;
            while !stop.load(Ordering::SeqCst) {
                let bytes = big_new_jar(v);
                let f = fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&jar_path)
                    .unwrap();
                let half = bytes.len() / 2;
                f.write_all_at(&bytes[..half], 0).unwrap();
                std::thread::sleep(Duration::from_micros(700));
                f.write_all_at(&bytes[half..], half as u64).unwrap();
                drop(f);
                std::thread::sleep(Duration::from_micros(1500));
                v += 1;
                *writes.lock().unwrap() += 1;
            }
        }
    });
    let mut failures = Vec::new();
    let mut kinds = Vec::new();
    for run in 0..15 {
        let before = product_snap(&p);
        let out = no_sync().apply(&p);
        let ctx = format!("run {run}");
        match check_run_on_moving_jar(&ctx, &p, &jar_path, before, &out) {
            Ok(kind) => kinds.push(kind),
            Err(e) => failures.push(e),
        }
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    eprintln!(
        "runs: {kinds:?}; {} failed; the writer rewrote the jar {} times",
        failures.len(),
        writes.lock().unwrap()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Once the writing stops, a run converges.
    assert_ok(&no_sync().apply(&p));
    assert_eq!(
        md5_hex(&fs::read(p.plugins().join(NEW_JAR)).unwrap()),
        md5_hex(&fs::read(&jar_path).unwrap())
    );
}
