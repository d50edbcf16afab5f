//! The crash-state explorer (`tests/crash.rs`): power loss at any point of a run, from the
//! system calls the real binary makes.
//!
//! A run is recorded with `strace -f` (every call that creates, writes, truncates, renames or
//! removes, every fsync, fdatasync and syncfs, and the descriptor calls needed to follow
//! them, the libraries' included) and turned into operations on inodes ([`trace`]). At each
//! point of the run (after each operation), the persistence model below says which operations
//! may be lost; the explorer builds the trees a power cut there can leave, runs
//! `carbon-patcher apply` on each and checks the result.
//!
//! # The persistence model
//!
//! - File data (a write, a truncate) is durable once that file is fsynced or fdatasynced
//!   (through any descriptor), or its file system is synced (`syncfs`, `sync`). Until then it
//!   may be missing, or present as zeros or cut short.
//! - A directory entry (a create, mkdir, unlink, rmdir) is durable once that directory is
//!   fsynced, or the file system synced. A rename is one atomic step, durable once both
//!   directories it touches are synced; until then it may be undone whole. Syncing a file does
//!   not make its name durable; syncing a directory does not make its files' data durable.
//! - Operations not yet durable may be lost independently of each other and of their order.
//!
//! From this the explorer builds, at a crash point: the tree with everything the process did
//! (what a kill leaves); the tree with only what is durable (nothing since the last sync
//! survived); for each operation not yet durable, the tree that lost that one alone; and for
//! each file whose data is not yet durable, the file as zeros, as it was at its last sync
//! (for a new file: empty), and cut to half its length.
//!
//! ext4 with `data=ordered` and XFS are kinder: both journal metadata in order, so lost
//! directory operations are always a suffix of them (never one lost while a later one
//! survives), and a rename is never split. ext4 `data=ordered` never shows stale or zeroed
//! blocks, but with delayed allocation a file written and renamed without fsync may be empty
//! (its `auto_da_alloc` heuristic only narrows this); XFS may show a file with its new size
//! and zeros where the data had not reached the disk. The model allows all of these, and
//! more: losing any one pending operation while later ones survive, and a rename across two
//! directories is only durable once both are synced, where either journal makes it durable
//! with the first sync of either. So a product safe under this model is safe on both.
//!
//! Not modelled: file times, modes and owners (the checks compare names and bytes); the
//! digest cache's trust in inode numbers and change times (a tree rebuilt from the model gets
//! new ones, so no cached digest is ever used on a crash state); a move across file systems.
//!
//! # What each crash state must give
//!
//! - The originals of `plugins` are recoverable: `patch0000`, when it exists, holds them
//!   exactly; when it does not, `plugins` still does.
//! - The patches and service packs are either as before the run or as after it.
//! - The launcher is never fooled: for the inputs as they are, and for the inputs the metadata
//!   before the run described (a patch withdrawn after the crash), the launcher's own change
//!   detection ([`launcher`]) either sees a change (and so applies from `patch0000`), or
//!   `plugins` is exactly what those inputs give.
//! - `carbon-patcher apply` exits 0 and leaves the product exactly as an uninterrupted run
//!   does (or exactly as before, when the run's move or install of a patch did not survive):
//!   `plugins`, `patch0000`, both metadata files byte for byte, every jar sound, no temporary
//!   file of ours left.
//! - Once the run has finished, a power cut loses nothing of it: the durable tree at the end
//!   is the result, without a re-run.
//!
//! By default a bounded set runs: the kill tree and the durable-only tree at every point; for
//! each operation, the tree that lost it right after it, half-way to the sync that covers it,
//! just before every sync, and at its last chance (just before the sync that covers it, or at
//! the end of the run); the data variants of each file at those same points of its writes.
//! `CARBON_PATCHER_CRASH_EXHAUSTIVE=1` builds every variant at every point.

pub mod launcher;
pub mod trace;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::support_kill::{self, JarCheck, Outcome};
use launcher::Inputs;
use trace::{Entry, Fs, Ino, Op, Trace};

/// The components dir, relative to a scenario's root.
pub const COMPONENTS: &str = "product/repository/components";

/// One way a power cut at a point can leave the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Everything the process did survived (what a kill leaves).
    All,
    /// Only what was durable survived.
    DurableOnly,
    /// Everything but this one operation survived.
    LoseOne(usize),
    /// The file's data not yet durable survived as zeros.
    Zeros(Ino),
    /// The file is as at its last sync (a new file: empty).
    Unwritten(Ino),
    /// The file is cut to half its length.
    Torn(Ino),
}

/// A crash state: the first `len` operations of the run, as `variant` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub len: usize,
    pub variant: Variant,
}

/// A known set of inputs and what `plugins` must hold for the launcher to be right to start
/// without applying; `rerun`: what our apply must converge to from a state with these inputs
/// (`None`: inputs no state of the run has, only checked against the launcher).
pub struct Known {
    pub what: String,
    pub inputs: Inputs,
    pub plugins: BTreeMap<PathBuf, Vec<u8>>,
    pub rerun: Option<Outcome>,
}

/// What a scenario is: the tree before the run, the command, and what must hold.
pub struct Scenario {
    pub name: String,
    /// Scratch space for the explorer's trees.
    pub work: PathBuf,
    /// The tree before the run: holds `product/` and whatever the command reads (a zip).
    pub before: PathBuf,
    /// The command's arguments; `{root}` stands for the root of the tree it runs on.
    pub args: Vec<String>,
    /// The plugins as shipped, which `patch0000` must hold.
    pub original: BTreeMap<PathBuf, Vec<u8>>,
    /// The inputs the metadata before the run describes, when they differ from the inputs
    /// before it (`plugins` before the run is what they give).
    pub previous: Option<Inputs>,
    /// Pairs of dirs (relative to the root) of which exactly one must exist, holding these
    /// files (a patch moved by `revert` or `restore`).
    pub conserved: Vec<(PathBuf, PathBuf, BTreeMap<PathBuf, Vec<u8>>)>,
}

/// What exploring a scenario found.
pub struct Report {
    pub states: usize,
    pub failures: Vec<String>,
}

fn exhaustive() -> bool {
    std::env::var_os("CARBON_PATCHER_CRASH_EXHAUSTIVE").is_some_and(|v| v == "1")
}

/// For each operation, the index of the sync after which it is durable (`usize::MAX`: never).
fn durable_after(ops: &[Op]) -> Vec<usize> {
    let mut next_sync: HashMap<Ino, usize> = HashMap::new();
    let mut next_all = usize::MAX;
    let mut out = vec![usize::MAX; ops.len()];
    for (j, op) in ops.iter().enumerate().rev() {
        let at = |ino: &Ino| next_sync.get(ino).copied().unwrap_or(usize::MAX);
        out[j] = match op {
            Op::Sync { .. } | Op::SyncAll => j,
            _ => match op.data_ino() {
                Some(ino) => at(&ino).min(next_all),
                None => op.dirs().iter().map(at).max().unwrap_or(j).min(next_all),
            },
        };
        match op {
            Op::Sync { ino } => {
                next_sync.insert(*ino, j);
            }
            Op::SyncAll => next_all = j,
            _ => {}
        }
    }
    out
}

/// The files (relative to `dir`) of a tree.
fn files_under(tree: &BTreeMap<PathBuf, Entry>, dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    tree.range(dir.to_path_buf()..)
        .take_while(|(p, _)| p.starts_with(dir))
        .filter_map(|(p, e)| match e {
            Entry::File(b) if p.as_path() != dir => {
                Some((p.strip_prefix(dir).unwrap().to_path_buf(), b.to_vec()))
            }
            _ => None,
        })
        .collect()
}

/// The [`Outcome`] of a tree, read from the model.
fn outcome_of(tree: &BTreeMap<PathBuf, Entry>) -> Outcome {
    let c = Path::new(COMPONENTS);
    let file = |p: &Path| match tree.get(p) {
        Some(Entry::File(b)) => Some(b.to_vec()),
        _ => None,
    };
    let backup = c.join("patches/patch0000");
    Outcome {
        plugins: files_under(tree, &c.join("plugins")),
        backup: if tree.get(&backup) == Some(&Entry::Dir) {
            files_under(tree, &backup)
        } else {
            BTreeMap::new()
        },
        dir_txt: file(&c.join("patches/.metadata/prePatchedDir.txt")),
        jars_txt: file(&c.join("patches/.metadata/prePatchedJARs.txt")),
    }
}

/// What differs between two trees, one line a path.
pub fn diff_trees(have: &BTreeMap<PathBuf, Entry>, want: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let show = |e: &Entry| match e {
        Entry::Dir => "a directory".to_string(),
        Entry::File(b) if b.iter().all(|&x| x == 0) && !b.is_empty() => {
            format!("{} zero bytes", b.len())
        }
        Entry::File(b) => format!("{} bytes, md5 {}", b.len(), crate::common::md5_hex(b)),
    };
    let mut out = Vec::new();
    for (p, w) in want {
        match have.get(p) {
            None => out.push(format!("{}: missing (was {})", p.display(), show(w))),
            Some(h) if h != w => out.push(format!(
                "{}: {} instead of {}",
                p.display(),
                show(h),
                show(w)
            )),
            _ => {}
        }
    }
    for (p, h) in have.iter().filter(|(p, _)| !want.contains_key(*p)) {
        out.push(format!("{}: extra ({})", p.display(), show(h)));
    }
    out
}

/// Writes a tree under `dir` (replacing whatever is there).
fn materialize(tree: &BTreeMap<PathBuf, Entry>, dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    for (p, e) in tree {
        match e {
            Entry::Dir => std::fs::create_dir(dir.join(p)).unwrap(),
            Entry::File(b) => std::fs::write(dir.join(p), &b[..]).unwrap(),
        }
    }
}

fn tree_hash(tree: &BTreeMap<PathBuf, Entry>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tree.hash(&mut h);
    h.finish()
}

/// A recorded run and what follows from it.
struct Explorer<'a> {
    s: &'a Scenario,
    trace: Trace,
    durable: Vec<usize>,
    known: Vec<Known>,
    reference: Outcome,
    root_shown: String,
    jars: JarCheck,
}

impl Explorer<'_> {
    /// The tree `c` leaves.
    fn replay(&self, c: &Crash) -> Fs {
        let mut fs = self.trace.start.clone();
        let pending = |j: usize| self.durable[j] >= c.len;
        for (j, op) in self.trace.ops[..c.len].iter().enumerate() {
            let skip = match c.variant {
                Variant::DurableOnly => pending(j),
                Variant::LoseOne(k) => j == k,
                Variant::Unwritten(ino) => pending(j) && op.data_ino() == Some(ino),
                _ => false,
            };
            if skip {
                continue;
            }
            let zeros = matches!(c.variant, Variant::Zeros(ino) if pending(j) && op.data_ino() == Some(ino));
            fs.apply(op, &self.trace.kinds, zeros);
        }
        if let Variant::Torn(ino) = c.variant {
            let len = fs.file_len(ino);
            fs.cut(ino, len / 2);
        }
        fs
    }

    /// The variants at point `len`: every one, or (bounded) the chosen ones.
    fn variants(&self, len: usize, out: &mut Vec<Crash>) {
        let n = self.trace.ops.len();
        let pending: Vec<usize> = (0..len).filter(|&j| self.durable[j] >= len).collect();
        let all = exhaustive();
        // Bounded: an operation is lost right after it, half-way to its sync, just before
        // every sync, and at its last chance (just before the sync that covers it, or at the
        // end of the run).
        let before_sync = self.trace.ops.get(len).is_some_and(Op::is_barrier);
        let chosen = |j: usize| {
            let last = self.durable[j].min(n);
            before_sync || len == j + 1 || len == (j + 1 + last) / 2 || len == last
        };
        let mut push = |variant| out.push(Crash { len, variant });
        // Only a sync changes this tree; the duplicates are dropped.
        push(Variant::DurableOnly);
        let mut files = Vec::new();
        for &j in &pending {
            let op = &self.trace.ops[j];
            if op.is_barrier() {
                continue;
            }
            if all || chosen(j) {
                push(Variant::LoseOne(j));
                if let Some(ino) = op.data_ino() {
                    if !files.contains(&ino) {
                        files.push(ino);
                    }
                }
            }
        }
        for ino in files {
            push(Variant::Zeros(ino));
            push(Variant::Unwritten(ino));
            push(Variant::Torn(ino));
        }
    }

    /// Every crash state to explore, in the run's order.
    fn crashes(&self) -> Vec<Crash> {
        let n = self.trace.ops.len();
        let mut out = Vec::new();
        for len in 0..=n {
            out.push(Crash {
                len,
                variant: Variant::All,
            });
            self.variants(len, &mut out);
        }
        out
    }

    fn describe(&self, c: &Crash, fs_at: &Fs) -> String {
        let n = self.trace.ops.len();
        let line = |j: usize| self.trace.lines[j].replace(&self.root_shown, "");
        let at = if c.len == 0 {
            "before its first operation".to_string()
        } else {
            format!("after operation {} of {n}: {}", c.len, line(c.len - 1))
        };
        let path = |ino: Ino| {
            fs_at
                .tree_paths()
                .get(&ino)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("inode {ino} (no name)"))
        };
        let how = match c.variant {
            Variant::All => "everything the process did survived (a kill)".to_string(),
            Variant::DurableOnly => "only what was durable survived".to_string(),
            Variant::LoseOne(j) => format!("operation {} was lost: {}", j + 1, line(j)),
            Variant::Zeros(ino) => format!("the unsynced data of {} came back as zeros", path(ino)),
            Variant::Unwritten(ino) => {
                format!("{} came back as at its last sync", path(ino))
            }
            Variant::Torn(ino) => format!("{} came back cut to half its length", path(ino)),
        };
        format!("power cut {at}; {how}")
    }

    /// Everything wrong with crash state `c`, whose tree is `tree`, re-run in `dir`.
    fn check(&self, c: &Crash, tree: &BTreeMap<PathBuf, Entry>, dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        let comp = Path::new(COMPONENTS);
        let now = outcome_of(tree);
        // A temporary file of ours in plugins is nothing the server loads (Equinox reads
        // bundles.info, and the launcher checks only the latest jars); our next run removes it.
        let loaded: BTreeMap<PathBuf, Vec<u8>> = now
            .plugins
            .iter()
            .filter(|(p, _)| !p.to_string_lossy().contains(".carbon-patcher-tmp-"))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect();
        let has_backup = tree.get(&comp.join("patches/patch0000")) == Some(&Entry::Dir);
        if has_backup {
            let d = support_kill::diff_files("patch0000", &now.backup, &self.s.original);
            if !d.is_empty() {
                problems.push(format!(
                    "patch0000 does not hold the original plugins:\n      {}",
                    d.join("\n      ")
                ));
            }
        } else if loaded != self.s.original {
            let d = support_kill::diff_files("plugins", &loaded, &self.s.original);
            problems.push(format!(
                "no patch0000, and plugins is not the original:\n      {}",
                d.join("\n      ")
            ));
        }
        let inputs = Inputs::of(tree, comp);
        let mine = self
            .known
            .iter()
            .find(|k| k.inputs == inputs && k.rerun.is_some());
        if mine.is_none() {
            problems.push(format!(
                "the patches and service packs are neither as before nor as after the run: {inputs:?}"
            ));
        }
        for (a, b, want) in &self.s.conserved {
            let found: Vec<&PathBuf> = [a, b]
                .into_iter()
                .filter(|p| tree.contains_key(*p))
                .collect();
            match found.as_slice() {
                [one] => {
                    let have = files_under(tree, one);
                    let d = support_kill::diff_files(&one.display().to_string(), &have, want);
                    if !d.is_empty() {
                        problems.push(format!(
                            "moved dir not whole:\n      {}",
                            d.join("\n      ")
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{} and {}: {} of them exist, instead of exactly one",
                    a.display(),
                    b.display(),
                    found.len()
                )),
            }
        }
        for k in &self.known {
            match launcher::sees_change(
                now.dir_txt.as_deref(),
                now.jars_txt.as_deref(),
                &k.inputs,
                has_backup,
            ) {
                Err(e) => problems.push(format!("launcher, {}: {e}", k.what)),
                Ok(true) => {}
                Ok(false) if loaded == k.plugins => {}
                Ok(false) => problems.push(format!(
                    "launcher fooled, {}: it sees no change, and plugins is not what those \
                     inputs give:\n      {}",
                    k.what,
                    support_kill::diff_files("plugins", &loaded, &k.plugins).join("\n      ")
                )),
            }
        }
        let end = c.len == self.trace.ops.len() && c.variant == Variant::DurableOnly;
        if end {
            let d = now.diff(&self.reference);
            if !d.is_empty() {
                problems.push(format!(
                    "the finished run is not durable:\n      {}",
                    d.join("\n      ")
                ));
            }
        }
        // Our re-run.
        materialize(tree, dir);
        let home = dir.join("product");
        let out = support_kill::apply(&home, None);
        let p = crate::common::Product { home: home.clone() };
        if let Some(want) = mine.and_then(|k| k.rerun.as_ref()) {
            let d = support_kill::convergence_problems(&p, &out, want, &self.jars);
            if !d.is_empty() {
                problems.push(format!(
                    "`carbon-patcher apply` after it:\n      {}",
                    d.join("\n      ")
                ));
            }
        } else if out.status.code() != Some(0) {
            problems.push(format!(
                "`carbon-patcher apply` after it exited {:?}: {}",
                out.status.code(),
                crate::common::stderr(&out)
            ));
        }
        problems
    }
}

impl Fs {
    /// The path of every reachable inode.
    pub fn tree_paths(&self) -> HashMap<Ino, PathBuf> {
        let mut out = HashMap::new();
        let mut stack = vec![(0usize, PathBuf::new())];
        while let Some((ino, at)) = stack.pop() {
            if out.insert(ino, at.clone()).is_some() {
                continue;
            }
            if let Some(trace::Node::Dir(e)) = self.nodes.get(&ino) {
                for (n, c) in e {
                    stack.push((*c, at.join(n)));
                }
            }
        }
        out
    }
}

/// What a regression case picks its crash states by: the operations a crash state has seen
/// and lost.
pub struct Pick<'a> {
    lines: &'a [String],
    durable: &'a [usize],
}

impl Pick<'_> {
    /// Whether the run had made a call whose line contains `pattern` before the power cut.
    pub fn after(&self, c: &Crash, pattern: &str) -> bool {
        self.lines[..c.len].iter().any(|l| l.contains(pattern))
    }

    /// Whether `c` loses an operation whose call contains `pattern`.
    pub fn loses(&self, c: &Crash, pattern: &str) -> bool {
        (0..c.len).any(|j| {
            let lost = match c.variant {
                Variant::LoseOne(k) => j == k,
                Variant::DurableOnly => self.durable[j] >= c.len,
                _ => false,
            };
            lost && self.lines[j].contains(pattern)
        })
    }
}

/// Records the scenario's run and explores its crash states; prints what it explored.
pub fn explore(s: &Scenario) -> Report {
    explore_where(s, |_, _| true)
}

/// [`explore`], only the crash states `pick` keeps (a regression case).
pub fn explore_where(s: &Scenario, pick: impl Fn(&Crash, &Pick) -> bool) -> Report {
    let t = Instant::now();
    let traced = s.work.join("traced");
    support_kill::fresh_copy(&s.before, &traced);
    let args: Vec<String> = s
        .args
        .iter()
        .map(|a| a.replace("{root}", traced.to_str().unwrap()))
        .collect();
    let trace = trace::record(
        &traced,
        support_kill::bin(),
        &args,
        &s.work.join("strace.txt"),
    );
    assert_eq!(
        trace.status,
        Some(0),
        "{}: the traced run: {}",
        s.name,
        trace.stderr
    );
    // The model must end where the real run did.
    let (on_disk, _) = Fs::load(&traced);
    let mut end = trace.start.clone();
    for op in &trace.ops {
        end.apply(op, &trace.kinds, false);
    }
    let diverged = diff_trees(&end.tree(), &on_disk.tree());
    assert!(
        diverged.is_empty(),
        "{}: the model of the trace does not end where the run did:\n  {}",
        s.name,
        diverged.join("\n  ")
    );
    let before_tree = Fs::load(&s.before).0.tree();
    let after_tree = on_disk.tree();
    let comp = Path::new(COMPONENTS);
    let reference = outcome_of(&after_tree);
    let before = outcome_of(&before_tree);
    let mut known = vec![Known {
        what: "with the inputs after the run".into(),
        inputs: Inputs::of(&after_tree, comp),
        plugins: reference.plugins.clone(),
        rerun: Some(reference.clone()),
    }];
    let before_inputs = Inputs::of(&before_tree, comp);
    if before_inputs != known[0].inputs {
        known.push(Known {
            what: "with the inputs before the run".into(),
            inputs: before_inputs,
            plugins: before.plugins.clone(),
            rerun: Some(before.clone()),
        });
    }
    if let Some(prev) = &s.previous {
        known.push(Known {
            what: "with the inputs the metadata before the run described (a patch withdrawn)"
                .into(),
            inputs: prev.clone(),
            plugins: before.plugins.clone(),
            rerun: None,
        });
    }
    let ex = Explorer {
        s,
        durable: durable_after(&trace.ops),
        root_shown: format!("{}/", traced.display()),
        trace,
        known,
        reference,
        jars: JarCheck::default(),
    };
    let view = Pick {
        lines: &ex.trace.lines,
        durable: &ex.durable,
    };
    let crashes: Vec<Crash> = ex
        .crashes()
        .into_iter()
        .filter(|c| pick(c, &view))
        .collect();
    let candidates = crashes.len();
    // Distinct trees only: many variants leave the same one.
    let mut seen = HashSet::new();
    let mut states = Vec::new();
    for c in crashes {
        let fs = ex.replay(&c);
        let tree = fs.tree();
        if seen.insert(tree_hash(&tree)) {
            states.push((c, tree));
        }
    }
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..2 {
            let (ex, states, next, failures) = (&ex, &states, &next, &failures);
            let dir = s.work.join(format!("state{w}"));
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((c, tree)) = states.get(i) else {
                    break;
                };
                let problems = ex.check(c, tree, &dir);
                if !problems.is_empty() {
                    let mut whole = ex.trace.start.clone();
                    for op in &ex.trace.ops[..c.len] {
                        whole.apply(op, &ex.trace.kinds, false);
                    }
                    let lost = diff_trees(tree, &whole.tree());
                    let mut text = format!("{}: {}\n", s.name, ex.describe(c, &whole));
                    text.push_str(&format!(
                        "    what the power cut took from the tree the process saw:\n      {}\n",
                        if lost.is_empty() {
                            "(nothing)".to_string()
                        } else {
                            lost.join("\n      ")
                        }
                    ));
                    for p in problems {
                        text.push_str(&format!("    {p}\n"));
                    }
                    failures.lock().unwrap().push((i, text));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let syncs = ex.trace.ops.iter().filter(|o| o.is_barrier()).count();
    let line = format!(
        "crash explorer: {}: {} operations ({syncs} syncs), {} crash states explored ({} variants \
         built), {} failed, in {:.1} s{}",
        s.name,
        ex.trace.ops.len(),
        states.len(),
        candidates,
        failures.len(),
        t.elapsed().as_secs_f64(),
        if exhaustive() { " (exhaustive)" } else { "" }
    );
    eprintln!("{line}");
    // Also where .ci/run shows it: cargo test keeps a passing test's output to itself.
    let summary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-explorer.txt");
    let _ = std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(summary)
    {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
    Report {
        states: states.len(),
        failures: failures.into_iter().map(|(_, t)| t).collect(),
    }
}

/// Panics with the first failures of `r`, if any.
pub fn assert_no_failure(name: &str, r: &Report) {
    if r.failures.is_empty() {
        return;
    }
    let shown: Vec<&String> = r.failures.iter().take(4).collect();
    panic!(
        "{name}: {} of {} crash states failed; the first:\n{}",
        r.failures.len(),
        r.states,
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
