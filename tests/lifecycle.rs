//! One product tree taken through a whole patch lifecycle, one `carbon-patcher apply` run per step,
//! checked literally against the spec, `carbon-patch-spec.md` (sections 3, 5, 6, 7, 8):
//! exit code, the new `patches.log` lines, the console lines, both metadata files byte for byte,
//! every file of `plugins`, and `patch0000`.
//!
//! Every expectation below is derived by hand from the spec (and, where the spec says "read those
//! files", from the Carbon 4.4.x launcher's `PatchUtils` / `PatchInstaller`), never from what the
//! engine prints. Each step's comment shows the derivation.
//!
//! Steps:
//!  1. fresh product, patch0001 + patch0002, no service pack: backup to patch0000, both applied
//!  2. patch0003 added, re-patching a bundle patch0001 already patched (plus one more bundle)
//!  3. jars replaced inside applied patches (same file names, new bytes): "has been updated"
//!  4. patch0002 deleted: "has been reverted", its bundles restored from patch0000; the bundle it
//!     ADDED under a new name stays in plugins (restore is an overlay)
//!  5. servicepack001 (lists patch0001 and patch0003; lib holds their bundles, some newer)
//!  6. servicepack002 beside it (only the newest counts; its list uses CRLF line ends)
//!  7. both service packs removed
//!  8. two patched bundles overwritten by hand in plugins: verification warnings, exit 3, no apply
//!  9. every patch dir but patch0000 removed: all original plugins back to their original bytes
//!
//! After every step but 8, a second run must find nothing to do (spec: "Running the real launcher
//! right after carbon-patcher must find nothing to do").
//!
//! Ambiguities / assumptions:
//!  - Exit codes are not in the spec. Assumed: 0 for a run without verification warnings, 3 for a
//!    run that ends with verification warnings (the task brief; `cli::exit` agrees).
//!  - File times: sections 5.4/5.5 say patched files keep the source's time; checked for every
//!    patched file, including those whose bytes were already right (the launcher rewrites
//!    them, and re-times them; carbon-patcher leaves their bytes alone but sets the time).
//!  - Stdout is assumed to carry ONLY the console log lines of spec section 8, nothing else.
//!  - `Patched ...` lines within one patch dir / service-pack lib follow readdir order; they are
//!    compared as a set within their block. Everything else is literal and ordered.
//!  - The HashMap order (spec section 6) depends on insertion order only for keys sharing a
//!    bucket. Here `org.wso2.carbon.core_4.4.9.jar` and `org.wso2.carbon.utils_4.4.9.jar` share
//!    bucket 15 on purpose. When both come from the same directory (the service packs' lib), the
//!    insertion order is that directory's listing order, which the test reads with
//!    `fs::read_dir` (the same readdir order the launcher/engine sees).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const PU: &str = "org.wso2.carbon.server.util.PatchUtils";
const PI: &str = "org.wso2.carbon.server.extensions.PatchInstaller";
const PC: &str = "org.wso2.carbon.server.util.PatchUtils.console";

// ---------------------------------------------------------------------------------------------
// Java HashMap<String, _> iteration order, emulated from the spec (section 6), independently of
// the engine: String.hashCode over UTF-16 code units with wrapping i32 arithmetic, spread
// h ^ (h >>> 16), 16 buckets at first, doubling when size > 0.75 * capacity (a split keeps each
// bucket's relative order), index = hash & (capacity - 1), new keys appended at the bucket's tail,
// a replaced key keeps its place, a bucket reaching 9 entries with < 64 buckets doubles the table.
// Checked against a real JDK 17 `java.util.HashMap` in `java_hashmap_emulation_matches_jdk` below.
// ---------------------------------------------------------------------------------------------

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

struct JavaHashMap<V> {
    table: Vec<Vec<(String, V)>>,
    size: usize,
}

impl<V> JavaHashMap<V> {
    fn new() -> Self {
        JavaHashMap {
            table: (0..16).map(|_| Vec::new()).collect(),
            size: 0,
        }
    }

    fn index(&self, key: &str) -> usize {
        (spread(java_string_hash(key)) as usize) & (self.table.len() - 1)
    }

    fn resize(&mut self) {
        let new_cap = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, (0..new_cap).map(|_| Vec::new()).collect());
        for bucket in old {
            for (k, v) in bucket {
                let i = (spread(java_string_hash(&k)) as usize) & (new_cap - 1);
                self.table[i].push((k, v));
            }
        }
    }

    fn put(&mut self, key: &str, value: V) {
        let i = self.index(key);
        if let Some(slot) = self.table[i].iter_mut().find(|(k, _)| k == key) {
            slot.1 = value; // replaced key keeps its place
            return;
        }
        self.table[i].push((key.to_string(), value));
        if self.table[i].len() >= 9 {
            assert!(
                self.table.len() < 64,
                "tree bins are not emulated (spec section 6)"
            );
            self.resize();
        }
        self.size += 1;
        if self.size as f64 > 0.75 * self.table.len() as f64 {
            self.resize();
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(String, V)> {
        self.table.iter().flatten()
    }
}

#[test]
fn java_hashmap_emulation_matches_jdk() {
    // Values printed by OpenJDK 17 (`"...".hashCode()` and `new HashMap<>()` + `keySet()`).
    assert_eq!(java_string_hash("org.wso2.carbon.core_4.4.9.jar"), 20053262);
    assert_eq!(
        java_string_hash("org.wso2.carbon.registry.core_4.4.9.jar"),
        935845095
    );
    assert_eq!(
        java_string_hash("org.wso2.carbon.extra.feature_1.0.0.jar"),
        -2029509185
    );
    assert_eq!(
        java_string_hash("org.wso2.carbon.utils_4.4.9.jar"),
        -1833448024
    );
    assert_eq!(java_string_hash("\u{fc}ber_1.0.jar"), -138863308);
    assert_eq!(java_string_hash("x\u{1F600}_2.jar"), -1964131077); // surrogate pair
    assert_eq!(java_string_hash(""), 0);

    // Bucket (of 16) of the bundle names used by the lifecycle, as printed by the JDK:
    // registry.core 0, user.core 3, sp.extra 5, extra.feature 7, axis2 9, logging 10,
    // core 15, utils 15.
    let mut m = JavaHashMap::new();
    for k in [
        "org.wso2.carbon.core_4.4.9.jar",
        "org.wso2.carbon.registry.core_4.4.9.jar",
        "org.wso2.carbon.user.core_4.4.9.jar",
        "org.wso2.carbon.extra.feature_1.0.0.jar",
    ] {
        m.put(k, ());
    }
    let order: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        order,
        [
            "org.wso2.carbon.registry.core_4.4.9.jar",
            "org.wso2.carbon.user.core_4.4.9.jar",
            "org.wso2.carbon.extra.feature_1.0.0.jar",
            "org.wso2.carbon.core_4.4.9.jar",
        ]
    );

    // 30 keys (two resizes: 16 -> 32 -> 64) and one replacement, order printed by the JDK.
    let mut m = JavaHashMap::new();
    for i in 0..30 {
        m.put(&format!("org.example.b{}_1.0.{}.jar", i * 7 % 30, i), i);
    }
    m.put("org.example.b0_1.0.0.jar", 99);
    let order: Vec<String> = m.iter().map(|(k, _)| k.clone()).collect();
    let jdk = "org.example.b26_1.0.8.jar, org.example.b22_1.0.16.jar, org.example.b16_1.0.28.jar, org.example.b27_1.0.21.jar, org.example.b25_1.0.25.jar, org.example.b8_1.0.14.jar, org.example.b1_1.0.13.jar, org.example.b13_1.0.19.jar, org.example.b15_1.0.15.jar, org.example.b19_1.0.7.jar, org.example.b28_1.0.4.jar, org.example.b3_1.0.9.jar, org.example.b0_1.0.0.jar, org.example.b24_1.0.12.jar, org.example.b9_1.0.27.jar, org.example.b2_1.0.26.jar, org.example.b17_1.0.11.jar, org.example.b11_1.0.23.jar, org.example.b20_1.0.20.jar, org.example.b14_1.0.2.jar, org.example.b5_1.0.5.jar, org.example.b6_1.0.18.jar, org.example.b10_1.0.10.jar, org.example.b18_1.0.24.jar, org.example.b7_1.0.1.jar, org.example.b23_1.0.29.jar, org.example.b4_1.0.22.jar, org.example.b12_1.0.6.jar, org.example.b29_1.0.17.jar, org.example.b21_1.0.3.jar";
    assert_eq!(order, jdk.split(", ").collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Jars, sources and expectations
// ---------------------------------------------------------------------------------------------

/// A jar as it sits in a patch dir or a service pack's lib: its own file name, the bundle file name
/// the spec (section 4) gives it, and its bytes.
#[derive(Clone)]
struct Jar {
    own: String,
    bundle: String,
    bytes: Vec<u8>,
}

impl Jar {
    fn new(own: &str, symbolic: &str, version: &str, payload: &str) -> Jar {
        // Section 4: `<symbolic name up to the first ';'>_<version>.jar`.
        let name = symbolic.split(';').next().unwrap();
        Jar {
            own: own.to_string(),
            bundle: format!("{name}_{version}.jar"),
            bytes: bundle_jar(symbolic, version, payload),
        }
    }
    fn md5(&self) -> String {
        md5_hex(&self.bytes)
    }
}

/// One directory the latest-jars map is built from (spec section 3 step 4): a service pack's
/// `lib` or a patch dir, and the jars it holds.
#[derive(Clone)]
struct Src<'a> {
    dir: PathBuf,
    jars: Vec<&'a Jar>,
}

/// The names a directory lists, in readdir order (what Java's `File.listFiles` returns).
fn listing(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Latest-jars map (section 3 step 4) in HashMap iteration order (section 6):
/// (bundle file name, md5 of source, name of the source's parent dir).
fn latest_jars(sources: &[Src]) -> Vec<(String, String, String)> {
    let mut m = JavaHashMap::new();
    for src in sources {
        let names = listing(&src.dir);
        let mut own: Vec<&str> = src.jars.iter().map(|j| j.own.as_str()).collect();
        let mut listed: Vec<&str> = names.iter().map(String::as_str).collect();
        own.sort();
        listed.sort();
        assert_eq!(
            own,
            listed,
            "test set-up: {} holds other files",
            src.dir.display()
        );
        let parent = src.dir.file_name().unwrap().to_str().unwrap().to_string();
        for name in &names {
            let jar = src.jars.iter().find(|j| &j.own == name).unwrap();
            m.put(&jar.bundle, (jar.md5(), parent.clone()));
        }
    }
    m.iter()
        .map(|(k, (md5, parent))| (k.clone(), md5.clone(), parent.clone()))
        .collect()
}

/// `prePatchedJARs.txt` (section 6): `<bundle file name>:<md5>\n` per map entry, map order.
fn pre_patched_jars(sources: &[Src]) -> String {
    latest_jars(sources)
        .iter()
        .map(|(k, md5, _)| format!("{k}:{md5}\n"))
        .collect()
}

/// An expected output line, or a block of lines whose order is readdir-dependent.
#[derive(Debug, Clone)]
enum Exp {
    L(String),
    Set(Vec<String>),
}

fn line(level: &str, logger: &str, msg: &str) -> String {
    // Section 8: `%5p {%c} - %x %m` with an empty NDC: level right-aligned in 5 columns, then
    // ` {logger} - `, then the empty context and one space, then the message.
    format!("{level:>5} {{{logger}}} -  {msg}")
}
fn info(logger: &str, msg: &str) -> Exp {
    Exp::L(line("INFO", logger, msg))
}
fn warn(logger: &str, msg: &str) -> Exp {
    Exp::L(line("WARN", logger, msg))
}

/// `Patched <own name>(MD5:<md5>)` for each entry of one dir, as a readdir-ordered block.
fn patched(jars: &[&Jar]) -> Exp {
    Exp::Set(
        jars.iter()
            .map(|j| line("INFO", PU, &format!("Patched {}(MD5:{})", j.own, j.md5())))
            .collect(),
    )
}

/// Section 5 step 5: one patch dir applied.
fn applying(name: &str, jars: &[&Jar]) -> Vec<Exp> {
    vec![info(PU, &format!("Applying - {name}")), patched(jars)]
}

/// Section 5 step 4: the latest service pack applied.
fn sp_applying(name: &str, jars: &[&Jar]) -> Vec<Exp> {
    vec![info(PU, &format!("Start applying - {name}")), patched(jars)]
}

fn check_lines(step: &str, what: &str, actual: &[String], expected: &[Exp]) {
    let fail = |why: &str| -> ! {
        let exp: Vec<String> = expected
            .iter()
            .flat_map(|e| match e {
                Exp::L(l) => vec![l.clone()],
                Exp::Set(s) => s
                    .iter()
                    .map(|l| format!("{l}    <any order in block>"))
                    .collect(),
            })
            .collect();
        panic!(
            "{step}: {what}: {why}\n--- expected ---\n{}\n--- actual ---\n{}\n",
            exp.join("\n"),
            actual.join("\n")
        )
    };
    let mut i = 0;
    for e in expected {
        match e {
            Exp::L(l) => {
                if actual.get(i) != Some(l) {
                    fail(&format!(
                        "line {} differs: expected {l:?}, got {:?}",
                        i + 1,
                        actual.get(i)
                    ));
                }
                i += 1;
            }
            Exp::Set(s) => {
                let Some(got) = actual.get(i..i + s.len()) else {
                    fail(&format!("too few lines for the block at line {}", i + 1));
                };
                let mut got = got.to_vec();
                let mut want = s.clone();
                got.sort();
                want.sort();
                if got != want {
                    fail(&format!("block at line {} differs", i + 1));
                }
                i += s.len();
            }
        }
    }
    if i != actual.len() {
        fail(&format!("{} extra line(s)", actual.len() - i));
    }
}

struct Outcome {
    code: Option<i32>,
    log: Vec<String>,
    console: Vec<String>,
    stderr: String,
}

/// Runs `carbon-patcher apply --carbon-home <home>`.
fn run_apply(p: &Product) -> Outcome {
    run_apply_with(p, &[])
}

fn run_apply_with(p: &Product, args: &[&str]) -> Outcome {
    let before = log_len(p);
    let out = p.apply(args);
    Outcome {
        code: out.status.code(),
        log: new_log_lines(p, before),
        console: strip_times(&String::from_utf8_lossy(&out.stdout)),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Everything one step expects.
struct Expect<'a> {
    code: i32,
    log: Vec<Exp>,
    console: Vec<Exp>,
    pre_patched_dir: &'a str,
    /// the dirs the latest-jars map is built from, in section 3 step 4 order; gives
    /// `prePatchedJARs.txt` and, when `applied`, the file times the patched jars must carry
    sources: Vec<Src<'a>>,
    applied: bool,
    plugins: BTreeMap<PathBuf, Vec<u8>>,
    /// names starting with `patch`/`servicepack` in the patches and service-packs dirs
    patch_dirs: &'a [&'a str],
    servicepacks: &'a [&'a str],
}

fn check(
    step: &str,
    p: &Product,
    original: &BTreeMap<PathBuf, Vec<u8>>,
    out: &Outcome,
    exp: &Expect,
) {
    assert_eq!(
        out.code,
        Some(exp.code),
        "{step}: exit code\nstdout: {:?}\nstderr: {}",
        out.console,
        out.stderr
    );
    check_lines(step, "patches.log", &out.log, &exp.log);
    check_lines(step, "console (stdout)", &out.console, &exp.console);
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        exp.pre_patched_dir,
        "{step}: prePatchedDir.txt"
    );
    assert_eq!(
        p.read_metadata("prePatchedJARs.txt"),
        pre_patched_jars(&exp.sources),
        "{step}: prePatchedJARs.txt"
    );
    if exp.applied {
        // Sections 5.4/5.5: a patched file is copied with its time preserved. The launcher uses
        // File.setLastModified, i.e. milliseconds, so compare at that precision. The last writer
        // of a bundle file name decides its time, also where the bytes were already right (the
        // launcher rewrites those too).
        let mut last: BTreeMap<&str, PathBuf> = BTreeMap::new();
        for src in &exp.sources {
            for j in &src.jars {
                last.insert(&j.bundle, src.dir.join(&j.own));
            }
        }
        for (bundle, source) in &last {
            assert_eq!(
                mtime_ms(&p.plugins().join(bundle)),
                mtime_ms(source),
                "{step}: time of plugins/{bundle} must be that of {}",
                source.display()
            );
        }
    }
    let got = files(&p.plugins());
    if got != exp.plugins {
        let names = |m: &BTreeMap<PathBuf, Vec<u8>>| -> Vec<String> {
            m.iter()
                .map(|(k, v)| format!("{} md5={}", k.display(), md5_hex(v)))
                .collect()
        };
        panic!(
            "{step}: plugins differ\nexpected:\n{}\nactual:\n{}",
            names(&exp.plugins).join("\n"),
            names(&got).join("\n")
        );
    }
    assert!(
        files(&p.patches().join("patch0000")) == *original,
        "{step}: patch0000 must equal the original plugins"
    );
    assert_eq!(
        candidates(&p.patches()),
        set(exp.patch_dirs),
        "{step}: patches dir"
    );
    assert_eq!(
        candidates(&p.servicepacks()),
        set(exp.servicepacks),
        "{step}: servicepacks dir"
    );
}

/// A second run right after a step must find nothing to do and change nothing (section 3:
/// unchanged dirs -> "No new patch ...", unchanged jars -> no "added"/"updated", no apply;
/// verification logs only to patches.log when nothing was applied and nothing is wrong).
fn check_nothing_to_do(step: &str, p: &Product) {
    let before = snapshot(&p.components());
    let out = run_apply(p);
    let step = format!("{step} (re-run)");
    assert_eq!(
        out.code,
        Some(0),
        "{step}: exit code\nstderr: {}",
        out.stderr
    );
    check_lines(
        &step,
        "patches.log",
        &out.log,
        &[
            info(PU, "Checking for patch changes ..."),
            info(PU, "No new patch or service pack detected, server will start without applying patches "),
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    );
    check_lines(&step, "console (stdout)", &out.console, &[]);
    assert!(
        snapshot(&p.components()) == before,
        "{step}: the tree changed"
    );
}

fn mtime_ms(path: &Path) -> u128 {
    fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn candidates(dir: &Path) -> BTreeSet<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("patch") || n.starts_with("servicepack"))
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn tree(entries: &[(&str, &[u8])]) -> BTreeMap<PathBuf, Vec<u8>> {
    entries
        .iter()
        .map(|(n, b)| (PathBuf::from(n), b.to_vec()))
        .collect()
}

/// Writes the jars into `dir`, each with its own file time in the past (2016, with milliseconds),
/// so that a copy that does not preserve the time cannot match it by chance.
fn put(dir: &Path, jars: &[&Jar]) {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    for j in jars {
        let path = dir.join(&j.own);
        write(&path, &j.bytes);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = filetime::FileTime::from_unix_time(
            1_456_827_332 + 60 * n,
            123_000_000 + n as u32 * 1_000_000,
        );
        filetime::set_file_mtime(&path, t).unwrap();
    }
}

// Bundle file names (section 4) of the product's plugins and of what the patches add.
const CORE: &str = "org.wso2.carbon.core_4.4.9.jar"; // bucket 15
const REG: &str = "org.wso2.carbon.registry.core_4.4.9.jar"; // bucket 0
const USER: &str = "org.wso2.carbon.user.core_4.4.9.jar"; // bucket 3
const LOGGING: &str = "org.wso2.carbon.logging_4.4.9.jar"; // bucket 10
const AXIS2: &str = "axis2_1.6.1.wso2v16.jar"; // bucket 9
const UTILS: &str = "org.wso2.carbon.utils_4.4.9.jar"; // bucket 15 (same as CORE)
const EXTRA: &str = "org.wso2.carbon.extra.feature_1.0.0.jar"; // bucket 7, added by patch0002
const SPX: &str = "org.wso2.carbon.sp.extra_2.0.0.jar"; // bucket 5, added by servicepack002

#[test]
fn lifecycle() {
    let tmp = tempfile::TempDir::new().unwrap();
    let p = Product::new(
        tmp.path(),
        &[
            ("org.wso2.carbon.core", "4.4.9"),
            ("org.wso2.carbon.registry.core", "4.4.9"),
            ("org.wso2.carbon.user.core", "4.4.9"),
            ("org.wso2.carbon.logging", "4.4.9"),
            ("axis2", "1.6.1.wso2v16"),
            ("org.wso2.carbon.utils", "4.4.9"),
        ],
    );
    let original = files(&p.plugins());
    assert_eq!(original.len(), 6);
    let orig = |name: &str| original[Path::new(name)].clone();
    let log_abs = p.patches_log();
    assert!(log_abs.is_absolute());

    // The patch jars. Own names that differ from the bundle file name are renamed on copy.
    let p1_core = Jar::new(
        "org.wso2.carbon.core-4.4.9.jar",
        "org.wso2.carbon.core",
        "4.4.9",
        "patch0001 core",
    );
    let p1_reg = Jar::new(
        REG,
        "org.wso2.carbon.registry.core",
        "4.4.9",
        "patch0001 registry",
    );
    let p2_user = Jar::new(
        USER,
        "org.wso2.carbon.user.core;singleton:=true",
        "4.4.9",
        "patch0002 user",
    );
    let p2_extra = Jar::new(
        EXTRA,
        "org.wso2.carbon.extra.feature",
        "1.0.0",
        "patch0002 extra",
    );
    let p3_core = Jar::new(CORE, "org.wso2.carbon.core", "4.4.9", "patch0003 core");
    let p3_utils = Jar::new(UTILS, "org.wso2.carbon.utils", "4.4.9", "patch0003 utils");
    // step 3: rebuilt jars, same file names
    let p2_user_v2 = Jar::new(
        USER,
        "org.wso2.carbon.user.core;singleton:=true",
        "4.4.9",
        "patch0002 user, rebuilt",
    );
    let p3_core_v2 = Jar::new(
        CORE,
        "org.wso2.carbon.core",
        "4.4.9",
        "patch0003 core, rebuilt",
    );
    // service packs
    let sp1_core = Jar::new(CORE, "org.wso2.carbon.core", "4.4.9", "servicepack001 core");
    let sp1_reg = Jar::new(
        REG,
        "org.wso2.carbon.registry.core",
        "4.4.9",
        "servicepack001 registry",
    );
    let sp_utils = p3_utils.clone(); // same bytes as patch0003's in both service packs
    let sp2_core = Jar::new(CORE, "org.wso2.carbon.core", "4.4.9", "servicepack002 core");
    let sp2_logging = Jar::new(
        LOGGING,
        "org.wso2.carbon.logging",
        "4.4.9",
        "servicepack002 logging",
    );
    let sp2_spx = Jar::new(
        "sp-extra.jar",
        "org.wso2.carbon.sp.extra",
        "2.0.0",
        "servicepack002 extra",
    );
    let hand = |what: &str| bundle_jar("hand", "0", what); // bytes written by hand in step 8

    let patches = p.patches();
    let (d1, d2, d3) = (
        patches.join("patch0001"),
        patches.join("patch0002"),
        patches.join("patch0003"),
    );
    let sps = p.servicepacks();
    let (sp1, sp2) = (sps.join("servicepack001"), sps.join("servicepack002"));

    // -----------------------------------------------------------------------------------------
    // Step 1: fresh product, patch0001 {core (own name core-4.4.9.jar), registry} and
    // patch0002 {user (singleton), extra.feature (a NEW bundle)}.
    // No prePatchedDir.txt: every apply-order name but patch0000 is new (none exists yet).
    // patch0000 missing: back up plugins (log + console), no "restoring" line. prePatchedDir.txt
    // lists the patch dirs as sorted after the backup, so patch0000 first.
    // Map: core, registry (p1), user, extra (p2) -> order registry(0), user(3), extra(7), core(15).
    // -----------------------------------------------------------------------------------------
    put(&d1, &[&p1_core, &p1_reg]);
    put(&d2, &[&p2_user, &p2_extra]);
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "New patch available - patch0001"),
            info(PU, "New patch available - patch0002"),
            info(PI, "Patch changes detected "),
            info(PU, "Backed up plugins to patch0000"),
            info(PU, "Applying patches ..."),
        ],
        applying("patch0001", &[&p1_core, &p1_reg]),
        applying("patch0002", &[&p2_user, &p2_extra]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    let console_applied_ok = vec![
        info(PI, "Patch changes detected "),
        info(PC, "Patch verification started"),
        info(PC, "Patch verification successfully completed."),
    ];
    let src1 = vec![
        Src {
            dir: d1.clone(),
            jars: vec![&p1_core, &p1_reg],
        },
        Src {
            dir: d2.clone(),
            jars: vec![&p2_user, &p2_extra],
        },
    ];
    let jars1 = pre_patched_jars(&src1);
    assert_eq!(
        jars1,
        format!(
            "{REG}:{}\n{USER}:{}\n{EXTRA}:{}\n{CORE}:{}\n",
            p1_reg.md5(),
            p2_user.md5(),
            p2_extra.md5(),
            p1_core.md5()
        ),
        "hand check of the emulated order"
    );
    check(
        "step 1 (first apply)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: vec![
                info(PI, "Patch changes detected "),
                info(PC, "Backed up plugins to patch0000"),
                info(PC, "Patch verification started"),
                info(PC, "Patch verification successfully completed."),
            ],
            pre_patched_dir: "patch0000\npatch0001\npatch0002\n",
            sources: src1,
            applied: true,
            plugins: tree(&[
                (CORE, &p1_core.bytes),
                (REG, &p1_reg.bytes),
                (USER, &p2_user.bytes),
                (LOGGING, &orig(LOGGING)),
                (AXIS2, &orig(AXIS2)),
                (UTILS, &orig(UTILS)),
                (EXTRA, &p2_extra.bytes),
            ]),
            patch_dirs: &["patch0000", "patch0001", "patch0002"],
            servicepacks: &[],
        },
    );
    check_nothing_to_do("step 1", &p);

    // -----------------------------------------------------------------------------------------
    // Step 2: patch0003 {core (re-patches what patch0001 patched), utils}.
    // Old list [0000, 0001, 0002], apply order [0000, 0001, 0002, 0003]: merge leaves patch0003 new.
    // Backup exists: "restoring bundle backup directory", then every patch dir re-applied.
    // Map: core(p1, replaced by p3: keeps its place), registry, user, extra, utils (appended to
    // bucket 15 after core) -> registry, user, extra, core, utils.
    // -----------------------------------------------------------------------------------------
    put(&d3, &[&p3_core, &p3_utils]);
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "New patch available - patch0003"),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        applying("patch0001", &[&p1_core, &p1_reg]),
        applying("patch0002", &[&p2_user, &p2_extra]),
        applying("patch0003", &[&p3_core, &p3_utils]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    let src2 = vec![
        Src {
            dir: d1.clone(),
            jars: vec![&p1_core, &p1_reg],
        },
        Src {
            dir: d2.clone(),
            jars: vec![&p2_user, &p2_extra],
        },
        Src {
            dir: d3.clone(),
            jars: vec![&p3_core, &p3_utils],
        },
    ];
    let jars2 = pre_patched_jars(&src2);
    assert_eq!(
        jars2,
        format!(
            "{REG}:{}\n{USER}:{}\n{EXTRA}:{}\n{CORE}:{}\n{UTILS}:{}\n",
            p1_reg.md5(),
            p2_user.md5(),
            p2_extra.md5(),
            p3_core.md5(),
            p3_utils.md5()
        ),
        "hand check of the emulated order"
    );
    check(
        "step 2 (new patch0003)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "patch0000\npatch0001\npatch0002\npatch0003\n",
            sources: src2,
            applied: true,
            plugins: tree(&[
                (CORE, &p3_core.bytes),
                (REG, &p1_reg.bytes),
                (USER, &p2_user.bytes),
                (LOGGING, &orig(LOGGING)),
                (AXIS2, &orig(AXIS2)),
                (UTILS, &p3_utils.bytes),
                (EXTRA, &p2_extra.bytes),
            ]),
            patch_dirs: &["patch0000", "patch0001", "patch0002", "patch0003"],
            servicepacks: &[],
        },
    );
    check_nothing_to_do("step 2", &p);

    // -----------------------------------------------------------------------------------------
    // Step 3: two jars rebuilt in place: patch0002's user.core and patch0003's core.
    // Dir lists unchanged -> "No new patch ..." is logged first. Then section 3 step 5 walks the
    // map in iteration order (registry, user, extra, core, utils) and stops at the FIRST changed
    // entry: user.core (bucket 3) -- not core, which is first both by insertion and by name.
    // -----------------------------------------------------------------------------------------
    put(&d2, &[&p2_user_v2]);
    put(&d3, &[&p3_core_v2]);
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "No new patch or service pack detected, server will start without applying patches "),
            info(PU, &format!("{USER} has been updated")),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        applying("patch0001", &[&p1_core, &p1_reg]),
        applying("patch0002", &[&p2_user_v2, &p2_extra]),
        applying("patch0003", &[&p3_core_v2, &p3_utils]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    check(
        "step 3 (jars updated in applied patches)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "patch0000\npatch0001\npatch0002\npatch0003\n",
            sources: vec![
                Src {
                    dir: d1.clone(),
                    jars: vec![&p1_core, &p1_reg],
                },
                Src {
                    dir: d2.clone(),
                    jars: vec![&p2_user_v2, &p2_extra],
                },
                Src {
                    dir: d3.clone(),
                    jars: vec![&p3_core_v2, &p3_utils],
                },
            ],
            applied: true,
            plugins: tree(&[
                (CORE, &p3_core_v2.bytes),
                (REG, &p1_reg.bytes),
                (USER, &p2_user_v2.bytes),
                (LOGGING, &orig(LOGGING)),
                (AXIS2, &orig(AXIS2)),
                (UTILS, &p3_utils.bytes),
                (EXTRA, &p2_extra.bytes),
            ]),
            patch_dirs: &["patch0000", "patch0001", "patch0002", "patch0003"],
            servicepacks: &[],
        },
    );
    check_nothing_to_do("step 3", &p);

    // -----------------------------------------------------------------------------------------
    // Step 4: patch0002 deleted. Merge: patch0003 > patch0002 -> "patch0002 has been reverted".
    // Restore from patch0000 is an overlay: user.core gets its original bytes back, but
    // extra.feature (added by patch0002 under a new bundle name, not in the backup) STAYS.
    // Map: core(p1, then p3), registry, utils -> registry, core, utils.
    // -----------------------------------------------------------------------------------------
    fs::remove_dir_all(&d2).unwrap();
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "patch0002 has been reverted"),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        applying("patch0001", &[&p1_core, &p1_reg]),
        applying("patch0003", &[&p3_core_v2, &p3_utils]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    let src4 = vec![
        Src {
            dir: d1.clone(),
            jars: vec![&p1_core, &p1_reg],
        },
        Src {
            dir: d3.clone(),
            jars: vec![&p3_core_v2, &p3_utils],
        },
    ];
    let jars4 = pre_patched_jars(&src4);
    assert_eq!(
        jars4,
        format!(
            "{REG}:{}\n{CORE}:{}\n{UTILS}:{}\n",
            p1_reg.md5(),
            p3_core_v2.md5(),
            p3_utils.md5()
        ),
        "hand check of the emulated order"
    );
    let plugins_patches_1_3 = tree(&[
        (CORE, &p3_core_v2.bytes),
        (REG, &p1_reg.bytes),
        (USER, &orig(USER)),
        (LOGGING, &orig(LOGGING)),
        (AXIS2, &orig(AXIS2)),
        (UTILS, &p3_utils.bytes),
        (EXTRA, &p2_extra.bytes), // left over from patch0002: overlay restore
    ]);
    check(
        "step 4 (patch0002 removed)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "patch0000\npatch0001\npatch0003\n",
            sources: src4.clone(),
            applied: true,
            plugins: plugins_patches_1_3.clone(),
            patch_dirs: &["patch0000", "patch0001", "patch0003"],
            servicepacks: &[],
        },
    );
    check_nothing_to_do("step 4", &p);

    // -----------------------------------------------------------------------------------------
    // Step 5: servicepack001, listing patch0001 and patch0003; lib = {core (newer), registry
    // (newer), utils (same bytes as patch0003's)}.
    // Apply order [servicepack001, patch0000] (listed patches skipped), old [0000, 0001, 0003].
    // Only the apply order's first starts with "s": "New service pack available", dropped. Merge
    // [0000] vs [0000, 0001, 0003]: leftovers on the old side are logged as reverted (the
    // launcher's quirk: patches now inside the service pack read as "reverted").
    // Apply: restore, "Start applying - servicepack001" + its lib; patch0000 only written;
    // patch0001/0003 skipped. prePatchedDir.txt: servicepack001, patch0000.
    // Map: lib only -> registry, then core/utils in bucket 15 in lib's listing order.
    // -----------------------------------------------------------------------------------------
    put(&sp1.join("lib"), &[&sp1_core, &sp1_reg, &sp_utils]);
    write(
        &sp1.join("servicepack_patches.txt"),
        b"patch0001\npatch0003\n",
    );
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "New service pack available - servicepack001"),
            info(PU, "patch0001 has been reverted"),
            info(PU, "patch0003 has been reverted"),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        sp_applying("servicepack001", &[&sp1_core, &sp1_reg, &sp_utils]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    check(
        "step 5 (servicepack001)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "servicepack001\npatch0000\n",
            sources: vec![Src {
                dir: sp1.join("lib"),
                jars: vec![&sp1_core, &sp1_reg, &sp_utils],
            }],
            applied: true,
            plugins: tree(&[
                (CORE, &sp1_core.bytes),
                (REG, &sp1_reg.bytes),
                (USER, &orig(USER)),
                (LOGGING, &orig(LOGGING)),
                (AXIS2, &orig(AXIS2)),
                (UTILS, &sp_utils.bytes),
                (EXTRA, &p2_extra.bytes),
            ]),
            patch_dirs: &["patch0000", "patch0001", "patch0003"],
            servicepacks: &["servicepack001"],
        },
    );
    check_nothing_to_do("step 5", &p);

    // -----------------------------------------------------------------------------------------
    // Step 6: servicepack002 beside servicepack001 (only the last sorted one counts). Its list
    // uses CRLF line ends (section 2: \r\n ends a line). lib = {core (newer), registry (same as
    // sp1), utils (same), logging (new patch), sp-extra.jar -> org.wso2.carbon.sp.extra_2.0.0.jar
    // (a NEW bundle, renamed on copy)}.
    // Both firsts start with "s" and differ: "<old> has been reverted", then "New service pack
    // available - <new>". Merge [0000] vs [0000]: nothing more.
    // -----------------------------------------------------------------------------------------
    let sp2_jars = [&sp2_core, &sp1_reg, &sp_utils, &sp2_logging, &sp2_spx];
    put(&sp2.join("lib"), &sp2_jars);
    write(
        &sp2.join("servicepack_patches.txt"),
        b"patch0001\r\npatch0003\r\n",
    );
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "servicepack001 has been reverted"),
            info(PU, "New service pack available - servicepack002"),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        sp_applying("servicepack002", &sp2_jars),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    check(
        "step 6 (servicepack002 beside servicepack001)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "servicepack002\npatch0000\n",
            sources: vec![Src {
                dir: sp2.join("lib"),
                jars: sp2_jars.to_vec(),
            }],
            applied: true,
            plugins: tree(&[
                (CORE, &sp2_core.bytes),
                (REG, &sp1_reg.bytes),
                (USER, &orig(USER)),
                (LOGGING, &sp2_logging.bytes),
                (AXIS2, &orig(AXIS2)),
                (UTILS, &sp_utils.bytes),
                (EXTRA, &p2_extra.bytes),
                (SPX, &sp2_spx.bytes),
            ]),
            patch_dirs: &["patch0000", "patch0001", "patch0003"],
            servicepacks: &["servicepack001", "servicepack002"],
        },
    );
    check_nothing_to_do("step 6", &p);

    // -----------------------------------------------------------------------------------------
    // Step 7: both service packs removed (the servicepacks dir stays, empty).
    // Apply order [0000, 0001, 0003] (no service pack: nothing skipped), old [servicepack002,
    // 0000]. Only the old first starts with "s": "servicepack002 has been reverted", dropped.
    // Merge [0000, 0001, 0003] vs [0000]: patch0001 and patch0003 are new.
    // Plugins: restore (core, registry, logging, utils back to original), then patch0001, 0003.
    // Both added bundles (extra.feature from patch0002, sp.extra from servicepack002) stay.
    // -----------------------------------------------------------------------------------------
    fs::remove_dir_all(&sp1).unwrap();
    fs::remove_dir_all(&sp2).unwrap();
    let out = run_apply(&p);
    let log: Vec<Exp> = [
        vec![
            info(PU, "Checking for patch changes ..."),
            info(PU, "servicepack002 has been reverted"),
            info(PU, "New patch available - patch0001"),
            info(PU, "New patch available - patch0003"),
            info(PI, "Patch changes detected "),
            info(PU, "Applying patches ..."),
            info(PU, "restoring bundle backup directory"),
        ],
        applying("patch0001", &[&p1_core, &p1_reg]),
        applying("patch0003", &[&p3_core_v2, &p3_utils]),
        vec![
            info(PU, "Patch verification started"),
            info(PU, "Patch verification successfully completed"),
        ],
    ]
    .concat();
    let mut plugins7 = plugins_patches_1_3.clone();
    plugins7.insert(PathBuf::from(SPX), sp2_spx.bytes.clone());
    check(
        "step 7 (service packs removed)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "patch0000\npatch0001\npatch0003\n",
            sources: src4.clone(),
            applied: true,
            plugins: plugins7.clone(),
            patch_dirs: &["patch0000", "patch0001", "patch0003"],
            servicepacks: &[],
        },
    );
    check_nothing_to_do("step 7", &p);

    // -----------------------------------------------------------------------------------------
    // Step 8: core and registry overwritten by hand in plugins. Nothing else changed: "No new
    // patch ...", no added/updated jar, no apply (so "Patch verification started" only in
    // patches.log). Warnings in map order (registry, core, utils): registry (source patch0001)
    // and core (source patch0003). Console: only the WARN summary with the absolute log path
    // (two spaces after "see"). Metadata rewritten with the same content. Exit code 3.
    // -----------------------------------------------------------------------------------------
    let hand_core = hand("core by hand");
    let hand_reg = hand("registry by hand");
    write(&p.plugins().join(CORE), &hand_core);
    write(&p.plugins().join(REG), &hand_reg);
    let out = run_apply(&p);
    let log = vec![
        info(PU, "Checking for patch changes ..."),
        info(
            PU,
            "No new patch or service pack detected, server will start without applying patches ",
        ),
        info(PU, "Patch verification started"),
        warn(
            PU,
            "Problems found during patch verification. See below for details:",
        ),
        warn(
            PU,
            &format!(
                "{REG}(MD5: {}) has been patched with patch0001, but not applied",
                p1_reg.md5()
            ),
        ),
        warn(
            PU,
            &format!(
                "{CORE}(MD5: {}) has been patched with patch0003, but not applied",
                p3_core_v2.md5()
            ),
        ),
        warn(PU, "Patch verification completed with warnings."),
    ];
    let mut plugins8 = plugins7.clone();
    plugins8.insert(PathBuf::from(CORE), hand_core.clone());
    plugins8.insert(PathBuf::from(REG), hand_reg.clone());
    check(
        "step 8 (plugins changed by hand)",
        &p,
        &original,
        &out,
        &Expect {
            code: 3,
            log,
            console: vec![warn(
                PC,
                &format!(
                    "Patch verification completed with warnings. Please see  {} for more details",
                    log_abs.display()
                ),
            )],
            pre_patched_dir: "patch0000\npatch0001\npatch0003\n",
            sources: src4.clone(),
            applied: false,
            plugins: plugins8,
            patch_dirs: &["patch0000", "patch0001", "patch0003"],
            servicepacks: &[],
        },
    );

    // -----------------------------------------------------------------------------------------
    // Step 9: every patch dir but patch0000 removed. Apply order [0000], old [0000, 0001, 0003]:
    // patch0001 and patch0003 reverted. Apply = restore only (patch0000's name written). The map
    // is empty: prePatchedJARs.txt becomes empty, verification succeeds. Every original plugin is
    // back to its original bytes (this also undoes step 8's hand edits); the two bundles added
    // under new names stay (overlay).
    // -----------------------------------------------------------------------------------------
    fs::remove_dir_all(&d1).unwrap();
    fs::remove_dir_all(&d3).unwrap();
    // The restore would undo step 8's hand edits: refused by default, nothing changed; the
    // launcher's behaviour is asked for by name.
    let before = snapshot(&p.home);
    let refused = run_apply(&p);
    assert_eq!(refused.code, Some(7), "step 9: {}", refused.stderr);
    assert!(refused.stderr.contains(CORE) && refused.stderr.contains(REG));
    assert_eq!(
        snapshot(&p.home),
        before,
        "step 9: a refusal changes nothing"
    );
    let out = run_apply_with(&p, &["--revert-outside-changes"]);
    let log = vec![
        info(PU, "Checking for patch changes ..."),
        info(PU, "patch0001 has been reverted"),
        info(PU, "patch0003 has been reverted"),
        info(PI, "Patch changes detected "),
        info(PU, "Applying patches ..."),
        info(PU, "restoring bundle backup directory"),
        info(PU, "Patch verification started"),
        info(PU, "Patch verification successfully completed"),
    ];
    let mut plugins9 = original.clone();
    plugins9.insert(PathBuf::from(EXTRA), p2_extra.bytes.clone());
    plugins9.insert(PathBuf::from(SPX), sp2_spx.bytes.clone());
    check(
        "step 9 (everything reverted)",
        &p,
        &original,
        &out,
        &Expect {
            code: 0,
            log,
            console: console_applied_ok.clone(),
            pre_patched_dir: "patch0000\n",
            sources: vec![],
            applied: true,
            plugins: plugins9,
            patch_dirs: &["patch0000"],
            servicepacks: &[],
        },
    );
    for (name, bytes) in &original {
        assert_eq!(
            &fs::read(p.plugins().join(name)).unwrap(),
            bytes,
            "step 9: {}",
            name.display()
        );
    }
    check_nothing_to_do("step 9", &p);
}
