//! The watcher's Prometheus textfile-collector file and its status file, both rewritten
//! atomically after each cycle, so a collector or `status` never reads half a file.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Result;

use crate::fsops;
use crate::product::cycle::Summary;

pub const RESULTS: [&str; 8] = [
    "applied",
    "up_to_date",
    "checked",
    "warnings",
    "deferred",
    "busy",
    "outside_changes",
    "error",
];

/// Label values escaped as the exposition format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text for `summary`, with `cycles` counted per result since the watcher started,
/// written at `written` (seconds since the epoch).
pub fn render(summary: &Summary, cycles: &BTreeMap<String, u64>, written: f64) -> String {
    let home = format!("home=\"{}\"", label(&summary.carbon_home));
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP carbon_patcher_{name} {help}");
        let _ = writeln!(out, "# TYPE carbon_patcher_{name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "carbon_patcher_{name}{{{home}{labels}}} {v}");
        }
    };
    gauge(
        "patches_applied",
        "Patch dirs applied, as prePatchedDir.txt records them (patch0000 aside).",
        &[(String::new(), summary.patches_applied as f64)],
    );
    if let Some(sp) = &summary.servicepack {
        gauge(
            "servicepack_applied",
            "The service pack applied.",
            &[(format!(",name=\"{}\"", label(sp)), 1.0)],
        );
    }
    gauge(
        "pending_changes",
        "Changes detected but not applied yet.",
        &[(String::new(), summary.pending_changes as f64)],
    );
    gauge(
        "deferred_server_running",
        "1 while changes wait for the Carbon server to stop.",
        &[(
            String::new(),
            f64::from(u8::from(summary.deferred_server_running)),
        )],
    );
    gauge(
        "last_cycle_timestamp_seconds",
        "When the last cycle ended.",
        &[(String::new(), summary.last_cycle_time)],
    );
    gauge(
        "last_cycle_duration_seconds",
        "How long the last cycle took.",
        &[(String::new(), summary.last_cycle_duration_seconds)],
    );
    let results: Vec<(String, f64)> = RESULTS
        .iter()
        .map(|r| {
            let v = f64::from(u8::from(summary.last_cycle_result == *r));
            (format!(",result=\"{r}\""), v)
        })
        .collect();
    gauge(
        "last_cycle_result",
        "The last cycle's result (1 for the one it had).",
        &results,
    );
    gauge(
        "verification_warnings",
        "Plugins that differ from their patch at the last verification.",
        &[(String::new(), summary.verification_warnings as f64)],
    );
    let lost: Vec<(String, f64)> = summary
        .outside_changes
        .iter()
        .map(|f| {
            let labels = format!(
                ",file=\"{}\",change=\"{}\",action=\"{}\",by=\"{}\"",
                label(&f.file),
                json_name(&f.change),
                json_name(&f.action),
                label(&f.by)
            );
            (labels, 1.0)
        })
        .collect();
    gauge(
        "outside_changes",
        "Files of plugins changed outside the patch process that the last cycle met.",
        &[(String::new(), summary.outside_changes.len() as f64)],
    );
    if !lost.is_empty() {
        gauge(
            "outside_change",
            "One file changed outside the patch process, and what the restore would do to it.",
            &lost,
        );
    }
    // The watcher rewrites the file while it runs, cycle or not: a collector serving a file no
    // watcher keeps fresh shows it here.
    gauge(
        "metrics_written_timestamp_seconds",
        "When the watcher last wrote this file: after each cycle, and every minute while it runs.",
        &[(String::new(), written)],
    );
    let _ = writeln!(
        out,
        "# HELP carbon_patcher_cycles_total Cycles run since the watcher started."
    );
    let _ = writeln!(out, "# TYPE carbon_patcher_cycles_total counter");
    for r in RESULTS {
        let n = cycles.get(r).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "carbon_patcher_cycles_total{{{home},result=\"{r}\"}} {n}"
        );
    }
    out
}

/// A value's name as its JSON gives it (`brought_back`).
fn json_name(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub fn write_metrics(path: &Path, summary: &Summary, cycles: &BTreeMap<String, u64>) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    fsops::write_atomic(path, render(summary, cycles, now).as_bytes())
}

pub fn write_status(path: &Path, summary: &Summary) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(summary)?;
    json.push(b'\n');
    fsops::write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let s = Summary {
            carbon_home: "/opt/a\"b".into(),
            last_cycle_result: "deferred".into(),
            servicepack: Some("servicepack001".into()),
            patches_applied: 3,
            pending_changes: 1,
            deferred_server_running: true,
            ..Default::default()
        };
        let cycles = BTreeMap::from([("deferred".to_string(), 2)]);
        let text = render(&s, &cycles, 1700000000.5);
        assert!(text.contains("carbon_patcher_patches_applied{home=\"/opt/a\\\"b\"} 3\n"));
        assert!(text.contains(
            "carbon_patcher_servicepack_applied{home=\"/opt/a\\\"b\",name=\"servicepack001\"} 1\n"
        ));
        assert!(text.contains("carbon_patcher_deferred_server_running{home=\"/opt/a\\\"b\"} 1\n"));
        assert!(text.contains(
            "carbon_patcher_last_cycle_result{home=\"/opt/a\\\"b\",result=\"deferred\"} 1\n"
        ));
        assert!(text.contains(
            "carbon_patcher_last_cycle_result{home=\"/opt/a\\\"b\",result=\"applied\"} 0\n"
        ));
        assert!(text
            .contains("carbon_patcher_cycles_total{home=\"/opt/a\\\"b\",result=\"deferred\"} 2\n"));
        assert!(text.contains(
            "carbon_patcher_metrics_written_timestamp_seconds{home=\"/opt/a\\\"b\"} 1700000000.5\n"
        ));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
        assert!(text.contains("carbon_patcher_outside_changes{home=\"/opt/a\\\"b\"} 0\n"));
        assert!(!text.contains("carbon_patcher_outside_change{"));
    }

    #[test]
    fn each_outside_change_is_a_labelled_sample() {
        use crate::launcher::drift::{Action, Change, OutsideChange};
        let s = Summary {
            carbon_home: "/h".into(),
            last_cycle_result: "outside_changes".into(),
            outside_changes: vec![OutsideChange {
                file: "b_1.jar".into(),
                change: Change::Removed,
                action: Action::BroughtBack,
                by: "patch0000".into(),
            }],
            ..Default::default()
        };
        let text = render(&s, &BTreeMap::new(), 1700000000.5);
        assert!(text.contains(
            "carbon_patcher_outside_change{home=\"/h\",file=\"b_1.jar\",change=\"removed\",action=\"brought_back\",by=\"patch0000\"} 1\n"
        ), "{text}");
        assert!(text.contains(
            "carbon_patcher_last_cycle_result{home=\"/h\",result=\"outside_changes\"} 1\n"
        ));
    }
}
