//! Bad-input corpus: odd or hostile input in a product that would otherwise apply fine, each case
//! run through `carbon-patcher apply --carbon-home DIR` with the whole temp dir (the product and
//! anything beside it) snapshotted before and after. `tests/bad_input.rs` holds the one-case-per-
//! refusal tests of spec section 9; this corpus adds the inputs around them: resource bombs,
//! malformed jars, hand-edited metadata, odd `servicepack_patches.txt` files, links and names.
//!
//! Two outcomes:
//! - refused: exit 1, stderr names the offending file (path or file name) and gives the reason,
//!   and the whole temp dir is byte-identical afterwards (no `patches.log`, no metadata, no
//!   `patch0000`, no temporary file);
//! - coped with, as the launcher copes: exit 0 and the result the launcher would leave, derived
//!   by hand from the spec (`carbon-patch-spec.md`) and the launcher's `PatchUtils`,
//!   `PatchInfo` and `FileUtils`, as each test's comment shows. Where a run applies, a second
//!   run must find nothing to do (the launcher started right after us finds nothing to do).
//!
//! | #   | input                                                            | test                                                       | outcome                                                                                                      | exit |
//! |-----|------------------------------------------------------------------|------------------------------------------------------------|--------------------------------------------------------------------------------------------------------------|------|
//! | 1   | ~150 KB jar whose `META-INF/MANIFEST.MF` inflates to 20 MiB      | `manifest_inflating_to_20_mb_is_refused_in_bounded_memory` | refused: manifest larger than 8 MiB (the read stops there); peak RSS of the run < 64 MB                      | 1    |
//! | 2   | stored manifest with one 10 MB header line                       | `manifest_with_a_10_mb_line_is_refused`                    | refused: larger than 8 MiB (the size bound comes before Java's 512-byte line limit)                          | 1    |
//! | 3   | empty file `x.jar` in a patch dir                                | `empty_jar_is_refused`                                     | refused: not a valid jar                                                                                     | 1    |
//! | 4   | jar with two `META-INF/MANIFEST.MF` entries                      | `jar_with_two_manifests_is_refused`                        | refused: two entries with the same name                                                                      | 1    |
//! | 5a  | `servicepack_patches.txt` with CRLF line ends                    | `servicepack_list_with_crlf`                               | applied; both listed patches matched (skipped); `servicepack001\npatch0000\n`                                | 0    |
//! | 5b  | `servicepack_patches.txt` starting with a UTF-8 BOM              | `servicepack_list_with_bom`                                | applied; first listed patch NOT matched (U+FEFF kept), applied too; `servicepack001\npatch0000\npatch0001\n` | 0    |
//! | 5c  | `servicepack_patches.txt` with blank lines                       | `servicepack_list_with_blank_lines`                        | applied; blank lines match nothing; `servicepack001\npatch0000\n`                                            | 0    |
//! | 5d  | `servicepack_patches.txt` with trailing spaces after a name      | `servicepack_list_with_trailing_spaces`                    | applied; that name NOT matched (no trimming), patch applied too; `servicepack001\npatch0000\npatch0001\n`    | 0    |
//! | 6a  | `prePatchedDir.txt` + unknown line `patch9999` at the end        | `pre_patched_dir_unknown_name_at_end`                      | `patch9999 has been reverted`, counted, applied; file rewritten without it                                   | 0    |
//! | 6a' | `prePatchedDir.txt` + unknown line `patch9999` in the middle     | `pre_patched_dir_unknown_name_in_the_middle`               | merge quirk: later names logged new AND reverted; applied; file rewritten                                    | 0    |
//! | 6b  | `prePatchedDir.txt` of blank lines only, nothing else in play    | `pre_patched_dir_blank_lines_only`                         | ` has been reverted` per line, not counted: no apply; file left as it is                                     | 0    |
//! | 6b' | `prePatchedDir.txt` with a blank line among the right names      | `pre_patched_dir_blank_line_among_names`                   | ` has been reverted`, not counted: no apply                                                                  | 0    |
//! | 6c  | `prePatchedDir.txt` of binary garbage (NUL, invalid UTF-8)       | `pre_patched_dir_binary_garbage`                           | decoded with U+FFFD, lines reverted, every dir new: applied; file rewritten                                  | 0    |
//! | 6d  | `prePatchedDir.txt` names a service pack, nothing left           | (in `bad_input.rs`)                                        | refused                                                                                                      | 1    |
//! | 7a  | `prePatchedJARs.txt` with a blank last line (a line without `:`) | `pre_patched_jars_blank_line_is_refused`                   | refused, names the file (bad_input.rs covers a named line that lost its `:`)                                 | 1    |
//! | 7b  | `prePatchedJARs.txt` with one MD5 edited                         | `pre_patched_jars_edited_md5`                              | `<name> has been updated`, applied; file rewritten                                                           | 0    |
//! | 7c  | `prePatchedJARs.txt` with a line for a jar that does not exist   | `pre_patched_jars_line_for_missing_jar`                    | not a change, no apply; file rewritten without it                                                            | 0    |
//! | 7d  | `prePatchedJARs.txt` empty                                       | `pre_patched_jars_empty`                                   | first latest jar in HashMap order `has been added`, applied; file rewritten                                  | 0    |
//! | 8a  | symlink in a patch dir to a jar outside the product              | `symlink_outside_product_is_refused_without_flag`          | refused, suggests `--follow-symlinks`                                                                        | 1    |
//! | 8b  | the same with `--follow-symlinks`                                | `symlink_outside_product_with_follow_symlinks`             | applied: the target's bytes copied as a regular file                                                         | 0    |
//! | 8c  | symlink in a patch dir to a jar inside the product               | `symlink_inside_product_is_followed`                       | applied without the flag                                                                                     | 0    |
//! | 9a  | candidate `servicepack\xff` in the service-packs dir             | `non_utf8_servicepack_name_is_refused`                     | refused: not valid UTF-8                                                                                     | 1    |
//! | 9b  | file `registry\xff.jar` in a service pack's `lib`                | `non_utf8_name_in_servicepack_lib_is_refused`              | refused: not valid UTF-8                                                                                     | 1    |
//! | 10  | manifest `Bundle-SymbolicName` with byte 0xff                    | `non_utf8_bundle_symbolic_name_is_refused`                 | refused: not valid UTF-8                                                                                     | 1    |
//! | 11  | patch dir named `patch0003\nx`                                   | `patch_dir_name_with_newline_is_refused`                   | refused: a line break would corrupt `prePatchedDir.txt`                                                      | 1    |
//! | ctl | each refusal setup without its bad input                         | `control_every_refusal_case_applies_without_its_bad_input` | applied                                                                                                      | 0    |
//!
//! Every refusal setup is built by a `fn(root, bad) -> Product` that differs only by the bad input
//! when `bad` is true; `control_every_refusal_case_applies_without_its_bad_input` runs them all
//! with `bad = false` and expects exit 0, so each refusal is known to come from its bad input.
//!
//! Case 1 measures the run's peak resident set as `VmHWM` of `/proc/<pid>/status`, read while
//! the child, traced, is stopped at its exit (see `apply_measured` for why not `getrusage`).
//!
//! Assumption: the launcher's JVM reads text files as UTF-8 (`file.encoding`, the default on a
//! UTF-8 locale and always from Java 18), so undecodable bytes become U+FFFD and a BOM stays
//! U+FEFF. The garbage of case 6c uses only bytes that are each one malformed sequence (NUL is
//! fine; 0x80..0xBF, 0xC0, 0xC1, 0xFE, 0xFF), where Java's decoder and Rust's
//! `String::from_utf8_lossy` agree on one U+FFFD per byte.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{bundle_jar, md5_hex, snapshot, write, zip_bytes, Node, Product, NO_CHANGE_LOG};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Running the binary, with its peak memory
// ---------------------------------------------------------------------------------------------

const CORE: &str = "org.wso2.carbon.core";
const USER: &str = "org.wso2.carbon.user.core";
const REGISTRY: &str = "org.wso2.carbon.registry.core";
const UTILS: &str = "org.wso2.carbon.utils";
const V: &str = "4.4.9";

/// One finished run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident set size of the carbon-patcher image in KiB, when measured.
    peak_rss_kib: Option<u64>,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit status: {:?} (peak RSS {:?} KiB)\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.peak_rss_kib, self.stdout, self.stderr
        )
    }
    fn assert_ok(&self) {
        assert_eq!(self.code, Some(0), "{}", self.describe());
    }
}

fn command(p: &Product, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carbon-patcher"));
    cmd.arg("apply")
        .arg("--carbon-home")
        .arg(&p.home)
        .args(args)
        .env_remove("CARBON_HOME")
        .env_remove("CARBON_REPOSITORY");
    cmd
}

/// `carbon-patcher apply --carbon-home <home> <args>`, `CARBON_HOME` and `CARBON_REPOSITORY`
/// cleared.
fn apply(p: &Product, args: &[&str]) -> Run {
    let out = command(p, args).output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_rss_kib: None,
    }
}

fn wait(pid: libc::pid_t) -> libc::c_int {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: plain FFI call with a valid pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "waitpid: {e}");
    }
}

fn ptrace_cont(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: plain FFI call on our own traced child.
    let r = unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long) };
    assert_eq!(r, 0, "PTRACE_CONT: {}", std::io::Error::last_os_error());
}

/// `VmHWM` of `/proc/<pid>/status`: the peak resident set of the process's current image, in KiB.
fn vm_hwm_kib(pid: libc::pid_t) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"));
    line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// [`apply`], measuring the run's peak resident set. `getrusage`/`wait4` cannot give it: at
/// `execve` the kernel folds the peak of the address space being replaced into the new image's
/// `maxrss`, and `Command` spawns with `vfork`, so the test process's own peak (this corpus
/// builds 10–20 MB inputs) would leak into the number. `VmHWM` is per address space, so it is
/// exact, but it is gone once the process has exited, and polling can miss the last moments.
/// So the child is traced (`PTRACE_TRACEME`) and stopped at its exit (`PTRACE_O_TRACEEXIT`),
/// where its address space still exists, and `VmHWM` is read there.
fn apply_measured(p: &Product, args: &[&str]) -> Run {
    let mut cmd = command(p, args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    // The traced child stops with SIGTRAP once its execve has succeeded.
    let status = wait(pid);
    assert!(
        libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP,
        "expected the post-exec stop, got status {status:#x}"
    );
    // SAFETY: plain FFI call on our own stopped, traced child.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            (libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL) as libc::c_long,
        )
    };
    assert_eq!(
        r,
        0,
        "PTRACE_SETOPTIONS: {}",
        std::io::Error::last_os_error()
    );
    ptrace_cont(pid, 0);
    let mut peak = None;
    let status = loop {
        let status = wait(pid);
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break status;
        }
        assert!(libc::WIFSTOPPED(status), "status {status:#x}");
        if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)) {
            peak = Some(vm_hwm_kib(pid));
            ptrace_cont(pid, 0);
        } else {
            // A signal for the child: deliver it.
            ptrace_cont(pid, libc::WSTOPSIG(status));
        }
    };
    // Reaped by hand: `child` must not be waited for again (dropping a `Child` does not wait).
    drop(child);
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        peak_rss_kib: peak,
    }
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

/// A product with four plugins, `patch0001` (core) and `patch0002` (user.core), and, with `sp`,
/// `servicepack001` whose lib holds core and registry.core and which lists `patch0001`.
fn base(root: &Path, sp: bool) -> Product {
    let p = Product::new(root, &[(CORE, V), (USER, V), (REGISTRY, V), (UTILS, V)]);
    p.add_patch_jar("patch0001", &jar_name(CORE), CORE, V, "patch0001");
    p.add_patch_jar("patch0002", &jar_name(USER), USER, V, "patch0002");
    if sp {
        p.add_servicepack(
            "servicepack001",
            &[
                (&jar_name(CORE), CORE, V, "servicepack001"),
                (&jar_name(REGISTRY), REGISTRY, V, "servicepack001"),
            ],
            &["patch0001"],
        );
    }
    p
}

fn jar_name(symbolic: &str) -> String {
    format!("{symbolic}_{V}.jar")
}

/// One successful run, so that `patch0000`, `.metadata` and `patches.log` exist.
fn applied(p: Product) -> Product {
    apply(&p, &[]).assert_ok();
    p
}

fn file(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn utils(msg: &str) -> String {
    format!(" INFO {{org.wso2.carbon.server.util.PatchUtils}} -  {msg}")
}

fn installer(msg: &str) -> String {
    format!(" INFO {{org.wso2.carbon.server.extensions.PatchInstaller}} -  {msg}")
}

fn patched(entry: &str, bytes: &[u8]) -> String {
    utils(&format!("Patched {entry}(MD5:{})", md5_hex(bytes)))
}

/// The `patches.log` lines of an apply of `base(_, false)` after its first apply (spec 5: the
/// backup exists, so restore, then each patch dir in order; one entry each, so no readdir
/// order question), through a clean verification.
fn restore_and_patch_log() -> Vec<String> {
    vec![
        utils("Applying patches ..."),
        utils("restoring bundle backup directory"),
        utils("Applying - patch0001"),
        patched(&jar_name(CORE), &bundle_jar(CORE, V, "patch0001")),
        utils("Applying - patch0002"),
        patched(&jar_name(USER), &bundle_jar(USER, V, "patch0002")),
        utils("Patch verification started"),
        utils("Patch verification successfully completed"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Java HashMap order (spec section 6), for the few keys these tests use: fewer than 13 keys
// stay in the first 16-bucket table, so the order is bucket index (hash spread & 15), then
// insertion order within a bucket, a replaced key keeping its place. Independent of the engine.
// ---------------------------------------------------------------------------------------------

fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

fn bucket16(s: &str) -> usize {
    let h = java_hash(s) as u32;
    ((h ^ (h >> 16)) & 15) as usize
}

/// `put`s in order, then iterates: the map's `(key, value)` pairs in Java's iteration order.
fn java_map_order(puts: &[(String, String)]) -> Vec<(String, String)> {
    let mut inserted: Vec<(String, String)> = Vec::new();
    for (k, v) in puts {
        match inserted.iter_mut().find(|(ik, _)| ik == k) {
            Some(slot) => slot.1 = v.clone(),
            None => inserted.push((k.clone(), v.clone())),
        }
    }
    assert!(inserted.len() <= 12, "more than 12 keys resize the table");
    // A stable sort keeps insertion order within a bucket.
    inserted.sort_by_key(|(k, _)| bucket16(k));
    inserted
}

/// The launcher's latest-jars puts for `dirs` (the service pack's lib, then the patch dirs in
/// play, in order): each dir's entries in readdir order (what `File.listFiles` returns, read
/// here with `fs::read_dir` like the engine), keyed by file name. Every jar these tests put in
/// a patch dir or lib is already named `<symbolic>_<version>.jar`, so the bundle file name is
/// the file name.
fn latest_puts(dirs: &[PathBuf]) -> Vec<(String, String)> {
    let mut puts = Vec::new();
    for d in dirs {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            puts.push((name, md5_hex(&file(&e.path()))));
        }
    }
    puts
}

/// `prePatchedJARs.txt` as the launcher writes it for `dirs`.
fn expected_jars_file(dirs: &[PathBuf]) -> String {
    java_map_order(&latest_puts(dirs))
        .into_iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tree comparisons
// ---------------------------------------------------------------------------------------------

type Snapshot = BTreeMap<PathBuf, Node>;

/// carbon-patcher's own state dir (its digest cache, keyed by inodes and change times, learns
/// whenever a run reads a settled file): not the product.
const STATE: &str = "repository/.carbon-patcher";

/// Paths added, removed or changed between two snapshots.
fn diff(before: &Snapshot, after: &Snapshot) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for (k, v) in before {
        if after.get(k) != Some(v) {
            out.insert(k.clone());
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.insert(k.clone());
        }
    }
    out
}

/// Asserts that exactly `expected` (relative to `root`) changed between the snapshots.
/// A run that succeeds may also leave its digest cache in the state dir: left out here (a refused
/// run must not write even that).
fn assert_changed(root: &Path, before: &Snapshot, after: &Snapshot, expected: &[&str]) {
    let mut got = diff(before, after);
    got.retain(|p| !p.to_string_lossy().contains(STATE));
    let want: BTreeSet<PathBuf> = expected.iter().map(PathBuf::from).collect();
    assert_eq!(got, want, "changed paths under {}", root.display());
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

type Setup = fn(&Path, bool) -> Product;

/// Builds the product with the bad input, snapshots the whole temp dir, runs `apply` with
/// `args`, and checks the refusal: exit code 1, stderr holding one of `names` (the offending
/// file, as a path or file name) and one of `reasons` (case-insensitive), an unchanged tree.
/// Returns the run for further checks.
fn assert_refused(setup: Setup, args: &[&str], names: &[&str], reasons: &[&str]) -> Run {
    assert_refused_with(apply, setup, args, names, reasons)
}

/// [`assert_refused`], running the binary with `runner`.
fn assert_refused_with(
    runner: fn(&Product, &[&str]) -> Run,
    setup: Setup,
    args: &[&str],
    names: &[&str],
    reasons: &[&str],
) -> Run {
    let tmp = TempDir::new().unwrap();
    let p = setup(tmp.path(), true);
    let before = snapshot(tmp.path());
    let run = runner(&p, args);
    assert_eq!(
        run.code,
        Some(1),
        "expected a refusal with exit code 1\n{}",
        run.describe()
    );
    assert!(
        names.iter().any(|n| run.stderr.contains(n)),
        "stderr should name the offending file (one of {names:?})\n{}",
        run.describe()
    );
    let lower = run.stderr.to_lowercase();
    assert!(
        reasons.iter().any(|r| lower.contains(&r.to_lowercase())),
        "stderr should give the reason (one of {reasons:?})\n{}",
        run.describe()
    );
    let after = snapshot(tmp.path());
    let changed = diff(&before, &after);
    assert!(
        changed.is_empty(),
        "a refused run must not write anything; changed: {changed:?}\n{}",
        run.describe()
    );
    run
}

/// A jar of `UTILS` whose manifest is the bundle headers followed by `filler` bytes of
/// repeated `X-Filler:` header lines (each a valid 78-byte line; Java keeps the last), then the
/// empty line that ends the main section. Streamed into the writer, `method` as given.
fn filler_manifest_jar(filler: usize, method: zip::CompressionMethod) -> Vec<u8> {
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(zip::DateTime::default())
        .large_file(false);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("META-INF/MANIFEST.MF", opts).unwrap();
    w.write_all(
        format!(
            "Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: {UTILS}\r\nBundle-Version: {V}\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let line = format!("X-Filler: {}\r\n", "0123456789abcdef".repeat(4));
    let chunk = line.repeat(1 << 14); // ~1.2 MB per write
    let mut written = 0;
    while written + chunk.len() <= filler {
        w.write_all(chunk.as_bytes()).unwrap();
        written += chunk.len();
    }
    while written < filler {
        w.write_all(line.as_bytes()).unwrap();
        written += line.len();
    }
    w.write_all(b"\r\n").unwrap();
    w.start_file("payload.txt", opts).unwrap();
    w.write_all(b"patch0003").unwrap();
    w.finish().unwrap().into_inner()
}

const MANIFEST_BOMB_BYTES: usize = 20 * 1024 * 1024;

/// Case 1. After one apply; `patch0003/bomb.jar` holds a manifest deflated from ~20 MB (a small
/// file: the point is what it inflates to). Without `bad` the manifest has 10 KB of filler.
fn inflating_manifest(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    let filler = if bad { MANIFEST_BOMB_BYTES } else { 10 * 1024 };
    let jar = filler_manifest_jar(filler, zip::CompressionMethod::Deflated);
    if bad {
        assert!(
            jar.len() < 1024 * 1024,
            "the bomb should be small on disk: {} bytes",
            jar.len()
        );
    }
    write(&p.patches().join("patch0003/bomb.jar"), &jar);
    p
}

/// Case 2. First run; `patch0003/long-line.jar` has a stored manifest whose `Bundle-Description`
/// is one 10 MB line; without `bad` the description is short.
fn manifest_10_mb_line(root: &Path, bad: bool) -> Product {
    let p = base(root, false);
    let description = if bad {
        "d".repeat(10 * 1024 * 1024)
    } else {
        "short".to_string()
    };
    let manifest = format!(
        "Manifest-Version: 1.0\r\nBundle-SymbolicName: {UTILS}\r\nBundle-Version: {V}\r\nBundle-Description: {description}\r\n\r\n"
    );
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("META-INF/MANIFEST.MF", opts).unwrap();
    w.write_all(manifest.as_bytes()).unwrap();
    let jar = w.finish().unwrap().into_inner();
    write(&p.patches().join("patch0003/long-line.jar"), &jar);
    p
}

/// Case 3. After one apply with a service pack; `patch0003/x.jar` is empty (0 bytes).
fn empty_jar(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    let jar = if bad {
        Vec::new()
    } else {
        bundle_jar(UTILS, V, "patch0003")
    };
    write(&p.patches().join("patch0003/x.jar"), &jar);
    p
}

/// A jar with two `META-INF/MANIFEST.MF` entries: the first names `UTILS`, the second
/// `org.evil`, so which one a reader takes decides the bundle file name. The `zip` crate
/// refuses to write a duplicate name ("Duplicate filename"), so when it does, the jar is written
/// with the second entry named `META-INF/MANIFEST.MX` and that name is patched to `.MF` in both
/// its local header and its central-directory record (same length, so no offset moves; the
/// name is not covered by the CRC). Without `dup`, that jar is returned unpatched (valid).
fn two_manifests_jar(dup: bool) -> Vec<u8> {
    let good = format!(
        "Manifest-Version: 1.0\r\nBundle-SymbolicName: {UTILS}\r\nBundle-Version: {V}\r\n\r\n"
    );
    let evil =
        "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.evil\r\nBundle-Version: 6.6.6\r\n\r\n";
    if dup {
        let opts = zip::write::SimpleFileOptions::default();
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("META-INF/MANIFEST.MF", opts).unwrap();
        w.write_all(good.as_bytes()).unwrap();
        if w.start_file("META-INF/MANIFEST.MF", opts).is_ok() {
            w.write_all(evil.as_bytes()).unwrap();
            return w.finish().unwrap().into_inner();
        }
    }
    let mut jar = zip_bytes(&[
        ("META-INF/MANIFEST.MF", good.as_bytes()),
        ("META-INF/MANIFEST.MX", evil.as_bytes()),
    ]);
    if dup {
        let pat = b"META-INF/MANIFEST.MX";
        let at: Vec<usize> = jar
            .windows(pat.len())
            .enumerate()
            .filter(|(_, w)| w == pat)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            at.len(),
            2,
            "the name appears once in the local header, once in the central directory"
        );
        for i in at {
            jar[i + pat.len() - 1] = b'F';
        }
        assert!(!jar.windows(pat.len()).any(|w| w == pat));
    }
    jar
}

/// Case 4. First run with a service pack; `patch0003/twice.jar` has two manifests.
fn two_manifests(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    write(
        &p.patches().join("patch0003/twice.jar"),
        &two_manifests_jar(bad),
    );
    p
}

/// Case 7a. After one apply with a service pack and nothing changed since (so the launcher reads
/// `prePatchedJARs.txt`, spec 3 step 5): with `bad`, a blank line is appended. The launcher's
/// `readJarsWithMD5` does `line.substring(0, line.indexOf(":"))` on it and throws
/// StringIndexOutOfBoundsException.
fn pre_patched_jars_blank_line(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    if bad {
        let path = p.metadata().join("prePatchedJARs.txt");
        let mut text = file(&path);
        assert!(text.ends_with(b"\n"));
        text.push(b'\n');
        fs::write(&path, text).unwrap();
    }
    p
}

/// Case 8. After one apply; `patch0003/utils-hotfix.jar` is, with `bad`, a symbolic link to
/// `<tmp>/outside/utils-hotfix.jar` (beside the product, not in it); without, a copy of it.
fn symlink_outside(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    let jar = bundle_jar(UTILS, V, "from outside");
    let outside = root.join("outside/utils-hotfix.jar");
    write(&outside, &jar);
    let entry = p.patches().join("patch0003/utils-hotfix.jar");
    if bad {
        fs::create_dir_all(entry.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, &entry).unwrap();
    } else {
        write(&entry, &jar);
    }
    p
}

/// Case 9a. After one apply with `servicepack001`; a complete new service pack whose name is
/// `servicepack\xff` (without `bad`: `servicepack002`). It would be the latest.
fn non_utf8_servicepack_name(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    let name: &[u8] = if bad {
        b"servicepack\xff"
    } else {
        b"servicepack002"
    };
    let dir = p.servicepacks().join(OsStr::from_bytes(name));
    write(
        &dir.join("lib").join(jar_name(CORE)),
        &bundle_jar(CORE, V, "servicepack002"),
    );
    write(&dir.join("servicepack_patches.txt"), b"patch0001\n");
    p
}

/// Case 9b. First run; the service pack's lib also holds a good bundle jar whose file name has
/// byte 0xff (`registry\xff.jar`; without `bad`: `registry.jar`).
fn non_utf8_name_in_servicepack_lib(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    let name: &[u8] = if bad {
        b"registry\xff.jar"
    } else {
        b"registry.jar"
    };
    write(
        &p.servicepacks()
            .join("servicepack001/lib")
            .join(OsStr::from_bytes(name)),
        &bundle_jar(REGISTRY, V, "servicepack001-hotfix"),
    );
    p
}

/// Case 10. After one apply; `patch0003/utils-latin1.jar`'s manifest has byte 0xff in its
/// `Bundle-SymbolicName` (a Latin-1 editor's work). Java would decode it to U+FFFD and name the
/// plugin after that; we refuse.
fn non_utf8_symbolic_name(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    let sym: &[u8] = if bad {
        b"org.wso2.carbon.ut\xffils"
    } else {
        b"org.wso2.carbon.utils"
    };
    let mut manifest = b"Manifest-Version: 1.0\r\nBundle-SymbolicName: ".to_vec();
    manifest.extend_from_slice(sym);
    manifest.extend_from_slice(format!("\r\nBundle-Version: {V}\r\n\r\n").as_bytes());
    write(
        &p.patches().join("patch0003/utils-latin1.jar"),
        &zip_bytes(&[
            ("META-INF/MANIFEST.MF", &manifest),
            ("payload.txt", b"patch0003"),
        ]),
    );
    p
}

/// Case 11. After one apply; a new patch dir named `patch0003\nx` (without `bad`:
/// `patch0003-x`). Written to `prePatchedDir.txt`, it would read back as two lines.
fn newline_in_patch_dir_name(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    let name = if bad { "patch0003\nx" } else { "patch0003-x" };
    p.add_patch_jar(name, &jar_name(UTILS), UTILS, V, "patch0003");
    p
}

const ALL: &[(&str, Setup)] = &[
    ("inflating_manifest", inflating_manifest),
    ("manifest_10_mb_line", manifest_10_mb_line),
    ("empty_jar", empty_jar),
    ("two_manifests", two_manifests),
    ("pre_patched_jars_blank_line", pre_patched_jars_blank_line),
    ("symlink_outside", symlink_outside),
    ("non_utf8_servicepack_name", non_utf8_servicepack_name),
    (
        "non_utf8_name_in_servicepack_lib",
        non_utf8_name_in_servicepack_lib,
    ),
    ("non_utf8_symbolic_name", non_utf8_symbolic_name),
    ("newline_in_patch_dir_name", newline_in_patch_dir_name),
];

/// Every refusal setup, built without its bad input, applies with exit code 0.
#[test]
fn control_every_refusal_case_applies_without_its_bad_input() {
    let mut failures = Vec::new();
    for (label, setup) in ALL {
        let tmp = TempDir::new().unwrap();
        let p = setup(tmp.path(), false);
        let run = apply(&p, &[]);
        if run.code != Some(0) {
            failures.push(format!("{label}: {}", run.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "good variants refused:\n{}",
        failures.join("\n\n")
    );
}

const UTF8: &[&str] = &["utf-8", "utf8", "unicode"];

/// Case 1. The engine bounds its read of a manifest entry at 8 MiB (`bundle::MAX_MANIFEST_BYTES`)
/// and refuses beyond; the launcher's `JarFile.getManifest` would read all ~20 MB into memory.
/// The run must stay small: peak RSS < 64 MB (it needs at most the 8 MiB buffer and change).
#[test]
fn manifest_inflating_to_20_mb_is_refused_in_bounded_memory() {
    let run = assert_refused_with(
        apply_measured,
        inflating_manifest,
        &[],
        &["bomb.jar"],
        &["larger than", "8388608", "8 MiB", "too large", "size"],
    );
    let peak = run.peak_rss_kib.expect("measured at the exit stop");
    assert!(
        peak > 0 && peak * 1024 < 64_000_000,
        "peak RSS {peak} KiB, expected under 64 MB\n{}",
        run.describe()
    );
}

/// Case 2. Java's manifest reader takes lines of at most 512 bytes ("line too long"); this one
/// is also over the 8 MiB bound. Either reason will do.
#[test]
fn manifest_with_a_10_mb_line_is_refused() {
    assert_refused(
        manifest_10_mb_line,
        &[],
        &["long-line.jar"],
        &["too long", "larger than", "8388608", "too large", "size"],
    );
}

/// Case 3. `new JarFile` on an empty file throws ZipException (zip file is empty).
#[test]
fn empty_jar_is_refused() {
    assert_refused(empty_jar, &[], &["x.jar"], &["not a valid jar"]);
}

/// Case 4. Which of two same-named entries a reader takes is not defined (the launcher and the
/// server's OSGi framework could read different manifests).
#[test]
fn jar_with_two_manifests_is_refused() {
    assert_refused(two_manifests, &[], &["twice.jar"], &["same name"]);
}

/// Case 7a. A blank line is a line without `:`.
#[test]
fn pre_patched_jars_blank_line_is_refused() {
    assert_refused(
        pre_patched_jars_blank_line,
        &[],
        &["prePatchedJARs.txt"],
        &[
            "':'",
            "`:`",
            "\":\"",
            "colon",
            "no :",
            "without :",
            "missing :",
            "separator",
            "malformed",
        ],
    );
}

/// Case 8a. A link leading out of the product is refused unless asked for, and the message says
/// how to ask.
#[test]
fn symlink_outside_product_is_refused_without_flag() {
    let run = assert_refused(
        symlink_outside,
        &[],
        &["utils-hotfix.jar"],
        &["symbolic link", "symlink"],
    );
    assert!(
        run.stderr.contains("--follow-symlinks"),
        "the refusal should suggest --follow-symlinks\n{}",
        run.describe()
    );
}

/// Case 9a.
#[test]
fn non_utf8_servicepack_name_is_refused() {
    assert_refused(
        non_utf8_servicepack_name,
        &[],
        &["servicepacks/servicepack"],
        UTF8,
    );
}

/// Case 9b.
#[test]
fn non_utf8_name_in_servicepack_lib_is_refused() {
    assert_refused(
        non_utf8_name_in_servicepack_lib,
        &[],
        &["lib/registry"],
        UTF8,
    );
}

/// Case 10.
#[test]
fn non_utf8_bundle_symbolic_name_is_refused() {
    assert_refused(non_utf8_symbolic_name, &[], &["utils-latin1.jar"], UTF8);
}

/// Case 11.
#[test]
fn patch_dir_name_with_newline_is_refused() {
    assert_refused(
        newline_in_patch_dir_name,
        &[],
        &["patch0003"],
        &["line break", "newline", "new line"],
    );
}

// ---------------------------------------------------------------------------------------------
// Case 8b, 8c: links the engine follows, as Java's File does
// ---------------------------------------------------------------------------------------------

/// Case 8b. With `--follow-symlinks` the link is followed as the launcher follows it
/// (`FileInputStream` opens the target): `patch0003` is new (spec 3: `New patch available -
/// patch0003`), applied after the restore; the entry's bundle name comes from the target's
/// manifest, its bytes are the target's, and `plugins` gets a regular file, not a link.
#[test]
fn symlink_outside_product_with_follow_symlinks() {
    let tmp = TempDir::new().unwrap();
    let p = symlink_outside(tmp.path(), true);
    let target = tmp.path().join("outside/utils-hotfix.jar");
    let jar = bundle_jar(UTILS, V, "from outside");
    let len = common::log_len(&p);
    let run = apply(&p, &["--follow-symlinks"]);
    run.assert_ok();
    let mut want = vec![
        utils("Checking for patch changes ..."),
        utils("New patch available - patch0003"),
        installer("Patch changes detected "),
    ];
    let mut tail = restore_and_patch_log();
    tail.insert(6, utils("Applying - patch0003"));
    tail.insert(7, patched("utils-hotfix.jar", &jar));
    want.extend(tail);
    assert_eq!(common::new_log_lines(&p, len), want);
    let plugin = p.plugins().join(jar_name(UTILS));
    assert_eq!(file(&plugin), jar);
    assert!(!fs::symlink_metadata(&plugin)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(file(&target), jar, "the link's target is left alone");
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\npatch0002\npatch0003\n"
    );
    // Latest jars: patch0001's core, patch0002's user, then utils under its bundle name.
    let puts = vec![
        (jar_name(CORE), md5_hex(&bundle_jar(CORE, V, "patch0001"))),
        (jar_name(USER), md5_hex(&bundle_jar(USER, V, "patch0002"))),
        (jar_name(UTILS), md5_hex(&jar)),
    ];
    let want_jars: String = java_map_order(&puts)
        .into_iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect();
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), want_jars);
    // The launcher right after finds nothing to do.
    let len = common::log_len(&p);
    apply(&p, &["--follow-symlinks"]).assert_ok();
    assert_eq!(common::new_log_lines(&p, len), NO_CHANGE_LOG);
}

/// Case 8c. A relative link to a jar elsewhere in the product home is followed without the
/// flag: the same outcome as a regular file holding the target's bytes.
#[test]
fn symlink_inside_product_is_followed() {
    let tmp = TempDir::new().unwrap();
    let p = applied(base(tmp.path(), false));
    let jar = bundle_jar(UTILS, V, "from inside");
    write(&p.home.join("hotfixes/utils-hotfix.jar"), &jar);
    fs::create_dir_all(p.patches().join("patch0003")).unwrap();
    // From patches/patch0003: .. = patches, ../.. = components, ../../.. = repository,
    // ../../../.. = the home.
    std::os::unix::fs::symlink(
        "../../../../hotfixes/utils-hotfix.jar",
        p.patches().join("patch0003/utils-hotfix.jar"),
    )
    .unwrap();
    let run = apply(&p, &[]);
    run.assert_ok();
    assert_eq!(file(&p.plugins().join(jar_name(UTILS))), jar);
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\npatch0002\npatch0003\n"
    );
    let len = common::log_len(&p);
    apply(&p, &[]).assert_ok();
    assert_eq!(common::new_log_lines(&p, len), NO_CHANGE_LOG);
}

// ---------------------------------------------------------------------------------------------
// Case 5: servicepack_patches.txt variants, first run
// ---------------------------------------------------------------------------------------------

/// Runs a first apply of a product whose `servicepack001` lists `patch0001` and `patch0002` in a
/// `servicepack_patches.txt` of exactly `list`, and checks the result against the spec, given
/// which of the two patch dirs the list fails to match (`unmatched`, in order):
/// - spec 2/3: the apply order is `servicepack001` then the unmatched dirs (`patch0000` does not
///   exist yet); no `prePatchedDir.txt`, so `New service pack available - servicepack001` and
///   `New patch available - X` for each unmatched dir;
/// - spec 5: backup, the service pack's lib, then each unmatched patch dir over it;
///   `prePatchedDir.txt` = the service pack, then `patch0000` and the unmatched dirs sorted;
/// - spec 6: `prePatchedJARs.txt` from the lib then the unmatched dirs, in HashMap order;
/// - a second run finds nothing to do.
fn servicepack_list_case(list: &[u8], unmatched: &[&str]) {
    let tmp = TempDir::new().unwrap();
    let p = base(tmp.path(), false);
    p.add_servicepack(
        "servicepack001",
        &[
            (&jar_name(CORE), CORE, V, "servicepack001"),
            (&jar_name(REGISTRY), REGISTRY, V, "servicepack001"),
        ],
        &[],
    );
    write(
        &p.servicepacks()
            .join("servicepack001/servicepack_patches.txt"),
        list,
    );
    let run = apply(&p, &[]);
    run.assert_ok();

    let log = common::new_log_lines(&p, 0);
    let mut want = vec![
        utils("Checking for patch changes ..."),
        utils("New service pack available - servicepack001"),
    ];
    for u in unmatched {
        want.push(utils(&format!("New patch available - {u}")));
    }
    want.push(installer("Patch changes detected "));
    want.push(utils("Backed up plugins to patch0000"));
    want.push(utils("Applying patches ..."));
    want.push(utils("Start applying - servicepack001"));
    assert_eq!(log[..want.len()], want[..], "{log:#?}");
    for dir in ["patch0001", "patch0002"] {
        assert_eq!(
            log.contains(&utils(&format!("Applying - {dir}"))),
            unmatched.contains(&dir),
            "{dir}: {log:#?}"
        );
    }
    assert_eq!(
        log[log.len() - 2..],
        [
            utils("Patch verification started"),
            utils("Patch verification successfully completed")
        ]
    );

    let mut dir_lines = vec!["servicepack001".to_string(), "patch0000".to_string()];
    dir_lines.extend(unmatched.iter().map(|s| s.to_string()));
    let dir_file: String = dir_lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(p.read_metadata("prePatchedDir.txt"), dir_file);

    // plugins: the service pack's core and registry, then each unmatched patch over them.
    let sp_or = |patch: &str, sym: &str, sp_payload: Option<&str>| {
        if unmatched.contains(&patch) {
            bundle_jar(sym, V, patch)
        } else {
            bundle_jar(sym, V, sp_payload.unwrap_or("original"))
        }
    };
    assert_eq!(
        file(&p.plugins().join(jar_name(CORE))),
        sp_or("patch0001", CORE, Some("servicepack001"))
    );
    assert_eq!(
        file(&p.plugins().join(jar_name(USER))),
        sp_or("patch0002", USER, None)
    );
    assert_eq!(
        file(&p.plugins().join(jar_name(REGISTRY))),
        bundle_jar(REGISTRY, V, "servicepack001")
    );
    assert_eq!(
        file(&p.plugins().join(jar_name(UTILS))),
        bundle_jar(UTILS, V, "original")
    );

    let mut dirs = vec![p.servicepacks().join("servicepack001/lib")];
    dirs.extend(unmatched.iter().map(|u| p.patches().join(u)));
    assert_eq!(
        p.read_metadata("prePatchedJARs.txt"),
        expected_jars_file(&dirs)
    );

    let len = common::log_len(&p);
    apply(&p, &[]).assert_ok();
    assert_eq!(common::new_log_lines(&p, len), NO_CHANGE_LOG);
}

/// Case 5a. `BufferedReader.readLine` ends lines at `\r\n`: both names match.
#[test]
fn servicepack_list_with_crlf() {
    servicepack_list_case(b"patch0001\r\npatch0002\r\n", &[]);
}

/// Case 5b. `FileReader` keeps a BOM as U+FEFF: the first line is "\u{FEFF}patch0001", which is
/// no patch dir's name, so patch0001 is not skipped and is applied over the service pack.
#[test]
fn servicepack_list_with_bom() {
    servicepack_list_case(b"\xef\xbb\xbfpatch0001\npatch0002\n", &["patch0001"]);
}

/// Case 5c. Blank lines are listed as "" and match no dir; the names around them match.
#[test]
fn servicepack_list_with_blank_lines() {
    servicepack_list_case(b"\npatch0001\n\n\npatch0002\n\n", &[]);
}

/// Case 5d. No trimming: "patch0001  " is not "patch0001", so patch0001 is applied too.
#[test]
fn servicepack_list_with_trailing_spaces() {
    servicepack_list_case(b"patch0001  \npatch0002\n", &["patch0001"]);
}

// ---------------------------------------------------------------------------------------------
// Case 6: hand-edited prePatchedDir.txt (after a first apply of `base(_, false)`, whose
// prePatchedDir.txt is `patch0000\npatch0001\npatch0002\n`; apply order now
// [patch0000, patch0001, patch0002])
// ---------------------------------------------------------------------------------------------

/// Writes `content` as `prePatchedDir.txt` of an applied `base(_, false)` product, runs, and
/// checks: exit 0; `detection` lines (spec 3) then `Patch changes detected ` and the restore and
/// both patches (spec 5); the file rewritten to the applied dirs; `prePatchedJARs.txt` and
/// `plugins` as after the first apply; a second run finds nothing to do.
fn pre_patched_dir_case(content: &[u8], detection: &[String]) {
    let tmp = TempDir::new().unwrap();
    let p = applied(base(tmp.path(), false));
    let jars = p.read_metadata("prePatchedJARs.txt");
    let plugins = common::files(&p.plugins());
    fs::write(p.metadata().join("prePatchedDir.txt"), content).unwrap();
    let before = snapshot(tmp.path());
    let len = common::log_len(&p);
    let run = apply(&p, &[]);
    run.assert_ok();
    // The restore and the patches give every file of plugins the bytes it has: only the
    // rewritten prePatchedDir.txt and the log differ (snapshots hold bytes, not times).
    assert_changed(
        tmp.path(),
        &before,
        &snapshot(tmp.path()),
        &[
            "product/repository/components/patches/.metadata/prePatchedDir.txt",
            "product/repository/logs/patches.log",
        ],
    );
    let mut want = vec![utils("Checking for patch changes ...")];
    want.extend(detection.iter().cloned());
    want.push(installer("Patch changes detected "));
    want.extend(restore_and_patch_log());
    assert_eq!(common::new_log_lines(&p, len), want);
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\npatch0002\n"
    );
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), jars);
    assert_eq!(common::files(&p.plugins()), plugins);
    let len = common::log_len(&p);
    apply(&p, &[]).assert_ok();
    assert_eq!(common::new_log_lines(&p, len), NO_CHANGE_LOG);
}

/// Case 6a. Merge (spec 3): the three names match, `patch9999` is left over on the old side:
/// `patch9999 has been reverted`, counted as a removal, so the launcher applies.
#[test]
fn pre_patched_dir_unknown_name_at_end() {
    pre_patched_dir_case(
        b"patch0000\npatch0001\npatch0002\npatch9999\n",
        &[utils("patch9999 has been reverted")],
    );
}

/// Case 6a'. `patch9999` before `patch0001`: patch0000 matches; patch0001 and patch0002 are each
/// smaller than patch9999, so both are "new"; then the old side's leftovers, patch9999,
/// patch0001 and patch0002, are all "reverted" (the launcher's merge assumes a sorted file).
#[test]
fn pre_patched_dir_unknown_name_in_the_middle() {
    pre_patched_dir_case(
        b"patch0000\npatch9999\npatch0001\npatch0002\n",
        &[
            utils("New patch available - patch0001"),
            utils("New patch available - patch0002"),
            utils("patch9999 has been reverted"),
            utils("patch0001 has been reverted"),
            utils("patch0002 has been reverted"),
        ],
    );
}

/// Case 6c. The bytes decode (as Java's `FileReader` does) to two lines,
/// "\0\u{FFFD}\u{FFFD}\u{FFFD}patch\u{FFFD}" and "\u{FFFD}\u{FFFD}(". Neither starts with `s`.
/// Merge: "patch0000" > "\0…" → the first line is reverted (counted); "patch0000", "patch0001",
/// "patch0002" < "\u{FFFD}…" → each new; the second line is left over → reverted.
#[test]
fn pre_patched_dir_binary_garbage() {
    pre_patched_dir_case(
        b"\x00\xff\xfe\x80patch\xbf\n\xc0\xc1(\n",
        &[
            utils("\0\u{FFFD}\u{FFFD}\u{FFFD}patch\u{FFFD} has been reverted"),
            utils("New patch available - patch0000"),
            utils("New patch available - patch0001"),
            utils("New patch available - patch0002"),
            utils("\u{FFFD}\u{FFFD}( has been reverted"),
        ],
    );
}

/// Case 6b. A product with no patch dir and no service pack (apply order empty) whose
/// `prePatchedDir.txt` holds two blank lines. Spec 3: the old list's first line does not start
/// with `s`; the merge has nothing on the new side, so each old line is left over and logged
/// `" has been reverted"` (the empty name), and `PatchInfo.addRemovedPatches` ignores "": not
/// counted, no apply. No `prePatchedJARs.txt` yet, so no jar check; verification writes it
/// (empty map: empty file). Only that file and `patches.log` (with its dir) appear.
#[test]
fn pre_patched_dir_blank_lines_only() {
    let tmp = TempDir::new().unwrap();
    let p = Product::new(tmp.path(), &[(CORE, V), (USER, V)]);
    write(&p.metadata().join("prePatchedDir.txt"), b"\n\n");
    let before = snapshot(tmp.path());
    let run = apply(&p, &[]);
    run.assert_ok();
    assert_eq!(run.stdout, "", "nothing applied, nothing on the console");
    assert_eq!(
        common::new_log_lines(&p, 0),
        [
            utils("Checking for patch changes ..."),
            utils(" has been reverted"),
            utils(" has been reverted"),
            utils("No new patch or service pack detected, server will start without applying patches "),
            utils("Patch verification started"),
            utils("Patch verification successfully completed"),
        ]
    );
    assert_eq!(p.read_metadata("prePatchedDir.txt"), "\n\n");
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), "");
    assert_changed(
        tmp.path(),
        &before,
        &snapshot(tmp.path()),
        &[
            "product/repository/components/patches/.metadata/prePatchedJARs.txt",
            "product/repository/logs",
            "product/repository/logs/patches.log",
        ],
    );
}

/// Case 6b'. A blank line among the right names: the merge compares "patch0001" > "" → logs
/// `" has been reverted"`, not counted; the rest matches. Nothing counted, the jars match
/// `prePatchedJARs.txt`: no apply, and only `patches.log` changes (the file keeps its blank
/// line: the launcher rewrites `prePatchedDir.txt` only when it applies).
#[test]
fn pre_patched_dir_blank_line_among_names() {
    let tmp = TempDir::new().unwrap();
    let p = applied(base(tmp.path(), false));
    fs::write(
        p.metadata().join("prePatchedDir.txt"),
        "patch0000\n\npatch0001\npatch0002\n",
    )
    .unwrap();
    let before = snapshot(tmp.path());
    let len = common::log_len(&p);
    let run = apply(&p, &[]);
    run.assert_ok();
    let mut want: Vec<String> = NO_CHANGE_LOG.iter().map(|s| s.to_string()).collect();
    want.insert(1, utils(" has been reverted"));
    assert_eq!(common::new_log_lines(&p, len), want);
    assert_changed(
        tmp.path(),
        &before,
        &snapshot(tmp.path()),
        &["product/repository/logs/patches.log"],
    );
}

// ---------------------------------------------------------------------------------------------
// Case 7: hand-edited prePatchedJARs.txt, nothing else changed (after a first apply of
// `base(_, false)`: latest jars = patch0001's core, patch0002's user)
// ---------------------------------------------------------------------------------------------

/// Writes `edit(original)` as `prePatchedJARs.txt`, runs, checks the log is the no-change block
/// followed, when `change` is `Some(line)`, by that line, `Patch changes detected ` and the
/// restore and patches; and that the file is rewritten to its original content.
fn pre_patched_jars_case(edit: impl FnOnce(&str) -> String, change: Option<String>) {
    let tmp = TempDir::new().unwrap();
    let p = applied(base(tmp.path(), false));
    let original = p.read_metadata("prePatchedJARs.txt");
    assert_eq!(
        original,
        expected_jars_file(&[p.patches().join("patch0001"), p.patches().join("patch0002")])
    );
    fs::write(p.metadata().join("prePatchedJARs.txt"), edit(&original)).unwrap();
    let before = snapshot(tmp.path());
    let len = common::log_len(&p);
    let run = apply(&p, &[]);
    run.assert_ok();
    let got = common::new_log_lines(&p, len);
    match change {
        None => assert_eq!(got, NO_CHANGE_LOG),
        Some(line) => {
            // Spec 3: "No new patch …" is logged by detection before the jar check.
            let mut want = vec![
                utils("Checking for patch changes ..."),
                utils("No new patch or service pack detected, server will start without applying patches "),
                utils(&line),
                installer("Patch changes detected "),
            ];
            want.extend(restore_and_patch_log());
            assert_eq!(got, want);
        }
    }
    // Applied or not, plugins, patch0000 and prePatchedDir.txt keep their bytes; only the
    // rewritten prePatchedJARs.txt and the log differ.
    assert_changed(
        tmp.path(),
        &before,
        &snapshot(tmp.path()),
        &[
            "product/repository/components/patches/.metadata/prePatchedJARs.txt",
            "product/repository/logs/patches.log",
        ],
    );
    assert_eq!(p.read_metadata("prePatchedJARs.txt"), original);
    let len = common::log_len(&p);
    apply(&p, &[]).assert_ok();
    assert_eq!(common::new_log_lines(&p, len), NO_CHANGE_LOG);
}

/// Case 7b. The user.core line's MD5 is zeroed: core matches, user.core differs, whichever
/// comes first in map order → `… has been updated`, apply.
#[test]
fn pre_patched_jars_edited_md5() {
    let user = jar_name(USER);
    let u = user.clone();
    pre_patched_jars_case(
        move |orig| {
            orig.lines()
                .map(|l| {
                    if l.starts_with(&format!("{u}:")) {
                        format!("{u}:{}\n", "0".repeat(32))
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect()
        },
        Some(format!("{user} has been updated")),
    );
}

/// Case 7c. A line for a jar no patch holds: the launcher only looks up the latest jars in the
/// file, never the reverse, so it is not a change; verification rewrites the file without it.
#[test]
fn pre_patched_jars_line_for_missing_jar() {
    pre_patched_jars_case(
        |orig| format!("{orig}org.wso2.carbon.gone_1.0.0.jar:{}\n", "ab".repeat(16)),
        None,
    );
}

/// Case 7d. An empty file reads as no lines: the first latest jar in HashMap order is not in it
/// → `<it> has been added`, apply.
#[test]
fn pre_patched_jars_empty() {
    let order = java_map_order(&[
        (jar_name(CORE), String::new()),
        (jar_name(USER), String::new()),
    ]);
    pre_patched_jars_case(
        |_| String::new(),
        Some(format!("{} has been added", order[0].0)),
    );
}
