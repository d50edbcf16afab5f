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

/// The fake Carbon server's unit, written as WSO2's own units are: `Type=forking`, the launch
/// script's `start` and `stop`, `PIDFile=<home>/wso2carbon.pid`. Its JVM is the rollout test's
/// stand-in (`packaging/ansible/tests/fake_server.py`: `-Dcarbon.home=<home>` in its command
/// line, answering on port 9443 of the container's own loopback); before it starts, the
/// script records the digests of the plugins it starts on.
fn install_server_unit(c: &Container) {
    c.copy_in(
        &repo().join("packaging/ansible/tests/fake_server.py"),
        "/usr/local/lib/carbon-patcher-tests/fake_server.py",
    );
    c.put(
        &format!("{HOME}/bin/wso2server.sh"),
        b"#!/bin/sh\n\
          # The tests' stand-in for Carbon's launch script.\n\
          home=$(cd \"$(dirname \"$0\")/..\" && pwd)\n\
          fake=/usr/local/lib/carbon-patcher-tests/fake_server.py\n\
          case $1 in\n\
          start) md5sum \"$home\"/repository/components/plugins/*.jar >\"$home/started-on.txt\"\n\
                 exec python3 \"$fake\" start \"$home\" 9443 ;;\n\
          stop) exec python3 \"$fake\" stop \"$home\" ;;\n\
          *) echo \"usage: $0 start|stop\" >&2; exit 2 ;;\n\
          esac\n",
        0o755,
    );
    c.put(
        "/etc/systemd/system/wso2carbon@.service",
        b"[Unit]\n\
          Description=WSO2 Carbon server %i\n\
          After=network.target\n\
          \n\
          [Service]\n\
          Type=forking\n\
          User=wso2carbon\n\
          Group=wso2carbon\n\
          ExecStart=/opt/%i/bin/wso2server.sh start\n\
          ExecStop=/opt/%i/bin/wso2server.sh stop\n\
          PIDFile=/opt/%i/wso2carbon.pid\n\
          \n\
          [Install]\n\
          WantedBy=multi-user.target\n",
        0o644,
    );
    c.ok(&format!(
        "chown -R wso2carbon: {HOME}/bin && systemctl daemon-reload"
    ));
}

/// The md5sum line of the plugin of `bundle` as `patch` built it (`original`: as shipped).
fn started_on(c: &Container, bundle: (&str, &str), patch: &str) -> bool {
    let want = common::md5_hex(&bundle_jar(bundle.0, bundle.1, patch));
    c.ok(&format!("cat {HOME}/started-on.txt"))
        .lines()
        .any(|l| l.starts_with(&want) && l.ends_with(&format!("/{}_{}.jar", bundle.0, bundle.1)))
}

const SERVER: &str = "wso2carbon@wso2am.service";

#[test]
#[ignore = "boots a Debian container with systemd-nspawn and needs the .deb; run by .ci/run"]
fn the_server_units_pre_start_drop_in_and_the_watcher_beside_it() {
    if !available("the_server_units_pre_start_drop_in_and_the_watcher_beside_it") {
        return;
    }
    let _t = Timed(
        "the_server_units_pre_start_drop_in_and_the_watcher_beside_it",
        Instant::now(),
    );
    let c = boot_with_package("cp-server");
    install_product(&c, HOME);
    install_server_unit(&c);
    // The drop-in as the package ships it, where its comments say it goes.
    c.ok("mkdir -p /etc/systemd/system/wso2carbon@.service.d && cp /usr/share/doc/carbon-patcher/examples/carbon-server-dropin.conf /etc/systemd/system/wso2carbon@.service.d/carbon-patcher.conf && systemctl daemon-reload");
    let exec_start_pre = c.show(SERVER, "ExecStartPre");
    assert!(
        exec_start_pre.contains("carbon-patcher-pre-start /opt/wso2am"),
        "{exec_start_pre}"
    );

    // A pending patch is applied before the server starts.
    stage_patch(&c, "patch0001", BUNDLES[0]);
    c.ok(&format!("cp -r /root/incoming/patch0001 {PATCHES}/"));
    c.ok(&format!("systemctl start {SERVER}"));
    assert_eq!(c.show(SERVER, "ActiveState"), "active");
    assert!(
        started_on(&c, BUNDLES[0], "patch0001"),
        "the server started on the old plugin:\n{}",
        c.ok(&format!("cat {HOME}/started-on.txt"))
    );
    let server_pid = c.show(SERVER, "MainPID");
    assert_eq!(
        c.ok(&format!("cat {HOME}/wso2carbon.pid")).trim(),
        server_pid
    );
    let journal = c.journal(SERVER);
    assert!(journal.contains("Patch changes detected"), "{journal}");
    c.ok(&format!("systemctl stop {SERVER}"));
    assert_eq!(c.show(SERVER, "ActiveState"), "inactive");

    // A bad patch keeps the server from starting, and the journal says why.
    let plugins_before = c.ok(&format!("md5sum {PLUGINS}/*.jar"));
    c.put(
        &format!("{PATCHES}/patch0002/broken.jar"),
        b"not a zip",
        0o644,
    );
    let start = c.sh(&format!("systemctl start {SERVER}"));
    assert!(!start.status.success(), "the server started on a bad patch");
    assert_eq!(c.show(SERVER, "ActiveState"), "failed");
    assert_eq!(c.show(SERVER, "Result"), "exit-code");
    assert_eq!(c.show(SERVER, "MainPID"), "0");
    let journal = c.journal(SERVER);
    assert!(
        journal
            .contains("carbon-patcher: apply failed with exit status 1; not starting the server"),
        "{journal}"
    );
    assert!(
        journal
            .lines()
            .any(|l| l.contains("broken.jar") && l.contains("patch0002")),
        "the journal does not name the bad jar:\n{journal}"
    );
    assert_eq!(c.ok(&format!("md5sum {PLUGINS}/*.jar")), plugins_before);
    c.ok(&format!(
        "rm -r {PATCHES}/patch0002 && systemctl reset-failed {SERVER}"
    ));

    // The watcher beside a running server defers, and applies once the server is stopped.
    configure_watcher(&c, "wso2am", HOME);
    c.ok(&format!(
        "systemctl start {SERVER} && systemctl enable --now {UNIT}"
    ));
    let server_pid = c.show(SERVER, "MainPID");
    stage_patch(&c, "patch0003", BUNDLES[1]);
    c.ok(&format!("cp -r /root/incoming/patch0003 {PATCHES}/"));
    let deferred = format!(
        "deferred: New patch available - patch0003; 1 change(s) validated, not applied while the server runs (pid {server_pid}); applying when it stops"
    );
    c.wait_for(Duration::from_secs(15), "the watcher's deferral", || {
        c.journal(UNIT).contains(&deferred)
    });
    assert_eq!(
        c.show(UNIT, "StatusText"),
        format!("1 patches applied, 1 pending: server running (pid {server_pid})")
    );
    let metrics = c.ok(&format!("cat {METRICS_DIR}/carbon-patcher-wso2am.prom"));
    assert!(
        metrics.contains("carbon_patcher_deferred_server_running{home=\"/opt/wso2am\"} 1\n"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        plugin_from(&c, BUNDLES[1], "original"),
        "applied under a running server"
    );
    c.ok(&format!("systemctl stop {SERVER}"));
    let stopped = Instant::now();
    c.wait_for(Duration::from_secs(15), "the apply after the stop", || {
        plugin_from(&c, BUNDLES[1], "patch0003")
    });
    eprintln!(
        "systemd: the deferred patch0003 applied {:.1} s after the server stopped",
        stopped.elapsed().as_secs_f64()
    );
    c.wait_for(Duration::from_secs(5), "the journal's line", || {
        c.journal(UNIT)
            .contains("applied: New patch available - patch0003; 1 plugin file(s) written")
    });
    // The next start finds nothing to do, and starts on what the watcher applied.
    c.ok(&format!("systemctl start {SERVER}"));
    assert!(started_on(&c, BUNDLES[1], "patch0003"));
    assert_eq!(
        c.journal(SERVER).matches("Patch changes detected").count(),
        1
    );
    let log = c.ok(&format!("tail -n 3 {HOME}/repository/logs/patches.log"));
    assert!(
        log.contains("No new patch or service pack detected"),
        "{log}"
    );
}

/// The overall exposure level `systemd-analyze security` gives `unit`, and its word.
fn exposure(c: &Container, unit: &str) -> (f64, String) {
    let out = c.ok(&format!("systemd-analyze security --no-pager {unit}"));
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level:\n{out}"));
    let after = line.rsplit(": ").next().unwrap();
    let mut words = after.split_whitespace();
    let score = words.next().unwrap().parse().unwrap();
    (score, words.next().unwrap_or_default().to_string())
}

#[test]
#[ignore = "boots a Debian container with systemd-nspawn and needs the .deb; run by .ci/run"]
fn the_units_sandbox_scores_at_most_1_0() {
    if !available("the_units_sandbox_scores_at_most_1_0") {
        return;
    }
    let _t = Timed("the_units_sandbox_scores_at_most_1_0", Instant::now());
    let c = boot_with_package("cp-security");
    let (score, word) = exposure(&c, "carbon-patcher@x.service");
    eprintln!("systemd: systemd-analyze security carbon-patcher@x.service: {score} {word}");
    assert!(score <= 1.0, "the unit's exposure rose to {score} {word}");
    // The README says what this measures.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let claim = format!("`systemd-analyze security carbon-patcher@x.service`: {score:.1} {word}");
    assert!(readme.contains(&claim), "README.md should say {claim}");
}

/// `Status Version` of the carbon-patcher package, as dpkg has it.
fn package_state(c: &Container) -> String {
    c.sh("dpkg-query -W -f='${db:Status-Abbrev}${Version}' carbon-patcher")
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Whether the running `pid` executes the installed `/usr/bin/carbon-patcher` (not a file an
/// upgrade replaced: that one shows as `(deleted)`).
fn runs_installed_binary(c: &Container, pid: &str) -> bool {
    let exe = c.ok(&format!("readlink /proc/{pid}/exe"));
    let same = c.ok(&format!(
        "[ \"$(stat -L -c %d:%i /proc/{pid}/exe)\" = \"$(stat -c %d:%i /usr/bin/carbon-patcher)\" ] && echo same || echo other"
    ));
    exe.trim() == "/usr/bin/carbon-patcher" && same.trim() == "same"
}

#[test]
#[ignore = "boots a Debian container with systemd-nspawn and needs the .deb; run by .ci/run"]
fn the_packages_life_install_upgrade_remove_purge() {
    if !available("the_packages_life_install_upgrade_remove_purge") {
        return;
    }
    let _t = Timed(
        "the_packages_life_install_upgrade_remove_purge",
        Instant::now(),
    );
    let debs = debs();
    let c = boot_with_package("cp-package");
    assert_eq!(package_state(&c), format!("ii {}", debs.current_version));
    // Installed, nothing enabled or started: an instance needs its configuration first.
    assert_eq!(c.show("carbon-patcher@x.service", "LoadState"), "loaded");
    assert_eq!(
        c.ok("systemctl list-units --all --no-legend 'carbon-patcher@*'")
            .trim(),
        ""
    );
    assert!(c
        .ok("carbon-patcher --version")
        .contains(env!("CARGO_PKG_VERSION")));

    // Two watchers, and an edited example.toml (a conffile).
    let instances = ["wso2am", "wso2is"];
    for i in instances {
        let home = format!("/opt/{i}");
        install_product(&c, &home);
        configure_watcher(&c, i, &home);
        c.ok(&format!(
            "systemctl enable --now carbon-patcher@{i}.service"
        ));
    }
    c.ok("echo '# edited by the operator' >> /etc/carbon-patcher/example.toml");
    let before: Vec<String> = instances
        .iter()
        .map(|i| c.show(&format!("carbon-patcher@{i}.service"), "MainPID"))
        .collect();
    // The products' plugins, patches and metadata (their logs and the watchers' status files
    // grow with every start).
    let products_cmd =
        "find /opt/*/repository/components -type f -print0 | sort -z | xargs -0 md5sum";
    let products = c.ok(products_cmd);

    // Upgrade: the running watchers are restarted on the new binary.
    let out = c.apt_install(&debs.newer);
    assert!(
        out.contains(&format!(
            "Unpacking carbon-patcher ({}) over ({})",
            debs.newer_version, debs.current_version
        )),
        "{out}"
    );
    assert_eq!(package_state(&c), format!("ii {}", debs.newer_version));
    for (i, old) in instances.iter().zip(&before) {
        let unit = format!("carbon-patcher@{i}.service");
        assert_eq!(c.show(&unit, "ActiveState"), "active", "{unit}");
        let pid = c.show(&unit, "MainPID");
        assert_ne!(&pid, old, "{unit} was not restarted by the upgrade");
        assert!(runs_installed_binary(&c, &pid), "{unit} runs an old binary");
    }
    assert!(c
        .ok("cat /etc/carbon-patcher/example.toml")
        .ends_with("# edited by the operator\n"));

    // remove: the watchers stop, the configuration stays.
    c.ok("apt-get remove -y carbon-patcher");
    assert_eq!(package_state(&c), format!("rc {}", debs.newer_version));
    for i in instances {
        let unit = format!("carbon-patcher@{i}.service");
        assert_eq!(c.show(&unit, "ActiveState"), "inactive", "{unit}");
        assert_eq!(c.show(&unit, "LoadState"), "not-found", "{unit}");
        assert!(
            c.journal(&unit).contains("stopping"),
            "{unit} did not stop cleanly"
        );
        assert_eq!(
            c.code(&format!("test -f /etc/carbon-patcher/{i}.toml")),
            Some(0)
        );
    }
    assert_eq!(c.code("test -e /usr/bin/carbon-patcher"), Some(1));
    assert_eq!(c.code("test -f /etc/carbon-patcher/example.toml"), Some(0));
    assert_eq!(c.ok(products_cmd), products);

    // purge: the package's own configuration goes; the operator's stays.
    c.ok("apt-get purge -y carbon-patcher");
    assert_eq!(package_state(&c), "");
    assert_eq!(c.code("test -e /etc/carbon-patcher/example.toml"), Some(1));
    for i in instances {
        assert_eq!(
            c.code(&format!("test -f /etc/carbon-patcher/{i}.toml")),
            Some(0)
        );
    }
    assert_eq!(c.ok(products_cmd), products);
}

/// A patch archive as WSO2 ships them (a wrapper dir holding the patch dir) and its
/// `sha256sum` line.
fn patch_archive(patch: &str, bundle: (&str, &str)) -> (Vec<u8>, String) {
    let number = patch.trim_start_matches("patch");
    let wrapper = format!("WSO2-CARBON-PATCH-4.4.0-{number}");
    let jar = bundle_jar(bundle.0, bundle.1, patch);
    let zip = common::zip_bytes(&[
        (
            &format!("{wrapper}/README.txt"),
            b"fixes logging\n".as_slice(),
        ),
        (
            &format!("{wrapper}/{patch}/{}_{}.jar", bundle.0, bundle.1),
            &jar,
        ),
    ]);
    use sha2::Digest;
    let sum: String = sha2::Sha256::digest(&zip)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (zip, format!("{sum}  {wrapper}.zip\n"))
}

/// One run of `site.yml` against the container; (exit code, output, changed count).
fn run_playbook(c: &Container, inventory: &std::path::Path) -> (i32, String, Option<u32>) {
    let venv = run_ok(std::process::Command::new("bash").arg(repo().join("packaging/venv.sh")));
    let venv = std::path::PathBuf::from(venv.trim());
    let ansible = repo().join("packaging/ansible");
    let out = std::process::Command::new(venv.join("bin/ansible-playbook"))
        .current_dir(&ansible)
        .arg("-i")
        .arg(inventory)
        .arg("site.yml")
        .env("ANSIBLE_HOME", work_dir().join("ansible-home"))
        .env(
            "ANSIBLE_CONNECTION_PLUGINS",
            repo().join("tests/support_systemd/ansible"),
        )
        .env("ANSIBLE_NOCOLOR", "1")
        // Modules go to the container's Python on standard input: fewer round trips.
        .env("ANSIBLE_PIPELINING", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let changed = text
        .lines()
        .find(|l| l.starts_with(&c.name) && l.contains("changed="))
        .and_then(|l| {
            l.split("changed=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
    (out.status.code().unwrap_or(-1), text, changed)
}

#[test]
#[ignore = "boots a Debian container with systemd-nspawn and needs the .deb; run by .ci/run"]
fn the_ansible_role_enables_the_watcher_in_the_container() {
    if !available("the_ansible_role_enables_the_watcher_in_the_container") {
        return;
    }
    let _t = Timed(
        "the_ansible_role_enables_the_watcher_in_the_container",
        Instant::now(),
    );
    let debs = debs();
    let c = Container::boot("cp-ansible");
    // What the role expects of a node: the product and its user, the server's unit running.
    c.ok("useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin wso2carbon");
    install_product(&c, HOME);
    install_server_unit(&c);
    c.ok(&format!("systemctl start {SERVER}"));
    let files = work_dir().join("ansible-files");
    std::fs::create_dir_all(&files).unwrap();
    let (zip, sum) = patch_archive("patch0003", BUNDLES[0]);
    let archive = files.join("WSO2-CARBON-PATCH-4.4.0-0003.zip");
    std::fs::write(&archive, zip).unwrap();
    std::fs::write(archive.with_extension("zip.sha256"), sum).unwrap();
    let inventory = work_dir().join("ansible-inventory.json");
    let host = serde_json::json!({
        "ansible_connection": "nsenter_container",
        "ansible_nsenter_pid": c.pid1,
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": false,
        "carbon_patcher_carbon_home": HOME,
        "carbon_patcher_deb": debs.current,
        "carbon_patcher_watcher": true,
        "carbon_patcher_settings": {"settle_seconds": 1},
        "carbon_patcher_archives": [{"archive": archive, "sha256": archive.with_extension("zip.sha256")}],
        "carbon_patcher_server_start_timeout": 30,
    });
    let inv = serde_json::json!({"carbon_servers": {"hosts": {c.name.clone(): host}}});
    std::fs::write(&inventory, serde_json::to_vec_pretty(&inv).unwrap()).unwrap();

    let t = Instant::now();
    let (code, out, _) = run_playbook(&c, &inventory);
    assert_eq!(code, 0, "the playbook failed:\n{out}");
    eprintln!(
        "systemd: the first run of site.yml took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(package_state(&c), format!("ii {}", debs.current_version));
    assert_eq!(
        c.ok(&format!("systemctl is-enabled {UNIT}")).trim(),
        "enabled"
    );
    assert_eq!(c.show(UNIT, "ActiveState"), "active");
    assert_eq!(c.show(SERVER, "ActiveState"), "active");
    assert!(plugin_from(&c, BUNDLES[0], "patch0003"));
    assert!(
        started_on(&c, BUNDLES[0], "patch0003"),
        "the server was not restarted on the patch"
    );
    assert_eq!(
        c.code(&format!("carbon-patcher status --carbon-home {HOME}")),
        Some(0)
    );
    let config = c.ok("stat -c '%U:%G %a' /etc/carbon-patcher/wso2am.toml");
    assert_eq!(config.trim(), "root:wso2carbon 640");

    // Again: nothing changes.
    let (code, out, changed) = run_playbook(&c, &inventory);
    assert_eq!(code, 0, "the second run failed:\n{out}");
    assert_eq!(changed, Some(0), "the second run changed something:\n{out}");
    assert_eq!(c.show(UNIT, "NRestarts"), "0");
}
