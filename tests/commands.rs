//! The operator's read-only commands (`status`, `plan`, `verify`, `conflicts`) and the generated
//! documentation (`completions`, `man`): they write nothing at all, `plan` foretells exactly what
//! `apply` then does, their JSON keeps its pinned shape, and their exit codes follow the table.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

const STATE: &str = "repository/.carbon-patcher";

fn home(p: &Product) -> &str {
    p.home.to_str().unwrap()
}

fn cmd(p: &Product, command: &str, extra: &[&str]) -> Output {
    p.cmd(command, extra)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Everything about a tree a write could change: the snapshot (paths, kinds, modes, bytes) and
/// every path's modification and change times.
type Times = BTreeMap<PathBuf, (i64, i64, i64, i64)>;

fn full_state(root: &Path) -> (BTreeMap<PathBuf, Node>, Times) {
    let mut times = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        let m = fs::symlink_metadata(e.path()).unwrap();
        times.insert(
            e.path().to_path_buf(),
            (m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()),
        );
    }
    (snapshot(root), times)
}

/// A product with a service pack, two patches (one overriding the other's only jar) and a
/// patch the service pack includes.
fn product(root: &Path) -> Product {
    let p = Product::new(
        root,
        &[
            ("org.wso2.carbon.core", "4.4.9"),
            ("org.wso2.carbon.ui", "4.4.9"),
            ("org.wso2.carbon.utils", "4.4.9"),
            ("org.wso2.carbon.base", "4.4.9"),
        ],
    );
    p.add_servicepack(
        "servicepack001",
        &[
            ("core.jar", "org.wso2.carbon.core", "4.4.9", "sp core"),
            ("ui.jar", "org.wso2.carbon.ui", "4.4.9", "sp ui"),
        ],
        &["patch0001"],
    );
    p.add_patch_jar(
        "patch0001",
        "core.jar",
        "org.wso2.carbon.core",
        "4.4.9",
        "p1",
    );
    p.add_patch_jar(
        "patch0002",
        "utils.jar",
        "org.wso2.carbon.utils",
        "4.4.9",
        "p2",
    );
    p.add_patch_jar(
        "patch0003",
        "utils.jar",
        "org.wso2.carbon.utils",
        "4.4.9",
        "p3",
    );
    p.add_patch_jar(
        "patch0003",
        "ui.jar",
        "org.wso2.carbon.ui",
        "4.4.9",
        "p3 ui",
    );
    p
}

/// States worth looking at: nothing applied yet, applied, then changes of every kind pending
/// with an interrupted run's leftovers.
type Setup = Box<dyn Fn(&Product)>;

fn states() -> Vec<(&'static str, Setup)> {
    vec![
        ("first apply pending", Box::new(|_: &Product| {})),
        (
            "applied",
            Box::new(|p: &Product| assert_ok(&p.apply(&["--quiet"]))),
        ),
        (
            "changes pending, leftovers",
            Box::new(|p: &Product| {
                fs::remove_dir_all(p.patches().join("patch0002")).unwrap();
                p.add_patch_jar(
                    "patch0004",
                    "base.jar",
                    "org.wso2.carbon.base",
                    "4.4.9",
                    "p4",
                );
                write(
                    &p.plugins().join(".carbon-patcher-tmp-leftover"),
                    b"half a jar",
                );
            }),
        ),
        (
            "tampered plugin",
            Box::new(|p: &Product| {
                assert_ok(&p.apply(&["--quiet"]));
                write(&p.plugins().join("org.wso2.carbon.ui_4.4.9.jar"), b"other");
            }),
        ),
    ]
}

#[test]
fn read_only_commands_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    for (state, setup) in states() {
        setup(&p);
        for command in ["status", "plan", "verify", "conflicts"] {
            for extra in [&[][..], &["--json"][..]] {
                let before = full_state(tmp.path());
                let out = cmd(&p, command, extra);
                assert!(
                    matches!(out.status.code(), Some(0 | 3 | 6)),
                    "{state}: {command} {extra:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let after = full_state(tmp.path());
                assert!(
                    before == after,
                    "{state}: {command} {extra:?} changed the tree"
                );
            }
        }
    }
}

/// Runs `plan --json`, then `apply`, and checks that apply did exactly what the plan said.
fn plan_then_apply(p: &Product, what: &str) {
    let plan = json(&cmd(p, "plan", &["--json"]));
    let plugins_before = files(&p.plugins());
    let had_backup = p.backup_dir().exists();
    let len = log_len(p);
    let out = p.apply(&[]);
    assert_ok(&out);
    let plugins_after = files(&p.plugins());

    let lines = |key: &str| -> Vec<String> {
        plan[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                format!(
                    "{:>5} {{{}}} -  {}",
                    l["level"].as_str().unwrap(),
                    l["logger"].as_str().unwrap(),
                    l["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(new_log_lines(p, len), lines("log"), "{what}: log lines");
    assert_eq!(
        strip_times(&String::from_utf8_lossy(&out.stdout)),
        lines("console"),
        "{what}: console lines"
    );

    let changed: BTreeSet<String> = plugins_after
        .iter()
        .filter(|(k, v)| plugins_before.get(*k) != Some(v))
        .map(|(k, _)| p.plugins().join(k).display().to_string())
        .collect();
    let planned: BTreeSet<String> = plan["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(changed, planned, "{what}: files written");
    for w in plan["writes"].as_array().unwrap() {
        let target = w["target"].as_str().unwrap();
        assert_eq!(
            fs::read(target).unwrap(),
            fs::read(w["source"].as_str().unwrap()).unwrap(),
            "{what}: {target}"
        );
    }
    for m in plan["metadata"].as_array().unwrap() {
        assert_eq!(
            fs::read_to_string(m["path"].as_str().unwrap()).unwrap(),
            m["content"].as_str().unwrap(),
            "{what}: {}",
            m["path"]
        );
    }
    assert_eq!(plan["backup"].is_object(), !had_backup, "{what}: backup");
    let leftovers = plan["remove_leftovers"].as_array().unwrap();
    let unique: BTreeSet<&str> = leftovers.iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(
        unique.len(),
        leftovers.len(),
        "{what}: leftovers listed twice"
    );
    for l in unique {
        assert!(!Path::new(l).exists(), "{what}: {l} left");
    }
    // And now nothing is pending.
    let again = cmd(p, "plan", &["--json"]);
    assert_eq!(again.status.code(), Some(0), "{what}: plan after apply");
    assert_eq!(json(&again)["applies"], false);
}

#[test]
fn plan_foretells_exactly_what_apply_does() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    plan_then_apply(&p, "first apply");
    p.add_patch_jar(
        "patch0004",
        "base.jar",
        "org.wso2.carbon.base",
        "4.4.9",
        "p4",
    );
    plan_then_apply(&p, "a patch added");
    p.add_patch_jar(
        "patch0004",
        "base.jar",
        "org.wso2.carbon.base",
        "4.4.9",
        "p4 v2",
    );
    plan_then_apply(&p, "a jar replaced inside a patch");
    fs::remove_dir_all(p.patches().join("patch0003")).unwrap();
    plan_then_apply(&p, "a patch reverted");
    fs::remove_dir_all(p.servicepacks().join("servicepack001")).unwrap();
    plan_then_apply(&p, "the service pack reverted");
    // A tampered plugin: no patch change, so verification warns, as the plan said.
    write(&p.plugins().join("org.wso2.carbon.base_4.4.9.jar"), b"x");
    let plan = json(&cmd(&p, "plan", &["--json"]));
    let warns: Vec<&str> = plan["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["level"] == "WARN")
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        warns
            .iter()
            .any(|w| w.starts_with("org.wso2.carbon.base_4.4.9.jar(MD5: ")
                && w.ends_with("has been patched with patch0004, but not applied")),
        "{warns:?}"
    );
}

#[test]
fn plan_text_names_every_copy_and_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let out = cmd(&p, "plan", &[]);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8(out.stdout).unwrap();
    let plugins = p.plugins().display().to_string();
    for want in [
        format!("back up          {plugins} -> "),
        format!(
            "copy (servicepack001)  {}/servicepack001/lib/core.jar -> {plugins}/org.wso2.carbon.core_4.4.9.jar",
            p.servicepacks().display()
        ),
        "  renamed from core.jar by its manifest".to_string(),
        format!(
            "copy (patch0003)  {}/patch0003/ui.jar -> {plugins}/org.wso2.carbon.ui_4.4.9.jar",
            p.patches().display()
        ),
        "rewrite          ".to_string(),
        "Patched utils.jar(MD5:".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
}

fn fake_server(p: &Product) -> Child {
    common::fake_server(&p.home)
}

#[test]
fn status_exit_codes_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let status = |p: &Product| {
        let out = cmd(p, "status", &["--json"]);
        (out.status.code(), json(&out))
    };
    let (code, s) = status(&p);
    assert_eq!(code, Some(6), "first apply pending");
    assert_eq!(s["pending"]["changes"], true);
    assert_eq!(
        s["pending"]["messages"],
        serde_json::json!([
            "New service pack available - servicepack001",
            "New patch available - patch0002",
            "New patch available - patch0003"
        ])
    );

    assert_ok(&p.apply(&["--quiet"]));
    let (code, s) = status(&p);
    assert_eq!(code, Some(0), "{s:#}");
    assert_eq!(s["applied"]["servicepack"], "servicepack001");
    assert_eq!(
        s["applied"]["patches"],
        serde_json::json!(["patch0002", "patch0003"])
    );
    assert_eq!(s["restart_needed"], false);
    assert!(s["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["state"] == "applied"));

    // A plugin that no longer matches its patch: verification warns.
    let ui = p.plugins().join("org.wso2.carbon.ui_4.4.9.jar");
    let good = fs::read(&ui).unwrap();
    fs::write(&ui, b"not the patch").unwrap();
    let (code, s) = status(&p);
    assert_eq!(code, Some(3));
    assert_eq!(s["verification"]["clean"], false);
    let v = cmd(&p, "verify", &[]);
    assert_eq!(v.status.code(), Some(3));
    let text = String::from_utf8(v.stdout).unwrap();
    assert!(
        text.contains("org.wso2.carbon.ui_4.4.9.jar(MD5: ")
            && text.contains("has been patched with patch0003, but not applied"),
        "{text}"
    );
    fs::write(&ui, good).unwrap();
    assert_eq!(cmd(&p, "verify", &[]).status.code(), Some(0));

    // The server started, then a patch applied under it: it must restart to load it.
    let mut server = fake_server(&p);
    let (code, s) = status(&p);
    assert_eq!(code, Some(0), "server started after the last apply: {s:#}");
    assert_eq!(s["server"]["running"], true);
    std::thread::sleep(Duration::from_millis(1300));
    p.add_patch_jar(
        "patch0004",
        "base.jar",
        "org.wso2.carbon.base",
        "4.4.9",
        "p4",
    );
    assert_eq!(p.apply(&["--quiet"]).status.code(), Some(5));
    let (code, s) = status(&p);
    assert_eq!(code, Some(6));
    assert_eq!(s["restart_needed"], false);
    assert_eq!(
        s["pending"]["messages"],
        serde_json::json!(["New patch available - patch0004"])
    );
    assert_ok(&p.apply(&["--quiet", "--while-running"]));
    let (code, s) = status(&p);
    assert_eq!(code, Some(6), "{s:#}");
    assert_eq!(s["restart_needed"], true);
    assert_eq!(s["pending"]["changes"], false);
    let text = String::from_utf8(cmd(&p, "status", &[]).stdout).unwrap();
    assert!(text.contains("restart:      needed"), "{text}");
    server.kill().unwrap();
    server.wait().unwrap();
    // Restarted: current again.
    let mut server = fake_server(&p);
    let (code, s) = status(&p);
    assert_eq!(code, Some(0), "{s:#}");
    server.kill().unwrap();
    server.wait().unwrap();

    // Usage and bad input.
    assert_eq!(run(&["status"]).status.code(), Some(2));
    fs::write(p.patches().join("patch0004/base.jar"), b"not a jar").unwrap();
    let out = cmd(&p, "status", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patch0004/base.jar"), "{err}");
}

#[test]
fn status_shows_the_watchers_last_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(
        json(&cmd(&p, "status", &["--json"]))["watcher"],
        Value::Null
    );
    write(
        &p.home.join(STATE).join("watch-status.json"),
        br#"{"carbon_home":"x","last_cycle_time":1700000000.5,"last_cycle_duration_seconds":0.1,
            "last_cycle_result":"deferred","message":"server running (pid 7)","servicepack":null,
            "patches_applied":0,"pending_changes":1,"deferred_server_running":true,
            "verification_warnings":0}"#,
    );
    let s = json(&cmd(&p, "status", &["--json"]));
    assert_eq!(s["watcher"]["running"], false);
    assert_eq!(s["watcher"]["last_cycle_result"], "deferred");
    assert_eq!(s["watcher"]["last_cycle_time"], "2023-11-14T22:13:20Z");
    // The readable form speaks local time.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
        .args(["status", "--carbon-home", home(&p)])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("watcher:      not running; last cycle 2023-11-14 22:13:20: deferred (server running (pid 7))"),
        "{text}"
    );
}

#[test]
fn conflicts_name_winners_and_dead_patches() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let out = cmd(&p, "conflicts", &["--json"]);
    assert_ok(&out);
    let c = json(&out);
    let bundles: BTreeMap<String, (Vec<String>, String)> = c["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bundle"].as_str().unwrap().to_string(),
                (
                    b["providers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["from"].as_str().unwrap().to_string())
                        .collect(),
                    b["winner"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(
        bundles,
        BTreeMap::from([
            (
                "org.wso2.carbon.ui_4.4.9.jar".to_string(),
                (
                    vec!["servicepack001".to_string(), "patch0003".to_string()],
                    "patch0003".to_string()
                )
            ),
            (
                "org.wso2.carbon.utils_4.4.9.jar".to_string(),
                (
                    vec!["patch0002".to_string(), "patch0003".to_string()],
                    "patch0003".to_string()
                )
            ),
        ])
    );
    assert_eq!(
        c["dead_patches"],
        serde_json::json!([{"name": "patch0002", "overridden_by": ["patch0003"]}])
    );
    assert_eq!(
        c["included_in_servicepack"],
        serde_json::json!(["patch0001"])
    );
    let text = String::from_utf8(cmd(&p, "conflicts", &[]).stdout).unwrap();
    assert!(
        text.contains("dead patch patch0002: every jar it carries is overridden by patch0003"),
        "{text}"
    );
}

/// Fields whose values are a fixed vocabulary: their values are pinned too.
const VOCABULARIES: [&str; 4] = [
    ".bundles[].state",
    ".log[].level",
    ".console[].level",
    ".watcher.last_cycle_result",
];

/// The shape of a JSON value: each path with the types seen there (`[]` for array elements),
/// and the values of the vocabulary fields.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let kind = match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "bool".to_string(),
        Value::Number(_) => "number".to_string(),
        Value::String(s) if VOCABULARIES.contains(&path) => format!("string:{s}"),
        Value::String(_) => "string".to_string(),
        Value::Array(_) => "array".to_string(),
        Value::Object(_) => "object".to_string(),
    };
    out.entry(path.to_string()).or_default().insert(kind);
    match v {
        Value::Array(items) => {
            for i in items {
                shape(i, &format!("{path}[]"), out);
            }
        }
        Value::Object(map) => {
            for (k, i) in map {
                shape(i, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The JSON of every read-only command keeps the shape pinned in
/// `tests/fixtures/json-schema.txt` (documented in the README): the union over states with
/// every optional field both absent and present.
#[test]
fn json_schemas_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let mut shapes: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut look = |p: &Product| {
        for command in ["status", "plan", "verify", "conflicts"] {
            let v = json(&cmd(p, command, &["--json"]));
            shape(&v, "", shapes.entry(command).or_default());
        }
    };
    {
        // A watcher runs (it holds the home's lock) but has not finished a cycle yet.
        let dir = fs::File::open(&p.home).unwrap();
        // SAFETY: flock on a descriptor we own; released when `dir` is dropped.
        assert_eq!(unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) }, 0);
        look(&p);
    }
    // A jar already named as its bundle: no rename.
    p.add_patch_jar(
        "patch0005",
        "org.wso2.carbon.base_4.4.9.jar",
        "org.wso2.carbon.base",
        "4.4.9",
        "p5",
    );
    look(&p);
    assert_ok(&p.apply(&["--quiet"]));
    write(
        &p.home.join(STATE).join("watch-status.json"),
        br#"{"carbon_home":"x","last_cycle_time":1700000000.5,"last_cycle_duration_seconds":0.1,
            "last_cycle_result":"applied","message":"","servicepack":null,"patches_applied":0,
            "pending_changes":0,"deferred_server_running":false,"verification_warnings":0}"#,
    );
    let mut server = fake_server(&p);
    look(&p);
    server.kill().unwrap();
    server.wait().unwrap();
    fs::create_dir(p.plugins().join("sub")).unwrap();
    fs::remove_dir_all(p.patches().join("patch0003")).unwrap();
    write(&p.plugins().join(".carbon-patcher-tmp-x"), b"x");
    write(&p.plugins().join("org.wso2.carbon.core_4.4.9.jar"), b"x");
    look(&p);
    fs::write(p.patches().join("patch0000/sub-file"), b"x").unwrap();
    fs::create_dir(p.patches().join("patch0000/newdir")).unwrap();
    // A bundle new to plugins: `missing` until applied.
    p.add_patch_jar("patch0006", "new.jar", "org.wso2.carbon.new", "1.0.0", "n");
    look(&p);
    // Applied (knowingly bringing back the file the backup has and plugins lost), then a plugin
    // tampered with: verification warns, nothing pending.
    assert_ok(&p.apply(&["--quiet", "--revert-outside-changes"]));
    write(&p.plugins().join("org.wso2.carbon.new_1.0.0.jar"), b"x");
    look(&p);
    // Bad input: only status still answers (with the refusal); the others exit 1.
    write(&p.patches().join("patch0007/bad.jar"), b"not a jar");
    let out = cmd(&p, "status", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert!(
        v["refused"].as_str().unwrap().contains("patch0007/bad.jar"),
        "{v:#}"
    );
    shape(&v, "", shapes.entry("status").or_default());

    let mut text = String::new();
    for (command, s) in &shapes {
        text.push_str(&format!("# {command} --json\n"));
        for (path, kinds) in s {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            text.push_str(&format!(
                "{} {}\n",
                if path.is_empty() { "." } else { path },
                kinds.join("|")
            ));
        }
    }
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json-schema.txt");
    if std::env::var_os("CARBON_PATCHER_BLESS").is_some() {
        fs::write(&fixture, &text).unwrap();
    }
    assert_eq!(
        fs::read_to_string(&fixture).unwrap(),
        text,
        "the JSON shape changed: if on purpose, bump SCHEMA_VERSION where a field changed \
         meaning or went away, update the README, and rerun with CARBON_PATCHER_BLESS=1"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_cli() {
    let out = run(&["completions", "bash"]);
    assert_ok(&out);
    let script = String::from_utf8(out.stdout).unwrap();
    for want in ["_carbon__patcher()", "status", "--carbon-home", "conflicts"] {
        assert!(script.contains(want), "missing {want}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_ok(&out);
        assert!(!out.stdout.is_empty(), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    assert_ok(&run(&["man", "--dir", dir.to_str().unwrap()]));
    let mut pages: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for want in [
        "carbon-patcher.1",
        "carbon-patcher-apply.1",
        "carbon-patcher-watch.1",
        "carbon-patcher-status.1",
        "carbon-patcher-plan.1",
        "carbon-patcher-verify.1",
        "carbon-patcher-conflicts.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} missing: {pages:?}");
    }
    let apply = fs::read_to_string(dir.join("carbon-patcher-apply.1")).unwrap();
    assert!(apply.contains(".TH carbon-patcher-apply"), "{apply}");
    assert!(apply.contains("while\\-running"), "{apply}");
}

/// The README's exit-code table, `--help` and `cli::exit` say the same.
#[test]
fn one_exit_code_table() {
    use carbon_patcher::cli::exit;
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("### Exit codes").nth(1).unwrap();
    let section = section.split("\n#").next().unwrap();
    let documented: Vec<i32> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(documented, exit::ALL.to_vec(), "README table vs cli::exit");
    // Every command the table names exists.
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        let commands = row.trim_end_matches('|').rsplit('|').next().unwrap();
        for name in commands.split('`').skip(1).step_by(2) {
            let name = name.split(' ').next().unwrap();
            assert_ok(&run(&[name, "--help"]));
        }
    }
    // --help's one line: "Exit codes: 0 done, 1 error …".
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let line = help
        .lines()
        .find(|l| l.starts_with("Exit codes: "))
        .expect("an exit-code line in --help");
    let in_help: Vec<i32> = line["Exit codes: ".len()..]
        .split(", ")
        .map(|item| item.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(in_help, exit::ALL.to_vec(), "--help vs cli::exit");
}

/// On a terminal (a pty from `script`), `apply` draws its bar on standard error and the
/// launcher's console lines never share a line with it; through pipes nothing is drawn.
#[test]
fn progress_on_a_terminal_only() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let bin = env!("CARGO_BIN_EXE_carbon-patcher");
    let piped = std::process::Command::new(bin)
        .args(["apply", "--carbon-home", home(&p)])
        .env("CARBON_PATCHER_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    assert_ok(&piped);
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    // Undo, so the terminal run has the same work to do.
    fs::remove_dir_all(p.backup_dir()).unwrap();
    fs::remove_dir_all(p.metadata()).unwrap();
    let _ = fs::remove_dir_all(p.home.join(STATE));

    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed to give the run a terminal");
    }
    let tty = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} apply --carbon-home {}", home(&p)),
            "/dev/null",
        ])
        .env("CARBON_PATCHER_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    assert_ok(&tty);
    let out = String::from_utf8_lossy(&tty.stdout);
    assert!(out.contains(" files, "), "no bar drawn: {out:?}");
    assert!(
        out.contains("backing up") && out.contains("applying"),
        "{out:?}"
    );
    let mut console = 0;
    for line in out.split('\n') {
        // What the terminal shows of the line: after the last carriage return or erase.
        let shown = line.rsplit(['\r']).find(|s| !s.is_empty()).unwrap_or("");
        let shown = shown.rsplit("\x1b[2K").next().unwrap_or("");
        if line.contains("INFO {") {
            console += 1;
            assert!(
                !line.split("\x1b[2K").last().unwrap().contains(" files, "),
                "a console line shares its line with the bar: {line:?}"
            );
            assert!(shown.starts_with('['), "{line:?}");
        }
    }
    // The console lines of a first apply (see tests/cli.rs), each whole.
    assert_eq!(console, 4, "{out:?}");
}
