//! Changes made to `plugins` outside the patch process (WSO2's update tool, a hand fix) are never
//! silently undone: a run whose restore from `patch0000` would put a changed jar's old bytes
//! back, or bring a removed jar back, is reported by `status`, `plan`, `verify` and the watcher
//! and refused (exit 7) by `apply`, `revert` and `restore` with nothing changed; `rebase` makes
//! the current `plugins` the baseline (crash-safe, undoable) and `apply
//! --revert-outside-changes` does what the launcher does. Real files, real jars.

mod common;
mod support_kill;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

const B: &str = "org.example.b0007_1.0.0.jar";
const RETIRED: &str = "org.example.retired_1.0.0.jar";
const ADDED: &str = "org.example.added_1.0.0.jar";
const A: &str = "org.example.a_1.0.0.jar";
const C: &str = "org.example.c_1.0.0.jar";

fn jar(name: &str, payload: &str) -> Vec<u8> {
    bundle_jar(&format!("org.example.{name}"), "1.0.0", payload)
}

/// `patch0001` applied (so `patch0000` holds the original plugins), then `plugins` changed as
/// an update tool does: b0007 replaced by a newer build, `retired` deleted, `added` added; then
/// `patch0002` (a new build of c) dropped in.
fn updated_product(root: &Path) -> Product {
    let p = Product::new(
        root,
        &[
            ("org.example.a", "1.0.0"),
            ("org.example.b0007", "1.0.0"),
            ("org.example.c", "1.0.0"),
            ("org.example.retired", "1.0.0"),
        ],
    );
    fs::create_dir_all(p.home.join("repository/logs")).unwrap();
    p.add_patch_jar("patch0001", A, "org.example.a", "1.0.0", "p1");
    assert_ok(&p.apply(&["--quiet"]));
    assert!(p.backup_dir().join(B).is_file());
    write(&p.plugins().join(B), &jar("b0007", "update"));
    fs::remove_file(p.plugins().join(RETIRED)).unwrap();
    write(&p.plugins().join(ADDED), &jar("added", "added"));
    p.add_patch_jar("patch0002", C, "org.example.c", "1.0.0", "p2");
    p
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// (file, change, action, by) of a report's `outside_changes.files`.
fn outside(v: &serde_json::Value) -> Vec<(String, String, String, String)> {
    rows(&v["outside_changes"]["files"])
}

fn rows(files: &serde_json::Value) -> Vec<(String, String, String, String)> {
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("file"), s("change"), s("action"), s("by"))
        })
        .collect()
}

fn row(file: &str, change: &str, action: &str, by: &str) -> (String, String, String, String) {
    (file.into(), change.into(), action.into(), by.into())
}

fn the_three() -> Vec<(String, String, String, String)> {
    vec![
        row(ADDED, "added", "kept", "patch0000"),
        row(B, "changed", "reverted", "patch0000"),
        row(RETIRED, "removed", "brought_back", "patch0000"),
    ]
}

fn plugin(p: &Product, name: &str) -> Option<Vec<u8>> {
    fs::read(p.plugins().join(name)).ok()
}

#[test]
fn every_command_reports_the_outside_changes_and_the_applying_ones_refuse_with_nothing_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = updated_product(tmp.path());

    let status = p.cmd("status", &["--json"]);
    assert_eq!(code(&status), Some(7), "{}", describe(&status));
    let v = json(&status);
    assert_eq!(outside(&v), the_three());
    assert_eq!(v["outside_changes"]["refuses"], true);
    assert_eq!(
        v["outside_changes"]["run"][0],
        "New patch available - patch0002"
    );
    let text = stdout(&p.cmd("status", &[]));
    assert!(
        text.contains(&format!("plugins/{B}: changed outside")),
        "{text}"
    );
    assert!(text.contains("carbon-patcher rebase"), "{text}");

    let plan = p.cmd("plan", &["--json"]);
    assert_eq!(code(&plan), Some(7), "{}", describe(&plan));
    assert_eq!(outside(&json(&plan)), the_three());
    let text = stdout(&p.cmd("plan", &[]));
    assert!(
        text.contains(&format!("plugins/{RETIRED}: removed outside the patch process; the restore from patch0000 would bring it back")),
        "{text}"
    );
    let verify = p.cmd("verify", &["--json"]);
    assert_eq!(outside(&json(&verify)), the_three());
    assert!(stdout(&p.cmd("verify", &[])).contains(&format!("plugins/{B}")));

    let before = snapshot(&p.home);
    let out = p.apply(&[]);
    assert_eq!(code(&out), Some(7), "{}", describe(&out));
    let err = stderr(&out);
    for needle in [
        B,
        RETIRED,
        "New patch available - patch0002",
        "carbon-patcher rebase",
        "--revert-outside-changes",
    ] {
        assert!(err.contains(needle), "{needle} not in: {err}");
    }
    assert!(
        !err.contains(ADDED),
        "a kept file is no reason to refuse: {err}"
    );
    assert!(stdout(&out).is_empty(), "no console line: nothing ran");
    assert_eq!(snapshot(&p.home), before, "a refused apply changes nothing");
    // A revert or restore that would lead to the same is refused before anything moves.
    let out = p.cmd("revert", &["patch0001"]);
    assert_eq!(code(&out), Some(7), "{}", describe(&out));
    assert!(!stdout(&out).contains("reverted:"));
    assert_eq!(snapshot(&p.home), before, "a refused revert moves nothing");
    assert_ok(&p.cmd("revert", &["patch0002", "--no-apply"]));
    let before = snapshot(&p.home);
    let out = p.cmd("restore", &["patch0002"]);
    assert_eq!(code(&out), Some(7), "{}", describe(&out));
    assert_eq!(snapshot(&p.home), before, "a refused restore moves nothing");
    assert_ok(&p.cmd("restore", &["patch0002", "--no-apply"]));
    // install --apply of a patch dir: planned with it before it is installed.
    let elsewhere = tmp.path().join("download/patch0003");
    write(&elsewhere.join("d.jar"), &jar("d", "p3"));
    let before = snapshot(&p.home);
    let out = p.cmd("install", &[elsewhere.to_str().unwrap(), "--apply"]);
    assert_eq!(code(&out), Some(7), "{}", describe(&out));
    assert!(!stdout(&out).contains("installed:"), "{}", describe(&out));
    assert_eq!(
        snapshot(&p.home),
        before,
        "a refused install --apply installs nothing"
    );

    // Knowingly, as the launcher does: the update is rolled back, the retired jar is back.
    let out = p.apply(&["--quiet", "--revert-outside-changes"]);
    assert_ok(&out);
    assert_eq!(plugin(&p, B), fs::read(p.backup_dir().join(B)).ok());
    assert!(p.plugins().join(RETIRED).is_file());
    assert_eq!(plugin(&p, ADDED), Some(jar("added", "added")), "kept");
    assert_eq!(plugin(&p, C), Some(jar("c", "p2")));
}

#[test]
fn a_patch_replacing_the_changed_jar_wins_and_is_reported_not_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("org.example.b0007", "1.0.0")]);
    p.add_patch_jar("patch0001", "x.jar", "org.example.x", "1.0.0", "p1");
    assert_ok(&p.apply(&["--quiet"]));
    write(&p.plugins().join(B), &jar("b0007", "update"));
    p.add_patch_jar("patch0002", B, "org.example.b0007", "1.0.0", "p2");
    let plan = p.cmd("plan", &["--json"]);
    assert_eq!(
        code(&plan),
        Some(6),
        "pending, not refused: {}",
        describe(&plan)
    );
    let v = json(&plan);
    assert_eq!(
        outside(&v),
        vec![row(B, "changed", "replaced", "patch0002")]
    );
    assert_eq!(v["outside_changes"]["refuses"], false);
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(plugin(&p, B), Some(jar("b0007", "p2")), "the patch wins");
}

#[test]
fn a_jar_holding_a_version_a_patch_gave_it_is_no_outside_change() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("org.example.a", "1.0.0")]);
    p.add_patch_jar("patch0001", A, "org.example.a", "1.0.0", "v1");
    p.add_patch_jar("patch0002", "x.jar", "org.example.x", "1.0.0", "x");
    assert_ok(&p.apply(&["--quiet"]));
    // The patch is updated in place and applied again: prePatchedJARs.txt now knows v2 only.
    p.add_patch_jar("patch0001", A, "org.example.a", "1.0.0", "v2");
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(plugin(&p, A), Some(jar("a", "v2")));
    // v1 comes back by hand (say, from the patch's zip): still a patch's own version.
    write(&p.plugins().join(A), &jar("a", "v1"));
    let out = p.cmd("revert", &["patch0001"]);
    assert_ok(&out);
    assert_eq!(plugin(&p, A), fs::read(p.backup_dir().join(A)).ok());
    // And a revert of a patch whose jar is in plugins (the common case) is no outside change.
    let out = p.cmd("revert", &["patch0002"]);
    assert_ok(&out);
    assert!(outside(&json(&p.cmd("status", &["--json"]))).is_empty());
}

#[test]
fn rebase_keeps_the_update_applies_the_patch_and_a_later_revert_keeps_it_too() {
    let tmp = tempfile::tempdir().unwrap();
    let p = updated_product(tmp.path());
    let original_a = fs::read(p.backup_dir().join(A)).unwrap();
    let out = p.cmd("rebase", &["--quiet"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("rebased: 3 file(s)"),
        "{}",
        describe(&out)
    );
    // plugins: the update, without the retired jar, with the added one, and the new patch.
    assert_eq!(plugin(&p, B), Some(jar("b0007", "update")));
    assert!(!p.plugins().join(RETIRED).exists());
    assert_eq!(plugin(&p, ADDED), Some(jar("added", "added")));
    assert_eq!(plugin(&p, C), Some(jar("c", "p2")));
    assert_eq!(plugin(&p, A), Some(jar("a", "p1")));
    // The baseline: the update in, a patch's version out (patch0001 still replaces a).
    let backup = p.backup_dir();
    assert_eq!(fs::read(backup.join(B)).unwrap(), jar("b0007", "update"));
    assert!(!backup.join(RETIRED).exists());
    assert!(backup.join(ADDED).is_file());
    assert_eq!(fs::read(backup.join(A)).unwrap(), original_a);
    assert!(p.read_metadata("prePatchedDir.txt").contains("patch0002"));
    // The launcher's detection (ours, the same) finds nothing to do now.
    let status = p.cmd("status", &["--json"]);
    assert_eq!(code(&status), Some(0), "{}", describe(&status));
    assert_eq!(json(&status)["pending"]["changes"], false);
    assert_eq!(code(&p.cmd("plan", &[])), Some(0));
    // A later revert of the new patch keeps the update.
    assert_ok(&p.cmd("revert", &["patch0002", "--quiet"]));
    assert_eq!(plugin(&p, B), Some(jar("b0007", "update")));
    assert!(!p.plugins().join(RETIRED).exists());
    assert_eq!(plugin(&p, C), fs::read(backup.join(C)).ok());
    // Nothing more to rebase.
    let out = p.cmd("rebase", &["--no-apply"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("nothing to rebase"),
        "{}",
        describe(&out)
    );

    // Undo: the old baseline is back, so restoring patch0002 would undo the update again.
    let out = p.cmd("rebase", &["--undo"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("rebase undone"), "{}", describe(&out));
    assert_eq!(fs::read(backup.join(B)).unwrap(), jar("b0007", "original"));
    assert!(backup.join(RETIRED).is_file());
    assert!(!backup.join(ADDED).exists());
    assert!(
        !p.home
            .join("repository/.carbon-patcher/rebase/0001")
            .exists(),
        "the record goes with the undo"
    );
    let before = snapshot(&p.home);
    assert_eq!(code(&p.cmd("restore", &["patch0002"])), Some(7));
    assert_eq!(snapshot(&p.home), before);
    let out = p.cmd("rebase", &["--undo"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("nothing to undo"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_rebase_refused_for_bad_input_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = updated_product(tmp.path());
    write(&p.patches().join("patch0003/bad.jar"), b"not a jar");
    let before = snapshot(&p.home);
    let out = p.cmd("rebase", &[]);
    assert_eq!(code(&out), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("patch0003/bad.jar"),
        "{}",
        describe(&out)
    );
    assert_eq!(snapshot(&p.home), before);
}

/// A run killed before any one of a rebase's file-system changes leaves a product on which the
/// next `rebase` converges to what an uninterrupted one gives: `plugins`, `patch0000`, the
/// metadata and the rebase record, with no private leftover; `--undo` likewise.
#[test]
fn a_rebase_or_undo_killed_at_any_point_converges() {
    use support_kill::*;
    let tmp = scratch();
    let pristine = updated_product(&tmp.path().join("pristine"));
    let copy = Product {
        home: tmp.path().join("copy/product"),
    };
    let run = |args: &[&str], fault: Option<&str>| {
        let home = copy.home.to_str().unwrap();
        run_with(&[args, &["--carbon-home", home, "--quiet"]].concat(), fault)
    };
    let record = |p: &Product| files(&p.home.join("repository/.carbon-patcher/rebase"));
    for args in [&["rebase"][..], &["rebase", "--undo"][..]] {
        let undo = args.len() == 2;
        let prepare = || {
            fresh_copy(&pristine.home, &copy.home);
            if undo {
                assert_ok(&run(&["rebase"], None));
            }
        };
        prepare();
        let counted = run(args, Some("count"));
        assert_ok(&counted);
        let (want, want_record) = (Outcome::of(&copy), record(&copy));
        let n: u64 = stderr(&counted)
            .lines()
            .find_map(|l| l.strip_prefix("carbon-patcher: fault points: "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .expect("a count");
        assert!(n > 5, "{args:?}: {n} points");
        for k in 1..=n {
            prepare();
            let out = run(args, Some(&format!("kill@{k}")));
            assert!(was_killed(&out), "{args:?} kill@{k}: {}", describe(&out));
            let out = run(args, None);
            let what = format!("{args:?} kill@{k} of {n}");
            assert_converged(&what, &copy, &out, &want, &JarCheck::default());
            assert_eq!(record(&copy), want_record, "{what}: the rebase record");
        }
    }
}

/// The watcher reports the refusal (status file, metrics), changes nothing, and retries at the
/// next change: the operator's `rebase --no-apply` changes `patch0000`, and the cycle after it
/// applies.
#[test]
fn the_watcher_reports_and_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let p = updated_product(tmp.path());
    let metrics = tmp.path().join("m.prom");
    let status_file = p.home.join("repository/.carbon-patcher/watch-status.json");
    let err = fs::File::create(tmp.path().join("watch.err")).unwrap();
    let before = files(&p.plugins());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
        .args(["watch", "--carbon-home", p.home.to_str().unwrap()])
        .args([
            "--settle",
            "0.2",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ])
        .env_remove("CARBON_HOME")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let status = || -> serde_json::Value {
        fs::read(&status_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let wait = |what: &str, cond: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !cond() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("the refusal", &|| {
        status()["last_cycle_result"] == "outside_changes"
    });
    let s = status();
    assert!(s["message"].as_str().unwrap().contains(B), "{s:#}");
    assert_eq!(rows(&s["outside_changes"]), the_three(), "{s:#}");
    let m = fs::read_to_string(&metrics).unwrap();
    assert!(m.contains(&format!(
        "carbon_patcher_outside_change{{home=\"{}\",file=\"{B}\",change=\"changed\",action=\"reverted\",by=\"patch0000\"}} 1",
        p.home.display()
    )), "{m}");
    assert!(m.contains("result=\"outside_changes\"} 1"), "{m}");
    assert_eq!(files(&p.plugins()), before, "nothing applied");
    assert_ok(&p.cmd("rebase", &["--no-apply"]));
    wait("the retry applies", &|| {
        status()["last_cycle_result"] == "applied"
    });
    assert_eq!(plugin(&p, C), Some(jar("c", "p2")));
    assert_eq!(plugin(&p, B), Some(jar("b0007", "update")));
    let _ = child.kill();
    let _ = child.wait();
}
