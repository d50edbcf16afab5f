//! Nothing is ever lost: a run killed (SIGKILL, through the binary's fault injection) before any
//! one of its file-system changes leaves a product on which the next run converges to exactly
//! what an uninterrupted run gives: the same `plugins`, `patch0000` and metadata files byte for
//! byte, every jar whole, no private leftover. And while it lies killed, no file is
//! half-written: each file of `plugins` and `patch0000` holds its old or its new bytes,
//! `patch0000` is there whole or not at all, and the metadata files hold whole lines.
//!
//! On a generated product (320 plugins, a service pack, 30 patch dirs), three scenarios: the
//! first apply (backup, service pack, patches, metadata), a revert (a patch dir removed: restore
//! from `patch0000`), an update (a jar of an applied patch replaced); runs killed again while
//! they recover; and a patch withdrawn after a killed run, before the next (also after a killed
//! watcher that keeps its state apart from the product). `long_kill_run` (ignored;
//! `cargo test --test kill -- --ignored --nocapture`) kills at every fault point of nine
//! scenarios.

mod common;
mod support_kill;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;
use support_kill::*;

const PLUGINS: usize = 320;

fn bundle(i: usize) -> String {
    format!("org.example.bundle{i:03}")
}

fn version(i: usize) -> String {
    format!("4.4.{}", i % 5)
}

/// The file name a bundle has in `plugins`.
fn plugin_file(i: usize) -> String {
    format!("{}_{}.jar", bundle(i), version(i))
}

/// Writes a jar of bundle `i` to `path`, with a payload made from `seed`.
fn put_bundle(path: &Path, symbolic: &str, i: usize, seed: u64) {
    let payload = Rng::new(seed).text(1200);
    write(path, &bundle_jar(symbolic, &version(i), &payload));
}

/// The pristine product under `root`: 320 plugins of about 1 KB; `servicepack001` with five
/// jars in `lib/`, listing `patch0001`..`patch0003`; `patch0001`..`patch0030` with one to three
/// jars each. Several patches update the same bundle (bundle 7 by every fifth patch but
/// `patch0015`; the service pack's bundles by the patches it lists and by `patch0004`);
/// `patch0015` holds a jar under a file name that is not its bundle name, `patch0018` a bundle
/// whose symbolic name carries `;singleton:=true`, `patch0022` a bundle new to `plugins`.
fn build_product(root: &Path) -> Product {
    let p = Product {
        home: root.join("product"),
    };
    fs::create_dir_all(p.plugins()).unwrap();
    fs::create_dir_all(p.home.join("repository/logs")).unwrap();
    for i in 0..PLUGINS {
        put_bundle(&p.plugins().join(plugin_file(i)), &bundle(i), i, i as u64);
    }
    let sp = p.servicepacks().join("servicepack001");
    for i in 0..5 {
        put_bundle(
            &sp.join("lib").join(plugin_file(i)),
            &bundle(i),
            i,
            1000 + i as u64,
        );
    }
    write(
        &sp.join("servicepack_patches.txt"),
        b"patch0001\npatch0002\npatch0003\n",
    );
    for n in 1..=30usize {
        let dir = p.patches().join(format!("patch{n:04}"));
        let seed = 10_000 * n as u64;
        let mut bundles: Vec<usize> = (0..1 + n % 3)
            .map(|j| (n * 37 + j * 101) % PLUGINS)
            .collect();
        if n <= 4 {
            bundles[0] = n % 5; // the service pack's bundles
        }
        if n % 5 == 0 && n != 15 && !bundles.contains(&7) {
            bundles[0] = 7;
        }
        for (j, &i) in bundles.iter().enumerate() {
            let seed = seed + j as u64;
            match (n, j) {
                (15, 0) => put_bundle(&dir.join("patched-component.jar"), &bundle(i), i, seed),
                (18, 0) => put_bundle(
                    &dir.join(plugin_file(i)),
                    &format!("{};singleton:=true", bundle(i)),
                    i,
                    seed,
                ),
                _ => put_bundle(&dir.join(plugin_file(i)), &bundle(i), i, seed),
            }
        }
        if n == 22 {
            write(
                &dir.join("org.example.extra_1.0.0.jar"),
                &bundle_jar("org.example.extra", "1.0.0", "a bundle new to plugins"),
            );
        }
    }
    p
}

/// Whether `bytes` are whole lines of the metadata file `name`: every line ends with `\n`, and
/// in `prePatchedJARs.txt` is `<bundle file name>:<md5 hex>`.
fn whole_lines(name: &str, bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    if !(text.is_empty() || text.ends_with('\n')) {
        return false;
    }
    name != "prePatchedJARs.txt"
        || text.lines().all(|l| {
            l.split_once(':').is_some_and(|(n, md5)| {
                n.ends_with(".jar") && md5.len() == 32 && md5.bytes().all(|c| c.is_ascii_hexdigit())
            })
        })
}

/// One scenario: the tree before the run, the reference result of an uninterrupted run, and
/// the number of fault points of that run.
struct Scenario {
    name: String,
    root: PathBuf,
    before: Product,
    before_outcome: Outcome,
    reference: Outcome,
    points: u64,
    jars: JarCheck,
}

impl Scenario {
    /// Prepares `before` under `root/<name>/before`: the reference run and the count run on
    /// copies of it.
    fn new(name: &str, root: &Path, before_home: &Path) -> Scenario {
        let dir = root.join(name);
        let before = Product {
            home: dir.join("before/product"),
        };
        copy_tree(before_home, &before.home);
        let reference = Product {
            home: dir.join("reference/product"),
        };
        copy_tree(&before.home, &reference.home);
        let out = apply(&reference.home, None);
        assert_ok(&out);
        let reference = Outcome::of(&reference);
        let mut bad = bad_jars(&dir.join("reference/product/repository/components/plugins"));
        bad.extend(bad_jars(
            &dir.join("reference/product/repository/components/patches/patch0000"),
        ));
        assert!(bad.is_empty(), "{name}: reference: {bad:?}");
        let counted = Product {
            home: dir.join("count/product"),
        };
        copy_tree(&before.home, &counted.home);
        let points = count_points(&counted.home);
        assert_eq!(
            Outcome::of(&counted).diff(&reference),
            Vec::<String>::new(),
            "{name}: the counting run gives the reference result"
        );
        fs::remove_dir_all(dir.join("count")).unwrap();
        let before_outcome = Outcome::of(&before);
        assert_ne!(
            before_outcome, reference,
            "{name}: the run changes something"
        );
        Scenario {
            name: name.to_string(),
            root: dir,
            before,
            before_outcome,
            reference,
            points,
            jars: JarCheck::default(),
        }
    }

    /// A fresh copy of the tree before the run, at `root/<name>/run`.
    fn fresh(&self) -> Product {
        let p = Product {
            home: self.root.join("run/product"),
        };
        fresh_copy(&self.before.home, &p.home);
        p
    }

    /// Asserts that a tree left by a killed run holds no half-written file: each file of
    /// `plugins` and `patch0000` (our temporary names aside) holds its bytes from before or
    /// after the run, `patch0000` is there whole or not at all, and each metadata file holds
    /// its old or new bytes or at least whole lines of its format (a run may mark the metadata
    /// as it goes, so that the next one knows it was interrupted).
    fn assert_no_torn_file(&self, what: &str, p: &Product) {
        let now = Outcome::of(p);
        let mut torn = Vec::new();
        let is_temp = |k: &Path| {
            k.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".carbon-patcher-tmp-"))
        };
        for (k, v) in now.plugins.iter().filter(|(k, _)| !is_temp(k)) {
            let old = self.before_outcome.plugins.get(k);
            let new = self.reference.plugins.get(k);
            if old != Some(v) && new != Some(v) {
                torn.push(format!(
                    "plugins/{}: neither old nor new bytes",
                    k.display()
                ));
            }
        }
        if now.backup != self.before_outcome.backup && now.backup != self.reference.backup {
            torn.push(format!(
                "patch0000: neither as before nor complete:\n    {}",
                now.diff(&self.reference)
                    .into_iter()
                    .filter(|l| l.starts_with("patch0000"))
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
        for (name, have, old, new) in [
            (
                "prePatchedDir.txt",
                &now.dir_txt,
                &self.before_outcome.dir_txt,
                &self.reference.dir_txt,
            ),
            (
                "prePatchedJARs.txt",
                &now.jars_txt,
                &self.before_outcome.jars_txt,
                &self.reference.jars_txt,
            ),
        ] {
            if have != old && have != new && !have.as_deref().is_some_and(|b| whole_lines(name, b))
            {
                torn.push(format!(
                    "{name}: neither old nor new bytes, nor whole lines: {:?}",
                    have.as_deref().map(String::from_utf8_lossy)
                ));
            }
        }
        torn.extend(
            self.jars
                .bad_jars(&p.plugins())
                .into_iter()
                .filter(|l| !l.contains(".carbon-patcher-tmp-")),
        );
        assert!(torn.is_empty(), "{what}: {}", torn.join("\n  "));
    }

    /// Kills a run on a fresh copy at `k`, checks what it left, runs again cleanly and checks
    /// the result is the reference.
    fn kill_at(&self, k: u64) {
        let what = format!("{} scenario, kill@{k} of {}", self.name, self.points);
        let p = self.fresh();
        let out = apply(&p.home, Some(&format!("kill@{k}")));
        if k <= self.points {
            assert!(
                was_killed(&out),
                "{what}: not killed: {:?} {}",
                out.status,
                stderr(&out)
            );
            self.assert_no_torn_file(&what, &p);
        } else {
            assert_ok(&out);
        }
        let out = apply(&p.home, None);
        assert_converged(&what, &p, &out, &self.reference, &self.jars);
    }

    /// Kills a run at `k1`, the next at `k2` (of that run's own fault points), then converges.
    fn kill_twice(&self, k1: u64, k2_of: impl Fn(u64) -> u64) {
        let p = self.fresh();
        let out = apply(&p.home, Some(&format!("kill@{k1}")));
        assert!(was_killed(&out), "{}: kill@{k1}: not killed", self.name);
        // How many points the second run passes, counted on a copy of the killed tree.
        let counted = Product {
            home: self.root.join("count2/product"),
        };
        fresh_copy(&p.home, &counted.home);
        let n2 = count_points(&counted.home);
        let k2 = k2_of(n2).clamp(1, n2);
        let what = format!(
            "{} scenario, kill@{k1} of {}, then kill@{k2} of {n2}",
            self.name, self.points
        );
        let out = apply(&p.home, Some(&format!("kill@{k2}")));
        assert!(was_killed(&out), "{what}: second run not killed");
        self.assert_no_torn_file(&what, &p);
        let out = apply(&p.home, None);
        assert_converged(&what, &p, &out, &self.reference, &self.jars);
    }

    /// Kills at `want` points spread over the run (every point when it has fewer), and once
    /// past its last point (the run completes). Returns how many runs were killed.
    fn kill_spread(&self, want: u64) -> u64 {
        let ks = spread(self.points, want, 12);
        for &k in &ks {
            self.kill_at(k);
        }
        self.kill_at(self.points + 1);
        ks.len() as u64
    }
}

/// The first apply's scenario: the pristine product.
fn first_apply(root: &Path) -> Scenario {
    let pristine = build_product(&root.join("pristine"));
    Scenario::new("first apply", root, &pristine.home)
}

/// A product after a clean first apply, then changed by `change`; with `times_reset`, as if
/// copied without its modification times (`cp -r`): the restore then also gives every plugin
/// whose bytes are right its backup's time again.
fn after_first_apply(
    root: &Path,
    name: &str,
    times_reset: bool,
    change: impl FnOnce(&Product),
) -> Scenario {
    let p = build_product(&root.join("pristine"));
    assert_ok(&apply(&p.home, None));
    change(&p);
    let mut name = name.to_string();
    if times_reset {
        let now = filetime::FileTime::now();
        for f in fs::read_dir(p.plugins()).unwrap() {
            filetime::set_file_mtime(f.unwrap().path(), now).unwrap();
        }
        name.push_str(", times reset");
    }
    Scenario::new(&name, root, &p.home)
}

/// A revert: `patch0012` (bundle 124, which no other patch touches) removed, so its bundle is
/// restored from `patch0000`.
fn revert(root: &Path, times_reset: bool) -> Scenario {
    after_first_apply(root, "revert", times_reset, |p| {
        fs::remove_dir_all(p.patches().join("patch0012")).unwrap();
    })
}

/// An update: the jar of bundle 7 in `patch0030` (the last writer of bundle 7) replaced with
/// new bytes.
fn update(root: &Path, times_reset: bool) -> Scenario {
    after_first_apply(root, "update", times_reset, |p| {
        let i = 7;
        put_bundle(
            &p.patches().join("patch0030").join(plugin_file(i)),
            &bundle(i),
            i,
            424_242,
        );
    })
}

#[test]
fn the_product_is_what_the_scenarios_need() {
    let tmp = scratch();
    let s = first_apply(tmp.path());
    let r = &s.reference;
    assert!(s.before_outcome.plugins.len() >= 300);
    assert_eq!(
        r.backup, s.before_outcome.plugins,
        "patch0000 is the backup"
    );
    let dir_txt = String::from_utf8(r.dir_txt.clone().unwrap()).unwrap();
    let mut want = "servicepack001\npatch0000\n".to_string();
    for n in 4..=30 {
        want.push_str(&format!("patch{n:04}\n"));
    }
    assert_eq!(dir_txt, want);
    // The jar stored under another name lands under its bundle's name; the singleton one under
    // its name without the directive; the new bundle is added.
    let patches = s.before.patches();
    let plugin = |i: usize| r.plugins[Path::new(&plugin_file(i))].clone();
    let i15 = (15 * 37) % PLUGINS;
    assert_eq!(
        plugin(i15),
        fs::read(patches.join("patch0015/patched-component.jar")).unwrap()
    );
    let i18 = (18 * 37) % PLUGINS;
    assert_eq!(
        plugin(i18),
        fs::read(patches.join("patch0018").join(plugin_file(i18))).unwrap()
    );
    assert!(r
        .plugins
        .contains_key(Path::new("org.example.extra_1.0.0.jar")));
    // Bundle 7: the last of the patches that update it wins.
    assert_eq!(
        plugin(7),
        fs::read(patches.join("patch0030").join(plugin_file(7))).unwrap()
    );
    // The service pack's bundle 4 is updated again by patch0004, which it does not list; the
    // patches it lists are not applied.
    assert_eq!(
        plugin(4),
        fs::read(patches.join("patch0004").join(plugin_file(4))).unwrap()
    );
    assert_eq!(
        plugin(1),
        fs::read(
            s.before
                .servicepacks()
                .join("servicepack001/lib")
                .join(plugin_file(1))
        )
        .unwrap()
    );
    assert!(
        s.points > 300,
        "the backup alone copies 320 files: {}",
        s.points
    );
}

#[test]
fn a_first_apply_killed_anywhere_converges() {
    let tmp = scratch();
    let t = Instant::now();
    let s = first_apply(tmp.path());
    let killed = s.kill_spread(200);
    assert!(killed >= 200.min(s.points));
    eprintln!(
        "first apply: {killed} kill points of {} converged in {:.1} s",
        s.points,
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn a_revert_killed_anywhere_converges() {
    let tmp = scratch();
    let t = Instant::now();
    let s = revert(tmp.path(), false);
    let f = PathBuf::from(plugin_file(124));
    assert_eq!(s.reference.plugins[&f], s.reference.backup[&f], "restored");
    assert_ne!(s.before_outcome.plugins[&f], s.reference.plugins[&f]);
    let killed = s.kill_spread(50);
    eprintln!(
        "revert: {killed} kill points of {} converged in {:.1} s",
        s.points,
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn an_update_killed_anywhere_converges() {
    let tmp = scratch();
    let t = Instant::now();
    let s = update(tmp.path(), true);
    let f = PathBuf::from(plugin_file(7));
    let new = fs::read(s.before.patches().join("patch0030").join(&f)).unwrap();
    assert_eq!(s.reference.plugins[&f], new, "updated");
    assert_ne!(s.before_outcome.plugins[&f], new);
    let killed = s.kill_spread(100);
    eprintln!(
        "update: {killed} kill points of {} converged in {:.1} s",
        s.points,
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn a_run_killed_again_while_it_recovers_converges() {
    let tmp = scratch();
    let s = first_apply(tmp.path());
    let n = s.points;
    // Killed during the backup, then again at a point of the second run; during the commit,
    // then early in the second run; ...
    for (k1, f) in [
        (n / 4, 0.5),
        (n / 2, 0.1),
        (n - 3, 0.9),
        (n - 1, 0.5),
        (n, 1.0),
        (1, 0.6),
    ] {
        s.kill_twice(k1.max(1), |n2| ((n2 as f64) * f).ceil() as u64);
    }
    let r = revert(&tmp.path().join("r"), true);
    for (k1, f) in [(1, 0.5), (r.points / 2, 0.5), (r.points, 0.3)] {
        r.kill_twice(k1.max(1), |n2| ((n2 as f64) * f).ceil() as u64);
    }
}

/// A run killed after it has renamed some plugins into place but before it has recorded the
/// change in `prePatchedDir.txt`, and then the input changes back (the operator withdraws the
/// patch he just dropped in): the next run must still bring `plugins` back to what the
/// remaining patches give. It cannot tell from the metadata, which still describes the state
/// before the killed run, so the killed run must have left a trace that makes it apply.
#[test]
fn a_patch_withdrawn_after_a_killed_apply_leaves_nothing_behind() {
    let tmp = scratch();
    let p = Product::new(
        &tmp.path().join("before"),
        &[("a", "1"), ("b", "1"), ("c", "1")],
    );
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched a");
    assert_ok(&apply(&p.home, None));
    let reference = Outcome::of(&p);
    p.add_patch_jar("patch0002", "b_1.jar", "b", "1", "patched b");
    let counted = Product {
        home: tmp.path().join("count/product"),
    };
    copy_tree(&p.home, &counted.home);
    let n = count_points(&counted.home);
    let jars = JarCheck::default();
    let mut failed = Vec::new();
    for k in 1..=n {
        let q = Product {
            home: tmp.path().join("run/product"),
        };
        fresh_copy(&p.home, &q.home);
        let out = apply(&q.home, Some(&format!("kill@{k}")));
        assert!(was_killed(&out), "kill@{k} of {n}: not killed");
        fs::remove_dir_all(q.patches().join("patch0002")).unwrap();
        let out = apply(&q.home, None);
        let what = format!("kill@{k} of {n}, then patch0002 removed");
        let problems = convergence_problems(&q, &out, &reference, &jars);
        if !problems.is_empty() {
            failed.push(format!("{what}:\n    {}", problems.join("\n    ")));
        }
    }
    assert!(
        failed.is_empty(),
        "did not converge:\n  {}",
        failed.join("\n  ")
    );
}

/// The same through the watcher, whose state dir can be set apart from the product
/// (`--state-dir`, `state_dir` in its config): a watcher killed at any point of the cycle that
/// applies a patch, the patch withdrawn, and the next `apply` (the pre-start hook's, which has
/// no state dir option) must still bring `plugins` back. Each watcher is killed by its own
/// fault injection, at each of its points in turn until one survives the cycle.
#[test]
fn a_watcher_killed_while_it_applies_then_the_patch_withdrawn_converges() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let tmp = scratch();
    let p = Product::new(
        &tmp.path().join("before"),
        &[("a", "1"), ("b", "1"), ("c", "1")],
    );
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched a");
    assert_ok(&apply(&p.home, None));
    let reference = Outcome::of(&p);
    let jars = JarCheck::default();
    let mut failed = Vec::new();
    let mut in_cycle = 0;
    for k in 1.. {
        assert!(k < 200, "the watcher never survives its cycle");
        let q = Product {
            home: tmp.path().join("run/product"),
        };
        fresh_copy(&p.home, &q.home);
        let state = tmp.path().join("run/state");
        let mut w = Command::new(bin())
            .args(["watch", "--carbon-home", q.home.to_str().unwrap()])
            .args(["--settle", "0.1", "--state-dir", state.to_str().unwrap()])
            .env_remove("CARBON_HOME")
            .env_remove("CARBON_REPOSITORY")
            .env_remove("NOTIFY_SOCKET")
            .env("CARBON_PATCHER_NO_SYNC", "1")
            .env("CARBON_PATCHER_FAULT", format!("kill@{k}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Its first cycle (nothing to apply) ends with the status file.
        let t = Instant::now();
        let status = state.join("watch-status.json");
        while !status.exists() && w.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(20), "the first cycle");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(20));
        if w.try_wait().unwrap().is_some() {
            continue; // killed in its first cycle
        }
        q.add_patch_jar("patch0002", "b_1.jar", "b", "1", "patched b");
        let t = Instant::now();
        let died = loop {
            if let Some(s) = w.try_wait().unwrap() {
                break Some(s);
            }
            if t.elapsed() > Duration::from_secs(4) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let Some(died) = died else {
            let _ = w.kill();
            let _ = w.wait();
            break; // past its last point: the cycle completed
        };
        assert!(
            died.code().is_none(),
            "watch, kill@{k}: exited {died:?} instead"
        );
        in_cycle += 1;
        fs::remove_dir_all(q.patches().join("patch0002")).unwrap();
        let out = apply(&q.home, None);
        let problems = convergence_problems(&q, &out, &reference, &jars);
        if !problems.is_empty() {
            failed.push(format!(
                "watch killed at its point {k}, patch0002 removed, then apply:\n    {}",
                problems.join("\n    ")
            ));
        }
    }
    assert!(in_cycle > 3, "only {in_cycle} kills in the cycle");
    assert!(
        failed.is_empty(),
        "did not converge:\n  {}",
        failed.join("\n  ")
    );
}

/// The service pack replaced: `servicepack002` updates five other bundles and lists
/// `patch0001`..`patch0006`, so `patch0004`..`patch0006` are no longer applied.
fn servicepack_replaced(root: &Path, times_reset: bool) -> Scenario {
    after_first_apply(root, "service pack replaced", times_reset, |p| {
        let sp = p.servicepacks().join("servicepack002");
        for i in 10..15 {
            put_bundle(
                &sp.join("lib").join(plugin_file(i)),
                &bundle(i),
                i,
                2000 + i as u64,
            );
        }
        let listed: String = (1..=6).map(|n| format!("patch{n:04}\n")).collect();
        write(&sp.join("servicepack_patches.txt"), listed.as_bytes());
    })
}

/// Five patch dirs added to an applied product, one with a bundle new to `plugins`.
fn patches_added(root: &Path, times_reset: bool) -> Scenario {
    after_first_apply(root, "patches added", times_reset, |p| {
        for n in 31..=35usize {
            let dir = p.patches().join(format!("patch{n:04}"));
            for j in 0..2 {
                let i = (n * 53 + j * 7) % PLUGINS;
                put_bundle(&dir.join(plugin_file(i)), &bundle(i), i, 30_000 + n as u64);
            }
        }
        write(
            &p.patches().join("patch0033/org.example.later_2.0.0.jar"),
            &bundle_jar("org.example.later", "2.0.0", "a later new bundle"),
        );
    })
}

/// Every fault point of nine scenarios, and runs killed twice: over 2,000 kill points. Run it
/// with `cargo test --test kill -- --ignored --nocapture` to see its summary line.
#[test]
#[ignore = "long: cargo test --test kill -- --ignored --nocapture"]
fn long_kill_run() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    type Build = fn(&Path, bool) -> Scenario;
    let after: [Build; 4] = [revert, update, servicepack_replaced, patches_added];
    let mut builds: Vec<(Option<Build>, bool)> = vec![(None, false)];
    for b in after {
        builds.push((Some(b), false));
        builds.push((Some(b), true));
    }
    let tmp = scratch();
    let t = Instant::now();
    let next = AtomicUsize::new(0);
    let kills = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(build, times_reset)) = builds.get(i) else {
                    break;
                };
                let root = tmp.path().join(format!("s{i}"));
                let s = match build {
                    None => first_apply(&root),
                    Some(b) => b(&root, times_reset),
                };
                let every = s.kill_spread(u64::MAX);
                let n = s.points;
                for j in 1..=10u64 {
                    let k1 = (n * j / 11).max(1);
                    s.kill_twice(k1, |n2| (n2 * ((j * 7) % 11 + 1) / 12).max(1));
                }
                eprintln!(
                    "{}: all {every} kill points and 10 double kills converged",
                    s.name
                );
                kills.fetch_add(every + 20, Ordering::SeqCst);
            });
        }
    });
    let k = kills.load(Ordering::SeqCst);
    println!(
        "long kill run: {k} kill points, {} scenarios, all converged in {:.0} s",
        builds.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(k >= 2000, "only {k} kill points");
}

/// A command that moves a patch into or out of the product, then applies: the tree before it,
/// its arguments (`{home}` stands for the product home it runs on), the patch dir that
/// appears or vanishes, and where the moved patch dir lives outside the patches dir.
struct Move {
    name: &'static str,
    before: Product,
    args: Vec<String>,
    patch: &'static str,
    kept: Option<&'static str>,
}

/// `<home>` replaced in `args`.
fn args_for(args: &[String], home: &Path) -> Vec<String> {
    args.iter()
        .map(|a| a.replace("{home}", home.to_str().unwrap()))
        .collect()
}

fn run_move(args: &[String], home: &Path, fault: Option<&str>) -> std::process::Output {
    let args = args_for(args, home);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_with(&refs, fault)
}

/// Kills the command at about `want` points spread over it (and past its last), then checks
/// that an `apply` gives exactly the product before it or after it (as the patch dir is there
/// or not), that the moved patch dir is in exactly one place and whole, and that running the
/// command again where it had not landed gives the result of an uninterrupted run.
fn kill_move(m: &Move, root: &Path, want: u64) {
    let t = Instant::now();
    let copy = |to: &str| {
        let p = Product {
            home: root.join(to).join("product"),
        };
        fresh_copy(&m.before.home, &p.home);
        p
    };
    let reference = copy("reference");
    assert_ok(&run_move(&m.args, &reference.home, None));
    let after = Outcome::of(&reference);
    let before = Outcome::of(&m.before);
    assert_ne!(after, before, "{}: the command changes something", m.name);
    let at = |p: &Product| p.patches().join(m.patch).is_dir();
    let landed_has_patch = at(&reference);
    let moved_files = |p: &Product| {
        let inside = p.patches().join(m.patch);
        let outside = m.kept.map(|k| p.home.join(k));
        let there: Vec<PathBuf> = std::iter::once(inside)
            .chain(outside)
            .filter(|d| d.is_dir())
            .collect();
        there
    };
    let whole = moved_files(&m.before)
        .into_iter()
        .chain(moved_files(&reference))
        .next()
        .unwrap();
    let patch_files = files(&whole);
    let counted = copy("count");
    let out = run_move(&m.args, &counted.home, Some("count"));
    assert_ok(&out);
    let n: u64 = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("carbon-patcher: fault points: "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{}: no fault point count", m.name));
    let jars = JarCheck::default();
    let ks = spread(n, want, 8);
    for &k in ks.iter().chain([n + 1].iter()) {
        let what = format!("{}, kill@{k} of {n}", m.name);
        let p = copy("run");
        let out = run_move(&m.args, &p.home, Some(&format!("kill@{k}")));
        assert!(
            k > n || was_killed(&out),
            "{what}: not killed: {}",
            stderr(&out)
        );
        // The patch dir whole wherever it is; a moved one in exactly one place (an installed
        // one there or not yet).
        let places = moved_files(&p);
        let one = usize::from(m.kept.is_some());
        assert!(
            (one..=1).contains(&places.len()),
            "{what}: the patch dir is in {places:?}"
        );
        for d in &places {
            assert_eq!(
                files(d),
                patch_files,
                "{what}: {} is not whole",
                d.display()
            );
        }
        let landed = at(&p) == landed_has_patch;
        let out = apply(&p.home, None);
        let want = if landed { &after } else { &before };
        assert_converged(&format!("{what}, then apply"), &p, &out, want, &jars);
        if !landed {
            let out = run_move(&m.args, &p.home, None);
            assert_converged(&format!("{what}, then again"), &p, &out, &after, &jars);
        }
    }
    eprintln!(
        "{}: {} kill points of {n} converged in {:.1} s",
        m.name,
        ks.len(),
        t.elapsed().as_secs_f64()
    );
}

/// The product after a clean first apply, under `root`.
fn applied_product(root: &Path) -> Product {
    let p = build_product(&root.join("base"));
    assert_ok(&apply(&p.home, None));
    p
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_install_killed_anywhere_converges() {
    let tmp = scratch();
    let p = applied_product(tmp.path());
    let jar = |i: usize| {
        let payload = Rng::new(31_000 + i as u64).text(1200);
        bundle_jar(&bundle(i), &version(i), &payload)
    };
    let (a, b) = (jar(33), jar(250));
    let entry = |i: usize| format!("WSO2-CARBON-PATCH-4.4.0-0031/patch0031/{}", plugin_file(i));
    let zip = zip_bytes(&[
        ("WSO2-CARBON-PATCH-4.4.0-0031/LICENSE.txt", b"license"),
        (&entry(33), &a),
        (&entry(250), &b),
    ]);
    // Inside the home, so that each copy of it carries its own zip.
    write(&p.home.join("patch0031.zip"), &zip);
    let m = Move {
        name: "install",
        before: p,
        args: strings(&[
            "install",
            "{home}/patch0031.zip",
            "--apply",
            "--carbon-home",
            "{home}",
            "--quiet",
        ]),
        patch: "patch0031",
        kept: None,
    };
    kill_move(&m, tmp.path(), 40);
}

#[test]
fn a_revert_command_killed_anywhere_converges() {
    let tmp = scratch();
    let m = Move {
        name: "revert",
        before: applied_product(tmp.path()),
        args: strings(&["revert", "patch0012", "--carbon-home", "{home}", "--quiet"]),
        patch: "patch0012",
        kept: Some("repository/.carbon-patcher/reverted/patch0012"),
    };
    kill_move(&m, tmp.path(), 40);
}

#[test]
fn a_restore_killed_anywhere_converges() {
    let tmp = scratch();
    let p = applied_product(tmp.path());
    assert_ok(&run_with(
        &[
            "revert",
            "patch0012",
            "--carbon-home",
            p.home.to_str().unwrap(),
            "--quiet",
        ],
        None,
    ));
    let m = Move {
        name: "restore",
        before: p,
        // Named: the revert's record holds the absolute path of the home it ran on.
        args: strings(&[
            "restore",
            "patch0012",
            "--backup",
            "{home}/repository/.carbon-patcher/reverted",
            "--carbon-home",
            "{home}",
            "--quiet",
        ]),
        patch: "patch0012",
        kept: Some("repository/.carbon-patcher/reverted/patch0012"),
    };
    kill_move(&m, tmp.path(), 40);
}

/// What an older version left when killed while committing: a plugin of the interrupted apply,
/// the old metadata, and its marker file in the metadata dir. The next run applies again,
/// converges and removes the marker.
#[test]
fn an_older_versions_commit_marker_is_honoured_and_removed() {
    let tmp = scratch();
    let p = Product::new(&tmp.path().join("p"), &[("a", "1"), ("b", "1")]);
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched a");
    assert_ok(&apply(&p.home, None));
    let reference = Outcome::of(&p);
    write(
        &p.plugins().join("b_1.jar"),
        &bundle_jar("b", "1", "from a patch since withdrawn"),
    );
    let marker = p.metadata().join(".carbon-patcher-apply-in-progress");
    write(&marker, b"a carbon-patcher apply is committing\n");
    let out = apply(&p.home, None);
    assert_converged("older marker", &p, &out, &reference, &JarCheck::default());
    assert!(!marker.exists());
}
