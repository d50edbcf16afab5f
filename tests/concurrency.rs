//! Runs never interleave: two `apply` runs started at the same moment take turns on the
//! `plugins` lock (both exit 0, their `patches.log` blocks one after the other, one applying and
//! the other finding nothing to do, the result that of one run), and so do `apply` runs beside a
//! watcher whose cycles apply the patches dropped in meanwhile.

mod common;
mod support_kill;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use support_kill::*;

/// `apply --carbon-home <home> --quiet --lock-timeout 30`, started, not waited for.
fn spawn_apply(home: &Path) -> Child {
    Command::new(bin())
        .args(["apply", "--carbon-home", home.to_str().unwrap()])
        .args(["--quiet", "--lock-timeout", "30"])
        .env_remove("CARBON_HOME")
        .env_remove("CARBON_REPOSITORY")
        .env("CARBON_PATCHER_NO_SYNC", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `patches.log` cut into the blocks of the runs that wrote it (timestamps cut). Panics if a
/// block starts before the one before it has ended, or a line falls outside every block.
fn blocks(p: &Product) -> Vec<Vec<String>> {
    let text = fs::read_to_string(p.patches_log()).unwrap_or_default();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut open = false;
    for (n, line) in strip_times(&text).into_iter().enumerate() {
        let starts = line.ends_with(" -  Checking for patch changes ...");
        let ends = line.ends_with(" -  Patch verification successfully completed")
            || line.ends_with(" -  Patch verification completed with warnings.");
        assert!(
            starts != open,
            "patches.log line {}: {line:?} {}:\n{text}",
            n + 1,
            if open {
                "starts a block inside another"
            } else {
                "is outside every block"
            }
        );
        if starts {
            out.push(Vec::new());
            open = true;
        }
        out.last_mut().unwrap().push(line);
        if ends {
            open = false;
        }
    }
    assert!(!open, "patches.log ends inside a block:\n{text}");
    out
}

fn is_no_change(block: &[String]) -> bool {
    block == NO_CHANGE_LOG
}

fn product(root: &Path, bundles: usize) -> Product {
    let p = Product {
        home: root.join("product"),
    };
    for i in 0..bundles {
        p.add_plugin(
            &format!("org.example.c{i}"),
            "1.0.0",
            &format!("pristine {i}"),
        );
    }
    p
}

/// A patch dir `name` updating two bundles, built beside the product and renamed into the
/// patches dir whole (a run never sees it half-copied).
fn drop_patch(p: &Product, name: &str, bundles: [usize; 2], payload: &str) {
    let staging = p.home.parent().unwrap().join(format!("staging-{name}"));
    for i in bundles {
        write(
            &staging.join(format!("org.example.c{i}_1.0.0.jar")),
            &bundle_jar(&format!("org.example.c{i}"), "1.0.0", payload),
        );
    }
    fs::create_dir_all(p.patches()).unwrap();
    fs::rename(&staging, p.patches().join(name)).unwrap();
}

fn wait_ok(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {:?} {}",
        out.status,
        stderr(&out)
    );
    out
}

#[test]
fn two_runs_started_together_take_turns() {
    let tmp = scratch();
    for round in 0..20usize {
        let root = tmp.path().join(format!("round{round}"));
        let p = product(&root, 20);
        // Every other round the product has been applied before and gets one more patch, so
        // the run that wins the lock restores from patch0000 rather than backing up.
        if round % 2 == 1 {
            drop_patch(&p, "patch0001", [1, 2], "first");
            assert_ok(&apply(&p.home, None));
        }
        drop_patch(
            &p,
            "patch0002",
            [round % 20, (round + 7) % 20],
            &format!("round {round}"),
        );
        let reference = Product {
            home: root.join("reference/product"),
        };
        copy_tree(&p.home, &reference.home);
        assert_ok(&apply(&reference.home, None));
        let before = blocks(&p).len();

        let a = spawn_apply(&p.home);
        let b = spawn_apply(&p.home);
        wait_ok(a, &format!("round {round}, first run"));
        wait_ok(b, &format!("round {round}, second run"));

        let blocks = blocks(&p);
        let new = &blocks[before..];
        assert_eq!(new.len(), 2, "round {round}: {new:#?}");
        let applied: Vec<_> = new.iter().filter(|b| !is_no_change(b)).collect();
        assert_eq!(
            applied.len(),
            1,
            "round {round}: one run applies, the other finds nothing: {new:#?}"
        );
        assert!(applied[0]
            .iter()
            .any(|l| l.ends_with(" -  Patch changes detected ")));
        let diff = Outcome::of(&p).diff(&Outcome::of(&reference));
        assert!(diff.is_empty(), "round {round}: {diff:#?}");
        assert!(private_leftovers(&p.home).is_empty());
    }
}

/// A watcher process; SIGKILLed when dropped still running (a failed test).
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn apply_beside_a_watchers_cycles_takes_turns() {
    let tmp = scratch();
    let p = product(tmp.path(), 12);
    let pristine = tmp.path().join("pristine");
    copy_tree(&p.home, &pristine.join("product"));
    fs::create_dir_all(p.patches()).unwrap();
    let status = p.home.join("repository/.carbon-patcher/watch-status.json");
    let err = fs::File::create(tmp.path().join("watch.err")).unwrap();
    let mut watcher = Watcher(
        Command::new(bin())
            .args(["watch", "--carbon-home", p.home.to_str().unwrap()])
            .args(["--settle", "0.2", "--lock-timeout", "30"])
            .env_remove("CARBON_HOME")
            .env_remove("CARBON_REPOSITORY")
            .env_remove("NOTIFY_SOCKET")
            .env("CARBON_PATCHER_NO_SYNC", "1")
            .env("CARBON_PATCHER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !status.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the watcher's first cycle"
        );
        sleep(Duration::from_millis(20));
    }

    // Patches dropped in; `apply` runs at once (and applies) or around the end of the watcher's
    // settle time (and meets its cycle on the lock), then again.
    let mut applies = 0;
    for n in 1..=8usize {
        drop_patch(
            &p,
            &format!("patch{n:04}"),
            [n % 12, (n * 5 + 1) % 12],
            &format!("patch {n}"),
        );
        let delays = if n % 2 == 0 {
            [0, 150, 50, 50]
        } else {
            [190, 10, 10, 10]
        };
        for delay in delays {
            sleep(Duration::from_millis(delay));
            wait_ok(
                spawn_apply(&p.home),
                &format!("patch{n:04}, apply after {delay} ms"),
            );
            applies += 1;
        }
    }
    // Let the watcher's last cycles end, then a last run finds nothing to do.
    sleep(Duration::from_millis(600));
    let len = log_len(&p);
    wait_ok(spawn_apply(&p.home), "the last run");
    assert_eq!(new_log_lines(&p, len), NO_CHANGE_LOG);

    // SIGTERM: the watcher ends its cycle, if any, and exits 0.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(watcher.0.id() as i32, libc::SIGTERM) },
        0
    );
    let t = Instant::now();
    let code = loop {
        if let Some(s) = watcher.0.try_wait().unwrap() {
            break s.code();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the watcher exits");
        sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));

    // No two blocks interleaved (`blocks` checks), and the result is one run's.
    let blocks = blocks(&p);
    assert!(blocks.len() > applies, "{} blocks", blocks.len());
    eprintln!(
        "{} blocks in patches.log: {} of apply runs, {} of the watcher's cycles",
        blocks.len(),
        applies + 1,
        blocks.len() - applies - 1
    );
    let one = Product {
        home: pristine.join("product"),
    };
    for n in 1..=8 {
        let name = format!("patch{n:04}");
        copy_tree(&p.patches().join(&name), &one.patches().join(&name));
    }
    assert_ok(&apply(&one.home, None));
    let diff = Outcome::of(&p).diff(&Outcome::of(&one));
    assert!(diff.is_empty(), "{diff:#?}");
    assert!(private_leftovers(&p.home).is_empty());
}
