//! Shared helpers for the integration tests: real jars built with the `zip` crate, Carbon-like
//! product trees in temp dirs, whole-tree snapshots, and running the built binary.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zip::write::SimpleFileOptions;

/// Deterministic options: fixed time stamp, deflated, so the same call gives the same bytes.
fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
}

/// A jar holding `entries` (name, bytes), in that order.
pub fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, options()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A jar with `META-INF/MANIFEST.MF` = `manifest` plus one payload entry.
pub fn jar_with_manifest(manifest: &str, payload: &str) -> Vec<u8> {
    zip_bytes(&[
        ("META-INF/MANIFEST.MF", manifest.as_bytes()),
        ("payload.txt", payload.as_bytes()),
    ])
}

/// An OSGi bundle jar: `Bundle-SymbolicName: <symbolic>` (may carry `;singleton:=true`),
/// `Bundle-Version: <version>`. `payload` makes jars of the same bundle differ.
pub fn bundle_jar(symbolic: &str, version: &str, payload: &str) -> Vec<u8> {
    let manifest = format!(
        "Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: {symbolic}\r\nBundle-Version: {version}\r\n\r\n"
    );
    jar_with_manifest(&manifest, payload)
}

pub fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Paths of a product home laid out the Carbon default way.
pub struct Product {
    pub home: PathBuf,
}

impl Product {
    /// A product home under `root` with `plugins` holding `bundles` (symbolic name, version), each
    /// as `<name>_<version>.jar`.
    pub fn new(root: &Path, bundles: &[(&str, &str)]) -> Product {
        let home = root.join("product");
        let p = Product { home };
        fs::create_dir_all(p.plugins()).unwrap();
        for (name, version) in bundles {
            p.add_plugin(name, version, "original");
        }
        p
    }
    pub fn components(&self) -> PathBuf {
        self.home.join("repository/components")
    }
    pub fn plugins(&self) -> PathBuf {
        self.components().join("plugins")
    }
    pub fn patches(&self) -> PathBuf {
        self.components().join("patches")
    }
    pub fn servicepacks(&self) -> PathBuf {
        self.components().join("servicepacks")
    }
    pub fn backup_dir(&self) -> PathBuf {
        self.patches().join("patch0000")
    }
    pub fn metadata(&self) -> PathBuf {
        self.patches().join(".metadata")
    }
    pub fn patches_log(&self) -> PathBuf {
        self.home.join("repository/logs/patches.log")
    }
    pub fn add_plugin(&self, name: &str, version: &str, payload: &str) {
        write(
            &self.plugins().join(format!("{name}_{version}.jar")),
            &bundle_jar(name, version, payload),
        );
    }
    /// Writes `patches/<patch>/<file>` as a bundle jar.
    pub fn add_patch_jar(&self, patch: &str, file: &str, name: &str, version: &str, payload: &str) {
        write(
            &self.patches().join(patch).join(file),
            &bundle_jar(name, version, payload),
        );
    }
    /// Writes a service pack dir with `lib/` jars and `servicepack_patches.txt` = `listed` lines.
    pub fn add_servicepack(&self, sp: &str, jars: &[(&str, &str, &str, &str)], listed: &[&str]) {
        let dir = self.servicepacks().join(sp);
        fs::create_dir_all(dir.join("lib")).unwrap();
        for (file, name, version, payload) in jars {
            write(
                &dir.join("lib").join(file),
                &bundle_jar(name, version, payload),
            );
        }
        let mut text = String::new();
        for l in listed {
            text.push_str(l);
            text.push('\n');
        }
        write(&dir.join("servicepack_patches.txt"), text.as_bytes());
    }
    pub fn read_metadata(&self, file: &str) -> String {
        fs::read_to_string(self.metadata().join(file)).unwrap()
    }
    /// `carbon-patcher <command> --carbon-home <home> <args>`.
    pub fn cmd(&self, command: &str, args: &[&str]) -> Output {
        run(&[
            &[command, "--carbon-home", self.home.to_str().unwrap()],
            args,
        ]
        .concat())
    }
    pub fn apply(&self, args: &[&str]) -> Output {
        self.cmd("apply", args)
    }
}

/// Runs the built binary with `args`, `CARBON_HOME` and `CARBON_REPOSITORY` cleared.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
        .args(args)
        .env_remove("CARBON_HOME")
        .env_remove("CARBON_REPOSITORY")
        .output()
        .unwrap()
}

/// The log lines with their `[timestamp] ` prefix cut, for literal comparison.
pub fn strip_times(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.find("] ") {
            Some(i) if l.starts_with('[') => l[i + 2..].to_string(),
            _ => l.to_string(),
        })
        .collect()
}

/// The lines `patches.log` gained since it held `before` bytes, timestamps cut.
pub fn new_log_lines(p: &Product, before: usize) -> Vec<String> {
    let all = fs::read(p.patches_log()).unwrap_or_default();
    strip_times(&String::from_utf8_lossy(&all[before.min(all.len())..]))
}

pub fn log_len(p: &Product) -> usize {
    fs::metadata(p.patches_log())
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// What a tree holds: every path below `root` with its kind, mode, and bytes (files) or link
/// target. Two equal snapshots mean nothing was added, removed or changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        let md = fs::symlink_metadata(e.path()).unwrap();
        let mode = md.permissions().mode();
        let node = if md.file_type().is_symlink() {
            Node::Link(fs::read_link(e.path()).unwrap())
        } else if md.is_dir() {
            Node::Dir(mode)
        } else {
            Node::File(mode, fs::read(e.path()).unwrap())
        };
        out.insert(rel, node);
    }
    out
}

/// Files (relative path → bytes) of one directory tree, for comparing `plugins` states.
pub fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(root)
        .into_iter()
        .filter_map(|(p, n)| match n {
            Node::File(_, b) => Some((p, b)),
            _ => None,
        })
        .collect()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A run's exit status and both outputs, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    )
}

/// Asserts that `shell -n` parses `script` (a syntax check that runs nothing).
pub fn assert_parses(shell: &str, script: &Path) {
    let out = Command::new(shell).arg("-n").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{} -n {}: {}",
        shell,
        script.display(),
        describe(&out)
    );
}

/// Asserts a run exited 0, showing its standard error otherwise.
pub fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `patches.log` lines of a run that finds nothing to do (timestamps cut).
pub const NO_CHANGE_LOG: [&str; 4] = [
    " INFO {org.wso2.carbon.server.util.PatchUtils} -  Checking for patch changes ...",
    " INFO {org.wso2.carbon.server.util.PatchUtils} -  No new patch or service pack detected, server will start without applying patches ",
    " INFO {org.wso2.carbon.server.util.PatchUtils} -  Patch verification started",
    " INFO {org.wso2.carbon.server.util.PatchUtils} -  Patch verification successfully completed",
];

/// A stand-in for a Carbon JVM on `home`: alive, named by `wso2carbon.pid`, its command line
/// carrying `-Dcarbon.home`. Returns once carbon-patcher sees it running.
pub fn fake_server(home: &Path) -> std::process::Child {
    let child = Command::new("sh")
        .args([
            "-c",
            "sleep 60; :",
            "java",
            &format!("-Dcarbon.home={}", home.display()),
        ])
        .spawn()
        .unwrap();
    fs::write(home.join("wso2carbon.pid"), format!("{}\n", child.id())).unwrap();
    let t = std::time::Instant::now();
    while !carbon_patcher::product::server::detect(home).is_running() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "fake server not seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}
