//! Under a real systemd, installed from the real package: each test boots a Debian container
//! (`tests/support_systemd`: systemd-nspawn on a debootstrap root cached under `target/`),
//! installs the `.deb` with apt, and runs what an operator runs: the watcher's template unit,
//! a Carbon server unit with the `ExecStartPre=` drop-in, the package's upgrade and removal,
//! the unit's `systemd-analyze security` score, and the Ansible role.
//!
//! Ignored by a plain `cargo test` (they need root, namespaces and the `.deb`, and take
//! minutes): `.ci/run` runs them after `packaging/deb/build-and-check.sh` as
//! `cargo test --test systemd -- --ignored`. Where the machine cannot run containers at all
//! they print `SKIPPED` and why, and pass.

mod common;
mod support_systemd;

use std::time::{Duration, Instant};

use common::bundle_jar;
use support_systemd::*;

const HOME: &str = "/opt/wso2am";
const UNIT: &str = "carbon-patcher@wso2am.service";
const PLUGINS: &str = "/opt/wso2am/repository/components/plugins";
const PATCHES: &str = "/opt/wso2am/repository/components/patches";
const METRICS_DIR: &str = "/var/lib/prometheus/node-exporter";
/// The plugins of the fake product: (symbolic name, version).
const BUNDLES: [(&str, &str); 3] = [
    ("org.wso2.carbon.logging", "4.4.9"),
    ("org.wso2.carbon.core", "4.4.9"),
    ("org.wso2.carbon.registry.core", "4.4.9"),
];

/// Prints how long a test took, so `.ci/run`'s log shows where the harness's time goes.
struct Timed(&'static str, Instant);

impl Drop for Timed {
    fn drop(&mut self) {
        eprintln!(
            "systemd: {} took {:.1} s",
            self.0,
            self.1.elapsed().as_secs_f64()
        );
    }
}

/// A container with the current `.deb` installed, and the fake product's user.
fn boot_with_package(name: &str) -> Container {
    let debs = debs();
    let c = Container::boot(name);
    eprintln!(
        "systemd: container {name} booted in {:.1} s",
        c.booted_in.as_secs_f64()
    );
    let out = c.apt_install(&debs.current);
    assert!(
        out.contains(&format!(
            "Setting up carbon-patcher ({})",
            debs.current_version
        )),
        "{out}"
    );
    c.ok("useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin wso2carbon");
    c
}

fn plugin_path(bundle: (&str, &str)) -> String {
    format!("{PLUGINS}/{}_{}.jar", bundle.0, bundle.1)
}

/// A Carbon product at `home` owned by wso2carbon: the plugins of [`BUNDLES`], nothing
/// applied yet.
fn install_product(c: &Container, home: &str) {
    for (name, version) in BUNDLES {
        c.put(
            &format!("{home}/repository/components/plugins/{name}_{version}.jar"),
            &bundle_jar(name, version, "original"),
            0o644,
        );
    }
    c.ok(&format!(
        "mkdir -p {home}/repository/components/patches {home}/repository/logs && chown -R wso2carbon:wso2carbon {home}"
    ));
}

/// A patch dir `patch` holding a new build of `bundle`, staged in `/root/incoming` as an
/// operator unpacks one before copying it into the product.
fn stage_patch(c: &Container, patch: &str, bundle: (&str, &str)) {
    c.put(
        &format!("/root/incoming/{patch}/{}_{}.jar", bundle.0, bundle.1),
        &bundle_jar(bundle.0, bundle.1, patch),
        0o644,
    );
}

/// Whether the plugin of `bundle` holds the bytes of `patch`'s build of it.
fn plugin_from(c: &Container, bundle: (&str, &str), patch: &str) -> bool {
    let want = common::md5_hex(&bundle_jar(bundle.0, bundle.1, patch));
    let have = c.ok(&format!("md5sum {}", plugin_path(bundle)));
    have.split_whitespace().next() == Some(want.as_str())
}

/// The watcher's configuration for the product at `home`.
fn watcher_config(home: &str, metrics_file: &str) -> String {
    format!("carbon_home = \"{home}\"\nsettle_seconds = 1\nmetrics_file = \"{metrics_file}\"\n")
}

/// The instance's configuration, readable by the watcher's user only, and a drop-in that lets
/// the sandboxed watcher write its metrics file (the unit's comments say how).
fn configure_watcher(c: &Container, instance: &str, home: &str) -> String {
    let metrics = format!("{METRICS_DIR}/carbon-patcher-{instance}.prom");
    c.put(
        &format!("/etc/carbon-patcher/{instance}.toml"),
        watcher_config(home, &metrics).as_bytes(),
        0o640,
    );
    c.put(
        &format!("/etc/systemd/system/carbon-patcher@{instance}.service.d/metrics.conf"),
        format!("[Service]\nReadWritePaths={METRICS_DIR}\n").as_bytes(),
        0o644,
    );
    c.ok(&format!(
        "chgrp wso2carbon /etc/carbon-patcher/{instance}.toml && mkdir -p {METRICS_DIR} && chown wso2carbon: {METRICS_DIR} && systemctl daemon-reload"
    ));
    metrics
}

fn line_index(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle))
}

#[test]
#[ignore = "boots a Debian container with systemd-nspawn and needs the .deb; run by .ci/run"]
fn the_watcher_unit_under_systemd() {
    if !available("the_watcher_unit_under_systemd") {
        return;
    }
    let _t = Timed("the_watcher_unit_under_systemd", Instant::now());
    let c = boot_with_package("cp-watcher");
    install_product(&c, HOME);
    let metrics = configure_watcher(&c, "wso2am", HOME);
    // A patch is waiting before the watcher is first started.
    stage_patch(&c, "patch0001", BUNDLES[0]);
    c.ok(&format!("cp -r /root/incoming/patch0001 {PATCHES}/"));

    // enable --now returns once the unit is active, which Type=notify makes the moment the
    // watcher says READY=1: after its first cycle, so the patch is already in plugins.
    c.ok(&format!("systemctl enable --now {UNIT}"));
    assert_eq!(c.show(UNIT, "ActiveState"), "active");
    assert_eq!(
        c.ok(&format!("systemctl is-enabled {UNIT}")).trim(),
        "enabled"
    );
    assert!(
        plugin_from(&c, BUNDLES[0], "patch0001"),
        "patch0001 not applied when the unit became active"
    );
    let journal = c.journal(UNIT);
    let applied = line_index(
        &journal,
        "applied: New patch available - patch0001; 1 plugin file(s) written, 3 backed up to patch0000",
    );
    let started = line_index(&journal, "Started carbon-patcher@wso2am.service");
    assert!(
        applied.is_some() && started.is_some() && applied < started,
        "the first cycle's line must come before systemd's 'Started' (READY after the cycle):\n{journal}"
    );
    assert!(
        journal.contains("watching home=/opt/wso2am mode=\"inotify\""),
        "{journal}"
    );

    // The one-line STATUS= of the last cycle.
    assert_eq!(c.show(UNIT, "StatusText"), "1 patches applied");
    let status = c.ok(&format!("systemctl status --no-pager --full {UNIT}"));
    assert!(status.contains("Status: \"1 patches applied\""), "{status}");
    assert!(status.contains("Active: active (running)"), "{status}");

    // The shipped watchdog, then a short one over several periods: the watcher's pings keep
    // it alive; a watcher that stops pinging is killed and restarted.
    assert_eq!(c.show(UNIT, "WatchdogUSec"), "30s");
    c.put(
        "/etc/systemd/system/carbon-patcher@wso2am.service.d/watchdog.conf",
        b"[Service]\nWatchdogSec=2s\nRestartSec=1s\nTimeoutAbortSec=5s\nLimitCORE=0\n",
        0o644,
    );
    c.ok(&format!(
        "systemctl daemon-reload && systemctl restart {UNIT}"
    ));
    assert_eq!(c.show(UNIT, "WatchdogUSec"), "2s");
    let pid = c.show(UNIT, "MainPID");
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(c.show(UNIT, "ActiveState"), "active");
    assert_eq!(
        c.show(UNIT, "MainPID"),
        pid,
        "restarted within 4 watchdog periods"
    );
    assert_eq!(c.show(UNIT, "NRestarts"), "0");
    assert!(!c.journal(UNIT).contains("Watchdog timeout"));
    c.ok(&format!("kill -STOP {pid}"));
    c.wait_for(Duration::from_secs(20), "the watchdog's restart", || {
        c.journal(UNIT).contains("Watchdog timeout")
            && c.show(UNIT, "ActiveState") == "active"
            && c.show(UNIT, "MainPID") != pid
    });
    assert_eq!(c.show(UNIT, "NRestarts"), "1");

    // reload: the configuration is read again by the same process.
    let pid = c.show(UNIT, "MainPID");
    let reloaded = format!("{METRICS_DIR}/carbon-patcher-wso2am-reloaded.prom");
    c.put(
        "/etc/carbon-patcher/wso2am.toml",
        watcher_config(HOME, &reloaded).as_bytes(),
        0o640,
    );
    c.ok(&format!("systemctl reload {UNIT}"));
    c.wait_for(Duration::from_secs(10), "the reloaded metrics file", || {
        c.code(&format!("test -s {reloaded}")) == Some(0)
    });
    assert_eq!(c.show(UNIT, "MainPID"), pid, "reload restarted the watcher");
    assert!(c.journal(UNIT).contains("configuration reloaded"));
    assert_eq!(c.show(UNIT, "ActiveState"), "active");

    // A patch copied in is applied, and the journal and the metrics say so.
    stage_patch(&c, "patch0002", BUNDLES[1]);
    let copied = Instant::now();
    c.ok(&format!("cp -r /root/incoming/patch0002 {PATCHES}/"));
    c.wait_for(Duration::from_secs(15), "patch0002 applied", || {
        plugin_from(&c, BUNDLES[1], "patch0002")
    });
    eprintln!(
        "systemd: patch0002 applied {:.1} s after the copy (settle time 1 s)",
        copied.elapsed().as_secs_f64()
    );
    c.wait_for(Duration::from_secs(5), "the journal's line", || {
        c.code(&format!("journalctl -b -u {UNIT} | grep -q 'applied: New patch available - patch0002; 1 plugin file(s) written'")) == Some(0)
    });
    c.wait_for(Duration::from_secs(5), "the metrics of the apply", || {
        let m = c.ok(&format!("cat {reloaded}"));
        m.contains("carbon_patcher_patches_applied{home=\"/opt/wso2am\"} 2\n")
            && m.contains(
                "carbon_patcher_last_cycle_result{home=\"/opt/wso2am\",result=\"applied\"} 1\n",
            )
    });
    assert_eq!(c.show(UNIT, "StatusText"), "2 patches applied");
    assert!(c
        .ok(&format!("cat {metrics}"))
        .contains("carbon_patcher_patches_applied{home=\"/opt/wso2am\"} 1\n"));
    // What the watcher wrote belongs to the server's user.
    assert_eq!(
        c.ok(&format!(
            "stat -c %U {} {PATCHES}/.metadata/prePatchedDir.txt",
            plugin_path(BUNDLES[1])
        )),
        "wso2carbon\nwso2carbon\n"
    );

    // A clean stop.
    c.ok(&format!("systemctl stop {UNIT}"));
    assert_eq!(c.show(UNIT, "ActiveState"), "inactive");
    assert_eq!(c.show(UNIT, "Result"), "success");
    assert_eq!(c.show(UNIT, "ExecMainStatus"), "0");
    assert!(c.journal(UNIT).contains("stopping"));
}
