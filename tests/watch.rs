//! The watcher, run as the real binary on temp product trees: patches dropped in are applied
//! once they are complete, signals behave, one watcher per home, a running server defers the
//! apply, polling works without inotify, and bad input does not stop the daemon.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// A watcher process; killed when dropped if still running.
struct Watcher {
    child: Child,
    status: PathBuf,
}

impl Watcher {
    fn start(p: &Product, extra: &[&str]) -> Watcher {
        Watcher::start_with_env(p, extra, &[])
    }

    fn start_with_env(p: &Product, extra: &[&str], env: &[(&str, &str)]) -> Watcher {
        let status = p.home.join("repository/.carbon-patcher/watch-status.json");
        let _ = fs::remove_file(&status);
        let out = fs::File::create(p.home.with_extension("watch.out")).unwrap();
        let err = fs::File::create(p.home.with_extension("watch.err")).unwrap();
        let bin = env!("CARGO_BIN_EXE_carbon-patcher");
        let via_shell = env.iter().any(|(k, _)| *k == "CARBON_PATCHER_VIA_SHELL");
        let mut cmd = if via_shell {
            let mut c = Command::new("sh");
            c.args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", bin]);
            c
        } else {
            Command::new(bin)
        };
        let child = cmd
            .args(["watch", "--carbon-home", p.home.to_str().unwrap()])
            .args(extra)
            .env_remove("CARBON_HOME")
            .env_remove("NOTIFY_SOCKET")
            .env("CARBON_PATCHER_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        let w = Watcher { child, status };
        // Ready once the first cycle has written the status file.
        wait_for(Duration::from_secs(10), "the first cycle", || {
            w.status.exists()
        });
        w
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(&self.status).unwrap()).unwrap()
    }

    /// Waits for the process to exit and returns its code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < within {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            sleep(Duration::from_millis(20));
        }
        panic!("watcher still running after {within:?}");
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(within: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while t.elapsed() < within {
        if cond() {
            return t.elapsed();
        }
        sleep(Duration::from_millis(20));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

fn applied(p: &Product, patch: &str) -> bool {
    fs::read_to_string(p.metadata().join("prePatchedDir.txt"))
        .is_ok_and(|t| t.lines().any(|l| l == patch))
}

fn log_count(p: &Product, line: &str) -> usize {
    fs::read_to_string(p.patches_log())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(line))
        .count()
}

/// What the watcher logged (its standard error: the journal, under systemd).
fn journal(p: &Product) -> String {
    fs::read_to_string(p.home.with_extension("watch.err")).unwrap_or_default()
}

/// Writes a patch dir the way an operator's copy does: into place, one file after another.
fn drop_patch(p: &Product, patch: &str, bundle: &str) {
    p.add_patch_jar(patch, &format!("{bundle}_1.jar"), bundle, "1", patch);
}

fn product(root: &Path) -> Product {
    Product::new(root, &[("a", "1"), ("b", "1"), ("c", "1")])
}

#[test]
fn patch_dropped_in_is_applied_within_settle_time() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let logs = tmp.path().join("oplog");
    let w = Watcher::start(&p, &["--settle", "1", "--log-dir", logs.to_str().unwrap()]);
    // The first cycle ran the launcher's step: metadata now exists.
    assert!(p.metadata().join("prePatchedJARs.txt").exists());
    drop_patch(&p, "patch0001", "a");
    let took = wait_for(Duration::from_secs(3), "patch0001 applied", || {
        applied(&p, "patch0001")
    });
    assert!(
        took >= Duration::from_millis(900),
        "applied before the settle time: {took:?}"
    );
    assert_eq!(
        fs::read(p.plugins().join("a_1.jar")).unwrap(),
        bundle_jar("a", "1", "patch0001")
    );
    assert!(p.backup_dir().join("a_1.jar").exists());
    wait_for(Duration::from_secs(2), "status applied", || {
        matches!(
            w.status()["last_cycle_result"].as_str(),
            Some("applied" | "up_to_date")
        )
    });
    // The operational log also goes to a daily rolling file in --log-dir.
    wait_for(Duration::from_secs(2), "the rolling log", || {
        fs::read_dir(&logs).is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("carbon-patcher.log")
                    && fs::read_to_string(e.path()).unwrap_or_default().contains(
                        "applied: New patch available - patch0001; 1 plugin file(s) written",
                    )
            })
        })
    });
}

#[test]
fn slow_copy_is_applied_once_and_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let mut names = Vec::new();
    for i in 0..8 {
        let n = format!("bundle{i}");
        p.add_plugin(&n, "1", "original");
        names.push(n);
    }
    let w = Watcher::start(&p, &["--settle", "1"]);
    // One jar every 0.4 s: never quiet for the 1 s settle time until the last one lands.
    for n in &names {
        drop_patch(&p, "patch0001", n);
        sleep(Duration::from_millis(400));
    }
    wait_for(Duration::from_secs(4), "patch0001 applied", || {
        applied(&p, "patch0001")
    });
    sleep(Duration::from_millis(1500));
    assert_eq!(
        log_count(&p, "Applying - patch0001"),
        1,
        "applied exactly once"
    );
    for n in &names {
        assert_eq!(
            fs::read(p.plugins().join(format!("{n}_1.jar"))).unwrap(),
            bundle_jar(n, "1", "patch0001"),
            "{n}"
        );
    }
    drop(w);
}

#[test]
fn sigterm_when_idle_exits_0_at_once_and_sigint_too() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut w = Watcher::start(&p, &[]);
        let t = Instant::now();
        w.signal(sig);
        assert_eq!(w.wait_exit(Duration::from_secs(1)), Some(0));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}

#[test]
fn sighup_reloads_a_changed_settle_time() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let config = tmp.path().join("watch.toml");
    fs::write(&config, "settle_seconds = 60\n").unwrap();
    let w = Watcher::start(&p, &["--config", config.to_str().unwrap()]);
    fs::write(&config, "settle_seconds = 0.3\n").unwrap();
    w.signal(libc::SIGHUP);
    let err = p.home.with_extension("watch.err");
    wait_for(Duration::from_secs(3), "the reload", || {
        fs::read_to_string(&err)
            .unwrap()
            .contains("configuration reloaded")
    });
    drop_patch(&p, "patch0001", "a");
    // With the old 60 s this would not happen within the test.
    wait_for(Duration::from_secs(3), "patch0001 applied", || {
        applied(&p, "patch0001")
    });
    // A bad config on reload keeps the running settings and the daemon.
    fs::write(&config, "settle_secs = 1\n").unwrap();
    w.signal(libc::SIGHUP);
    wait_for(Duration::from_secs(3), "the failed reload", || {
        fs::read_to_string(&err).unwrap().contains("settle_secs")
    });
    drop_patch(&p, "patch0002", "b");
    wait_for(Duration::from_secs(3), "patch0002 applied", || {
        applied(&p, "patch0002")
    });
}

/// The value of the sample `name{home=...}` in the metrics text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[test]
fn an_idle_watcher_keeps_its_metrics_file_fresh_and_a_stopped_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let metrics = tmp.path().join("m.prom");
    let mut w = Watcher::start_with_env(
        &p,
        &["--metrics-file", metrics.to_str().unwrap()],
        &[("CARBON_PATCHER_METRICS_REFRESH_SECONDS", "0.3")],
    );
    let first = fs::read_to_string(&metrics).unwrap();
    let written = |text: &str| sample(text, "carbon_patcher_metrics_written_timestamp_seconds");
    let cycle = |text: &str| sample(text, "carbon_patcher_last_cycle_timestamp_seconds");
    wait_for(Duration::from_secs(3), "a rewrite while idle", || {
        written(&fs::read_to_string(&metrics).unwrap()) > written(&first)
    });
    // No cycle ran: only the written time moved.
    let later = fs::read_to_string(&metrics).unwrap();
    assert_eq!(cycle(&later), cycle(&first));
    assert_eq!(
        later.replace(&written(&later).to_string(), "T"),
        first.replace(&written(&first).to_string(), "T")
    );
    w.signal(libc::SIGTERM);
    assert_eq!(w.wait_exit(Duration::from_secs(2)), Some(0));
    let last = fs::read_to_string(&metrics).unwrap();
    sleep(Duration::from_millis(800));
    assert_eq!(
        fs::read_to_string(&metrics).unwrap(),
        last,
        "rewritten after the stop"
    );
}

#[test]
fn a_second_watcher_exits_4_and_apply_beside_an_idle_watcher_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let w = Watcher::start(&p, &[]);
    let out = run(&["watch", "--carbon-home", p.home.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", w.pid())), "{err}");
    // A one-shot apply (a pre-start hook) beside the idle watcher.
    drop_patch(&p, "patch0001", "a");
    let out = p.apply(&["--lock-timeout", "5"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(applied(&p, "patch0001"));
}

#[test]
fn a_running_server_defers_the_apply_until_it_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // A fake Carbon JVM: its command line carries this home's -Dcarbon.home.
    let mut server = Command::new("sh")
        .args([
            "-c",
            "sleep 60; :",
            "java",
            &format!("-Dcarbon.home={}", p.home.display()),
        ])
        .spawn()
        .unwrap();
    fs::write(p.home.join("wso2carbon.pid"), format!("{}\n", server.id())).unwrap();
    let metrics = tmp.path().join("m.prom");
    let w = Watcher::start(
        &p,
        &[
            "--settle",
            "0.3",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    // One-shot apply refuses while the server runs.
    drop_patch(&p, "patch0001", "a");
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--while-running"));
    wait_for(Duration::from_secs(3), "the deferral", || {
        w.status()["last_cycle_result"] == "deferred"
    });
    assert_eq!(w.status()["pending_changes"], 1);
    let m = fs::read_to_string(&metrics).unwrap();
    assert!(m.contains(&format!(
        "carbon_patcher_deferred_server_running{{home=\"{}\"}} 1",
        p.home.display()
    )));
    sleep(Duration::from_millis(700));
    assert!(
        !applied(&p, "patch0001"),
        "nothing applied while the server runs"
    );
    assert_eq!(
        fs::read(p.plugins().join("a_1.jar")).unwrap(),
        bundle_jar("a", "1", "original")
    );
    // The log names the patch and says why it waits.
    let deferred = format!(
        "deferred: New patch available - patch0001; 1 change(s) validated, not applied while the server runs (pid {})",
        server.id()
    );
    assert!(journal(&p).contains(&deferred), "{}", journal(&p));
    server.kill().unwrap();
    server.wait().unwrap();
    wait_for(
        Duration::from_secs(3),
        "the apply after the server stopped",
        || applied(&p, "patch0001"),
    );
    wait_for(Duration::from_secs(2), "the applied line", || {
        journal(&p).contains("applied: New patch available - patch0001; 1 plugin file(s) written")
    });
}

#[test]
fn poll_mode_applies_without_inotify() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let w = Watcher::start(&p, &["--settle", "0.3", "--poll", "0.3"]);
    let inotify_fds = fs::read_dir(format!("/proc/{}/fd", w.pid()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
        .filter(|l| l.to_string_lossy().contains("inotify"))
        .count();
    assert_eq!(inotify_fds, 0, "poll mode must not use inotify");
    drop_patch(&p, "patch0001", "a");
    wait_for(Duration::from_secs(4), "patch0001 applied", || {
        applied(&p, "patch0001")
    });
}

#[test]
fn a_bad_patch_is_reported_and_a_later_good_one_still_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let w = Watcher::start(&p, &["--settle", "0.3"]);
    write(&p.patches().join("patch0001/broken.jar"), b"not a zip");
    wait_for(Duration::from_secs(3), "the error", || {
        w.status()["last_cycle_result"] == "error"
    });
    let message = w.status()["message"].as_str().unwrap().to_string();
    assert!(message.contains("broken.jar"), "{message}");
    let refused = journal(&p)
        .lines()
        .find(|l| l.contains("refused: "))
        .map(str::to_string);
    assert!(
        refused
            .as_ref()
            .is_some_and(|l| l.contains("broken.jar") && l.contains("nothing was changed")),
        "{}",
        journal(&p)
    );
    assert!(!p.backup_dir().exists(), "nothing written for bad input");
    // The operator fixes it; the next change retries.
    fs::remove_file(p.patches().join("patch0001/broken.jar")).unwrap();
    drop_patch(&p, "patch0001", "a");
    wait_for(Duration::from_secs(3), "patch0001 applied", || {
        applied(&p, "patch0001")
    });
    // The status leaves the error behind (a late event may add a silent re-check).
    wait_for(Duration::from_secs(2), "status past the error", || {
        matches!(
            w.status()["last_cycle_result"].as_str(),
            Some("applied" | "up_to_date")
        )
    });
    assert_eq!(log_count(&p, "Applying - patch0001"), 1);
}

#[test]
fn dirs_that_appear_later_or_are_recreated_are_watched() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    assert!(!p.patches().exists() && !p.servicepacks().exists());
    let _w = Watcher::start(&p, &["--settle", "0.3"]);
    // The first cycle created patches/.metadata; service packs dir does not exist yet.
    p.add_servicepack("servicepack001", &[("b_1.jar", "b", "1", "sp")], &[]);
    wait_for(Duration::from_secs(3), "servicepack001 applied", || {
        applied(&p, "servicepack001")
    });
    // Deleted and created again.
    fs::remove_dir_all(p.servicepacks()).unwrap();
    wait_for(Duration::from_secs(3), "servicepack001 reverted", || {
        !applied(&p, "servicepack001")
    });
    p.add_servicepack("servicepack002", &[("c_1.jar", "c", "1", "sp2")], &[]);
    wait_for(Duration::from_secs(3), "servicepack002 applied", || {
        applied(&p, "servicepack002")
    });
    assert_eq!(
        fs::read(p.plugins().join("c_1.jar")).unwrap(),
        bundle_jar("c", "1", "sp2")
    );
}

/// Under systemd (`Type=notify`): READY after the first cycle, a STATUS line, watchdog pings
/// while idle, STOPPING on SIGTERM. A datagram socket stands in for systemd's.
#[test]
fn systemd_notifications() {
    use std::os::unix::net::UnixDatagram;
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    drop_patch(&p, "patch0001", "a");
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    // systemd names the watched pid in WATCHDOG_PID: a shell that execs the watcher knows it.
    let mut w = Watcher::start_with_env(
        &p,
        &["--settle", "0.3"],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            ("CARBON_PATCHER_VIA_SHELL", "1"),
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3)
        && !(seen.iter().any(|m: &String| m.contains("READY=1"))
            && seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        let n = sock.recv(&mut buf).expect("a notification");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let status = seen
        .iter()
        .find(|m| m.starts_with("STATUS="))
        .expect("a STATUS line");
    assert_eq!(status, "STATUS=1 patches applied\n", "{seen:?}");
    let ready = seen.iter().position(|m| m.contains("READY=1")).unwrap();
    assert!(seen.iter().position(|m| m.starts_with("STATUS=")).unwrap() < ready);
    assert!(
        seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2,
        "{seen:?}"
    );
    w.signal(libc::SIGTERM);
    assert_eq!(w.wait_exit(Duration::from_secs(2)), Some(0));
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping);
}

/// A watcher's own reads (its scans open every patch jar) are not changes: an idle watcher runs
/// no cycle after its first, even with a patch and a service pack to read.
#[test]
fn idle_watcher_does_not_trigger_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    drop_patch(&p, "patch0001", "a");
    p.add_servicepack("servicepack001", &[("b_1.jar", "b", "1", "sp")], &[]);
    let metrics = tmp.path().join("m.prom");
    let _w = Watcher::start(
        &p,
        &[
            "--settle",
            "0.2",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    sleep(Duration::from_millis(2000));
    let text = fs::read_to_string(&metrics).unwrap();
    let cycles: u64 = text
        .lines()
        .filter(|l| l.starts_with("carbon_patcher_cycles_total"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(cycles, 1, "{text}");
}
