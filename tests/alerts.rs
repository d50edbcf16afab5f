//! The monitoring that ships with the package, against metrics files the real watcher wrote:
//! the Prometheus alerting rules (`packaging/prometheus/carbon-patcher.rules.yml`) and the
//! Grafana dashboard (`packaging/grafana/carbon-patcher.json`).
//!
//! The watcher runs on temp products through the states the alerts are about (applied, a
//! refused patch, a change deferred while a server runs, verification warnings, stopped); each
//! metrics file it writes becomes promtool input series (the samples as written, with the labels
//! a node_exporter scrape adds, and its timestamps moved to promtool's clock, which starts at 0),
//! held for as long as each alert needs, and `promtool test rules` checks which alert fires
//! when, with its labels and annotations. promtool comes with Debian's `prometheus` package,
//! installed when missing.

mod common;
mod support_systemd;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rules_file() -> PathBuf {
    repo().join("packaging/prometheus/carbon-patcher.rules.yml")
}

/// promtool, installed with Debian's prometheus package when missing.
fn promtool() -> PathBuf {
    support_systemd::ensure_host_tools(&[("promtool", "prometheus")]);
    PathBuf::from("/usr/bin/promtool")
}

/// A watcher on `p` writing `metrics`; stopped (SIGTERM, then SIGKILL) when dropped.
struct Watcher {
    child: Child,
    metrics: PathBuf,
}

impl Watcher {
    fn start(p: &Product, metrics: &Path) -> Watcher {
        let _ = fs::remove_file(metrics);
        let child = Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
            .args(["watch", "--settle", "0.3", "--carbon-home"])
            .arg(&p.home)
            .arg("--metrics-file")
            .arg(metrics)
            .env_remove("CARBON_HOME")
            .env_remove("NOTIFY_SOCKET")
            .env("CARBON_PATCHER_METRICS_REFRESH_SECONDS", "0.2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let w = Watcher {
            child,
            metrics: metrics.to_path_buf(),
        };
        w.wait_for_result(&[
            "applied",
            "up_to_date",
            "checked",
            "warnings",
            "deferred",
            "error",
        ]);
        w
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.metrics).unwrap_or_default()
    }

    /// Waits until the last cycle's result is one of `results`; the file then.
    fn wait_for_result(&self, results: &[&str]) -> String {
        let t = Instant::now();
        loop {
            let text = self.text();
            if results.iter().any(|r| {
                text.contains(&format!("result=\"{r}\"}} 1\n"))
                    && text.contains("carbon_patcher_cycles_total")
            }) {
                return text;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "no cycle ended in {results:?}:\n{text}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The samples of an exposition text: (series as promtool writes it, value).
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn value_of(text: &str, name: &str) -> f64 {
    samples(text)
        .into_iter()
        .find(|(s, _)| s.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .1
}

const WRITTEN: &str = "carbon_patcher_metrics_written_timestamp_seconds";
/// The labels a node_exporter scrape adds to what its textfile collector serves.
const SCRAPE: &str = "instance=\"node1:9100\",job=\"node\"";

/// promtool input series for a watcher that wrote `file` and then, for `minutes` of one-minute
/// steps, rewrote it every minute for the first `running` of them (the written timestamp
/// advancing with promtool's clock), then stopped (every value as last written). The file's
/// other timestamps keep their distance from the written one.
fn series(file: &str, minutes: u32, running: u32) -> Vec<Value> {
    let written = value_of(file, WRITTEN);
    samples(file)
        .into_iter()
        .map(|(series, v)| {
            let series = series.replacen('{', &format!("{{{SCRAPE},"), 1);
            let values = if series.starts_with(WRITTEN) {
                let last = 60 * running;
                format!("0+60x{running} {last}+0x{}", minutes - running)
            } else if series.contains("_timestamp_seconds{") {
                format!("{:.3}+0x{minutes}", v - written)
            } else {
                format!("{v}+0x{minutes}")
            };
            json!({"series": series, "values": values})
        })
        .collect()
}

/// The alert rules by name: (`for`, labels, annotations), as the rules file has them.
fn rules() -> BTreeMap<String, Value> {
    let doc: Value = serde_norway::from_str(&fs::read_to_string(rules_file()).unwrap()).unwrap();
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| (r["alert"].as_str().unwrap().to_string(), r))
        .collect()
}

/// `text` with each `{{ $labels.NAME }}` replaced, as Prometheus's templates do.
fn render(text: &str, labels: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    while let Some(start) = out.find("{{") {
        let end = start + out[start..].find("}}").unwrap() + 2;
        let name = out[start + 2..end - 2].trim();
        let name = name
            .strip_prefix("$labels.")
            .unwrap_or_else(|| panic!("template {name:?} in an annotation: only $labels.*"));
        let value = labels.get(name).cloned().unwrap_or_default();
        out.replace_range(start..end, &value);
    }
    out
}

/// The expected firing alert `name` on the series labelled `labels` (the scrape's labels are
/// added): its labels and its rendered annotations.
fn firing(name: &str, labels: &[(&'static str, &str)]) -> Value {
    let rule = &rules()[name];
    let mut all: BTreeMap<&str, String> = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
    all.insert("instance", "node1:9100".into());
    all.insert("job", "node".into());
    let mut exp_labels = all.clone();
    for (k, v) in rule["labels"].as_object().unwrap() {
        exp_labels.insert(k, v.as_str().unwrap().to_string());
    }
    let annotations: BTreeMap<String, String> = rule["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), render(v.as_str().unwrap(), &all)))
        .collect();
    json!({"exp_labels": exp_labels, "exp_annotations": annotations})
}

const ALERTS: [&str; 4] = [
    "CarbonPatcherCycleFailed",
    "CarbonPatcherChangeDeferredTooLong",
    "CarbonPatcherVerificationWarnings",
    "CarbonPatcherMetricsStale",
];

/// At `at`, `fires` (alert name → expected alerts) and no other alert of the rules.
fn at(at: &str, fires: &[(&str, Value)]) -> Vec<Value> {
    ALERTS
        .iter()
        .map(|name| {
            let exp: Vec<Value> = fires
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect();
            json!({"eval_time": at, "alertname": name, "exp_alerts": exp})
        })
        .collect()
}

fn product_in(root: &Path) -> Product {
    Product::new(root, &[("a", "1"), ("b", "1")])
}

/// The metrics files of the states the alerts are about, as the real watcher wrote them.
struct Files {
    home: String,
    applied: String,
    error: String,
    deferred: String,
    deferred_home: String,
    warnings: String,
    warnings_home: String,
    stopped: String,
}

fn write_files(tmp: &Path) -> Files {
    // A service pack and a patch applied, then a broken patch refused, then stopped.
    let p = product_in(&tmp.join("one"));
    p.add_servicepack(
        "servicepack001",
        &[("b_1.jar", "b", "1", "servicepack001")],
        &[],
    );
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patch0001");
    let mut w = Watcher::start(&p, &tmp.join("one.prom"));
    let applied = w.wait_for_result(&["applied"]);
    write(&p.patches().join("patch0002/broken.jar"), b"not a zip");
    let error = w.wait_for_result(&["error"]);
    // While it runs, it rewrites the file (the written time moves, nothing else).
    let t = Instant::now();
    while value_of(&w.text(), WRITTEN) <= value_of(&error, WRITTEN) {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "no rewrite while idle"
        );
        sleep(Duration::from_millis(20));
    }
    w.stop();
    let stopped = w.text();
    sleep(Duration::from_millis(600));
    assert_eq!(
        w.text(),
        stopped,
        "the file changed after the watcher stopped"
    );

    // A change held back while the server runs.
    let p2 = product_in(&tmp.join("two"));
    let mut server = fake_server(&p2.home);
    p2.add_patch_jar("patch0001", "b_1.jar", "b", "1", "patch0001");
    let w2 = Watcher::start(&p2, &tmp.join("two.prom"));
    let deferred = w2.wait_for_result(&["deferred"]);
    drop(w2);
    server.kill().unwrap();
    server.wait().unwrap();

    // A plugin changed by hand after its patch was applied: the next start verifies and warns.
    let p3 = product_in(&tmp.join("three"));
    p3.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patch0001");
    assert_ok(&p3.apply(&[]));
    write(
        &p3.plugins().join("a_1.jar"),
        &bundle_jar("a", "1", "edited by hand"),
    );
    let w3 = Watcher::start(&p3, &tmp.join("three.prom"));
    let warnings = w3.wait_for_result(&["warnings"]);
    assert!(value_of(&warnings, "carbon_patcher_verification_warnings") >= 1.0);

    Files {
        home: p.home.display().to_string(),
        applied,
        error,
        stopped,
        deferred,
        deferred_home: p2.home.display().to_string(),
        warnings,
        warnings_home: p3.home.display().to_string(),
    }
}

#[test]
fn the_alerting_rules_fire_on_what_the_watcher_wrote() {
    let promtool = promtool();
    let check = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(rules_file())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", describe(&check));
    assert_eq!(rules().len(), ALERTS.len(), "every rule is tested here");

    let tmp = tempfile::tempdir().unwrap();
    let f = write_files(tmp.path());
    let home = f.home.as_str();
    let failed = firing(
        "CarbonPatcherCycleFailed",
        &[("home", home), ("result", "error")],
    );
    let day = 26 * 60;
    let tests = json!([
        {
            "name": "applied, watcher running: nothing fires, for a day",
            "interval": "1m",
            "input_series": series(&f.applied, day, day),
            "alert_rule_test": ([at("10m", &[]), at("25h", &[])].concat()),
        },
        {
            "name": "a refused patch: CarbonPatcherCycleFailed after 2 minutes",
            "interval": "1m",
            "input_series": series(&f.error, 30, 30),
            "alert_rule_test": ([
                at("1m", &[]),
                at("3m", &[("CarbonPatcherCycleFailed", failed.clone())]),
            ].concat()),
        },
        {
            "name": "deferred while the server runs: CarbonPatcherChangeDeferredTooLong after a day",
            "interval": "1m",
            "input_series": series(&f.deferred, day, day),
            "alert_rule_test": ([
                at("23h50m", &[]),
                at("24h10m", &[("CarbonPatcherChangeDeferredTooLong", firing("CarbonPatcherChangeDeferredTooLong", &[("home", &f.deferred_home)]))]),
            ].concat()),
        },
        {
            "name": "verification warnings: CarbonPatcherVerificationWarnings after a minute",
            "interval": "1m",
            "input_series": series(&f.warnings, 30, 30),
            "alert_rule_test": ([
                at("3m", &[("CarbonPatcherVerificationWarnings", firing("CarbonPatcherVerificationWarnings", &[("home", &f.warnings_home)]))]),
            ].concat()),
        },
        {
            "name": "the watcher stopped at 10m: CarbonPatcherMetricsStale once its file is 5 minutes old",
            "interval": "1m",
            "input_series": series(&f.stopped, 40, 10),
            "alert_rule_test": ([
                // Its last cycle had refused a patch: that alert fires throughout.
                at("14m", &[("CarbonPatcherCycleFailed", failed.clone())]),
                at("16m", &[
                    ("CarbonPatcherMetricsStale", firing("CarbonPatcherMetricsStale", &[("home", home)])),
                    ("CarbonPatcherCycleFailed", failed.clone()),
                ]),
            ].concat()),
        },
    ]);
    // JSON is YAML: promtool reads it as it is.
    let test_file = tmp.path().join("carbon-patcher.rules.test.yml");
    let doc = json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    fs::write(&test_file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(&test_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules {}:\n{}",
        test_file.display(),
        describe(&out)
    );
    assert!(stdout(&out).contains("SUCCESS"), "{}", describe(&out));
}

/// Every PromQL expression of the dashboard (targets and template variables), `$home` and
/// Grafana's interval variables filled in.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let fill = |e: &str| {
        e.replace("$home", ".*")
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
    };
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| fill(t["expr"].as_str().unwrap()))
        .collect();
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            // label_values(METRIC, LABEL) is Grafana's: the metric is the PromQL in it.
            let metric = q
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .unwrap_or_else(|| panic!("variable query {q:?}"));
            exprs.push(metric.to_string());
        }
    }
    exprs
}

#[test]
fn the_grafana_dashboard_queries_only_what_the_watcher_writes() {
    let promtool = promtool();
    let text = fs::read_to_string(repo().join("packaging/grafana/carbon-patcher.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "carbon-patcher");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for p in panels {
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }

    // Each expression is valid PromQL: promtool checks it as a recording rule.
    let exprs = dashboard_exprs(&dashboard);
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"record": format!("dashboard:expr_{i}"), "expr": e}))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dashboard.rules.yml");
    let doc = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));

    // Each metric it names is one the watcher writes.
    let f = write_files(tmp.path());
    let written: Vec<String> = [&f.applied, &f.deferred, &f.warnings, &f.error]
        .iter()
        .flat_map(|t| samples(t))
        .map(|(s, _)| s.split('{').next().unwrap().to_string())
        .collect();
    let mut used = Vec::new();
    for e in &exprs {
        for (i, _) in e.match_indices("carbon_patcher_") {
            let name: String = e[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
    }
    assert!(!used.is_empty());
    for name in &used {
        assert!(
            written.contains(name),
            "the dashboard queries {name}, which no watcher writes"
        );
    }
    // And it shows every metric the watcher writes.
    for name in &written {
        assert!(used.contains(name), "the dashboard does not show {name}");
    }
}
