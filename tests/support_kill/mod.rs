//! Helpers of the crash, property and concurrency tests (`tests/kill.rs`, `tests/props.rs`,
//! `tests/concurrency.rs`): fast tree copies, runs with fault injection, the result of a run as
//! a value, and the checks every interrupted run must pass once the next run has converged.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{files, stderr, Product};

/// A scratch dir for product trees: in `/dev/shm` where it is a writable tmpfs (the tests copy
/// and rewrite trees thousands of times; on a disk that costs ten times more), else in the
/// system's temporary dir.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("carbon-patcher-test-")
            .tempdir_in(shm)
        {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Copies the tree `from` to `to` (which must not exist): directories, and plain `fs::copy` of
/// every file, keeping modification times (a run sets the time of a file whose bytes are
/// already right, so they decide how many fault points it passes), and so that each directory
/// of the copy lists its entries in the same order as its source. The launcher takes a patch
/// dir's entries in directory-listing order (which decides the `prePatchedJARs.txt` line order
/// of bundles sharing a `HashMap` bucket), and a tmpfs lists in reverse creation order: the
/// copy creates the entries in the order that reproduces it.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    copy_entries(from, to);
}

/// Copies the entries of `from` into the existing, empty `to`.
fn copy_entries(from: &Path, to: &Path) {
    let listed = listing(from);
    let mut create = listed.clone();
    if reverse_listing() {
        create.reverse();
    }
    for name in &create {
        let (src, dst) = (from.join(name), to.join(name));
        if fs::symlink_metadata(&src).unwrap().is_dir() {
            fs::create_dir(&dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
            keep_mtime(&src, &dst);
        }
    }
    assert_eq!(
        listing(to),
        listed,
        "{}: the copy lists its entries in another order",
        to.display()
    );
    for name in &listed {
        let src = from.join(name);
        if fs::symlink_metadata(&src).unwrap().is_dir() {
            copy_entries(&src, &to.join(name));
        }
    }
    keep_mtime(from, to);
}

fn keep_mtime(from: &Path, to: &Path) {
    let m = fs::metadata(from).unwrap();
    filetime::set_file_mtime(to, filetime::FileTime::from_last_modification_time(&m)).unwrap();
}

/// The names in `dir`, in the order the file system lists them.
pub fn listing(dir: &Path) -> Vec<std::ffi::OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

/// Whether the scratch file system lists a directory's entries newest first (tmpfs does).
fn reverse_listing() -> bool {
    static REVERSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REVERSE.get_or_init(|| {
        let probe = scratch();
        for name in ["b", "c", "a"] {
            fs::write(probe.path().join(name), b"").unwrap();
        }
        listing(probe.path()) == ["a", "c", "b"]
    })
}

/// Replaces `to` with a fresh copy of `from`.
pub fn fresh_copy(from: &Path, to: &Path) {
    if to.exists() {
        fs::remove_dir_all(to).unwrap();
    }
    copy_tree(from, to);
}

/// The binary under test, copied once per test process to `target/tmp` and run from there:
/// other builds sharing the target dir relink `target/debug/carbon-patcher` now and then, and
/// a run of thousands of processes must not straddle two versions (or catch one half-written).
pub fn bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(dir).unwrap();
        const PREFIX: &str = "carbon-patcher-copy-";
        // Copies of test processes that are gone.
        for e in fs::read_dir(dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let pid: i32 = pid.trim_end_matches(".part").parse().unwrap_or(0);
            // SAFETY: kill(2) with signal 0 only asks whether the process exists.
            let gone = pid > 0
                && unsafe { libc::kill(pid, 0) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = fs::remove_file(e.path());
            }
        }
        let dst = dir.join(format!("{PREFIX}{}", std::process::id()));
        let part = dir.join(format!("{PREFIX}{}.part", std::process::id()));
        for attempt in 0.. {
            fs::copy(env!("CARGO_BIN_EXE_carbon-patcher"), &part).unwrap();
            let runs = Command::new(&part)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            if runs {
                break;
            }
            assert!(attempt < 20, "cannot run a copy of the binary");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        fs::rename(&part, &dst).unwrap();
        dst
    })
}

/// `carbon-patcher <args>` with fsync skipped, `fault` (a `CARBON_PATCHER_FAULT` value) if
/// any, `CARBON_HOME` and `CARBON_REPOSITORY` cleared.
pub fn run_with(args: &[&str], fault: Option<&str>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("CARBON_HOME")
        .env_remove("CARBON_REPOSITORY")
        .env_remove("CARBON_PATCHER_FAULT")
        .env("CARBON_PATCHER_NO_SYNC", "1");
    if let Some(f) = fault {
        cmd.env("CARBON_PATCHER_FAULT", f);
    }
    cmd.output().unwrap()
}

/// `apply --carbon-home <home> --quiet` with `fault`.
pub fn apply(home: &Path, fault: Option<&str>) -> Output {
    run_with(
        &["apply", "--carbon-home", home.to_str().unwrap(), "--quiet"],
        fault,
    )
}

/// Whether the run died of SIGKILL.
pub fn was_killed(out: &Output) -> bool {
    out.status.signal() == Some(libc::SIGKILL)
}

/// The number of fault points a run on `home` passes (the run completes: use a copy).
pub fn count_points(home: &Path) -> u64 {
    let out = apply(home, Some("count"));
    assert_eq!(out.status.code(), Some(0), "count run: {}", stderr(&out));
    let err = stderr(&out);
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("carbon-patcher: fault points: "))
        .unwrap_or_else(|| panic!("no fault point count in: {err}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// About `want` points of `1..=n`: every one of the first and last `edge` (where a run removes
/// leftovers, stages its first files, and commits its last renames), the rest spread evenly in
/// between; every point when `n <= want`.
pub fn spread(n: u64, want: u64, edge: u64) -> Vec<u64> {
    if n <= want {
        return (1..=n).collect();
    }
    let edge = edge.min(want / 4);
    let mut v: Vec<u64> = (1..=edge).chain(n + 1 - edge..=n).collect();
    let (lo, hi, k) = (edge + 1, n - edge, want - 2 * edge);
    if k > 0 && hi >= lo {
        v.extend((0..k).map(|j| lo + j * (hi - lo) / (k - 1).max(1)));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// What a run leaves that must be the launcher's result: `plugins`, `patch0000`, both metadata
/// files (`None` when missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub plugins: BTreeMap<PathBuf, Vec<u8>>,
    pub backup: BTreeMap<PathBuf, Vec<u8>>,
    pub dir_txt: Option<Vec<u8>>,
    pub jars_txt: Option<Vec<u8>>,
}

impl Outcome {
    pub fn of(p: &Product) -> Outcome {
        let backup = if p.backup_dir().is_dir() {
            files(&p.backup_dir())
        } else {
            BTreeMap::new()
        };
        Outcome {
            plugins: files(&p.plugins()),
            backup,
            dir_txt: fs::read(p.metadata().join("prePatchedDir.txt")).ok(),
            jars_txt: fs::read(p.metadata().join("prePatchedJARs.txt")).ok(),
        }
    }

    /// What differs from `want`, one line per path (empty when equal).
    pub fn diff(&self, want: &Outcome) -> Vec<String> {
        let mut out = diff_files("plugins", &self.plugins, &want.plugins);
        out.extend(diff_files("patch0000", &self.backup, &want.backup));
        for (name, have, want) in [
            ("prePatchedDir.txt", &self.dir_txt, &want.dir_txt),
            ("prePatchedJARs.txt", &self.jars_txt, &want.jars_txt),
        ] {
            if have != want {
                let show = |b: &Option<Vec<u8>>| match b {
                    Some(b) => format!("{:?}", String::from_utf8_lossy(b)),
                    None => "(missing)".to_string(),
                };
                out.push(format!("{name}: {} instead of {}", show(have), show(want)));
            }
        }
        out
    }
}

/// Paths of `have` that are missing from, extra to, or differ from `want`.
pub fn diff_files(
    what: &str,
    have: &BTreeMap<PathBuf, Vec<u8>>,
    want: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in want {
        match have.get(k) {
            None => out.push(format!("{what}/{}: missing", k.display())),
            Some(h) if h != v => out.push(format!(
                "{what}/{}: {} bytes, md5 {} instead of {} bytes, md5 {}",
                k.display(),
                h.len(),
                crate::common::md5_hex(h),
                v.len(),
                crate::common::md5_hex(v)
            )),
            _ => {}
        }
    }
    for k in have.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!("{what}/{}: extra", k.display()));
    }
    out
}

/// Checks jars: every `.jar` under a dir must be a valid zip whose entries all read with a good
/// CRC. Contents already found sound are remembered by file name (the same bytes are the same
/// jar), so the thousands of checks of the same few hundred jars cost one zip read each.
#[derive(Default)]
pub struct JarCheck {
    sound: std::sync::Mutex<std::collections::HashMap<std::ffi::OsString, Vec<Vec<u8>>>>,
}

impl JarCheck {
    /// Every `.jar` under `dir` (if it exists) that is not sound, with the reason.
    pub fn bad_jars(&self, dir: &Path) -> Vec<String> {
        let mut bad = Vec::new();
        if !dir.exists() {
            return bad;
        }
        for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let e = e.unwrap();
            if !e.file_type().is_file() || !e.file_name().to_string_lossy().ends_with(".jar") {
                continue;
            }
            let bytes = fs::read(e.path()).unwrap();
            let name = e.file_name().to_os_string();
            let mut sound = self.sound.lock().unwrap();
            if sound.get(&name).is_some_and(|seen| seen.contains(&bytes)) {
                continue;
            }
            match check_jar(&bytes) {
                Ok(()) => sound.entry(name).or_default().push(bytes),
                Err(why) => bad.push(format!("{}: {why}", e.path().display())),
            }
        }
        bad
    }
}

/// Every `.jar` under `dir` (if it exists) that is not a valid zip whose entries all read with a
/// good CRC, with the reason.
pub fn bad_jars(dir: &Path) -> Vec<String> {
    JarCheck::default().bad_jars(dir)
}

fn check_jar(bytes: &[u8]) -> Result<(), String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    if z.is_empty() {
        return Err("no entries".into());
    }
    for i in 0..z.len() {
        let mut entry = z.by_index(i).map_err(|e| e.to_string())?;
        let name = entry.name().map_err(|e| e.to_string())?.to_string();
        let mut buf = Vec::new();
        // The zip crate checks the CRC-32 when the entry has been read to its end.
        entry
            .read_to_end(&mut buf)
            .map_err(|e| format!("entry {name}: {e}"))?;
    }
    Ok(())
}

/// Files and dirs under `home` whose name starts with `.carbon-patcher`, except the state dir
/// `repository/.carbon-patcher` (whose contents are not looked at).
pub fn private_leftovers(home: &Path) -> Vec<PathBuf> {
    let state = home.join("repository/.carbon-patcher");
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(home)
        .into_iter()
        .filter_entry(|e| e.path() != state);
    for e in walk {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with(".carbon-patcher")
        {
            out.push(e.path().strip_prefix(home).unwrap().to_path_buf());
        }
    }
    out
}

/// What is wrong with a product that should have converged to `want` through the run `out`:
/// its exit, any difference from the reference, an unsound jar, a private leftover.
pub fn convergence_problems(
    p: &Product,
    out: &Output,
    want: &Outcome,
    jars: &JarCheck,
) -> Vec<String> {
    let mut problems = Vec::new();
    if out.status.code() != Some(0) {
        problems.push(format!(
            "the clean run after it exited {:?}: {}",
            out.status,
            stderr(out)
        ));
    }
    problems.extend(Outcome::of(p).diff(want));
    problems.extend(jars.bad_jars(&p.plugins()));
    problems.extend(jars.bad_jars(&p.backup_dir()));
    problems.extend(
        private_leftovers(&p.home)
            .into_iter()
            .map(|l| format!("{}: leftover", l.display())),
    );
    problems
}

/// Checks a converged product against the reference: the run's exit, the outcome byte for
/// byte, every jar sound, no private leftover. Panics naming `what` and the problems.
pub fn assert_converged(what: &str, p: &Product, out: &Output, want: &Outcome, jars: &JarCheck) {
    let problems = convergence_problems(p, out, want, jars);
    assert!(
        problems.is_empty(),
        "{what}: did not converge:\n  {}",
        problems.join("\n  ")
    );
}

/// A cheap deterministic generator (xorshift), so a product's jars are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// `len` characters of hex digits: a payload that deflates to about half.
    pub fn text(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
}
