//! A real systemd for the tests of `tests/systemd.rs`: a minimal Debian root file system with
//! systemd, built once by debootstrap and cached under `target/`, booted with `systemd-nspawn`
//! per test with a throwaway layer above it (`--volatile=overlay`: every test starts from the
//! same clean root, and several can run at once), commands run inside it through `nsenter`,
//! and the packages under test (`.deb`) put into it.
//!
//! The host has no systemd and no D-Bus of its own, so nspawn runs with `--register=no
//! --keep-unit`; nothing is registered, so `machinectl` and `systemd-run -M` cannot reach the
//! container: commands enter the namespaces of its PID 1 instead. Every process started here is
//! stopped by its own pid when the [`Container`] is dropped. The package mirror and suite come
//! from the machine's own apt sources.
#![allow(dead_code)] // each test uses a different subset

use std::fs;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The packages of the root file system besides debootstrap's minimal base: systemd as PID 1
/// and its bus, and Python with apt's bindings for the Ansible role's modules. Part of the
/// cache key: changing it builds the root anew.
const PACKAGES: &str = "systemd,systemd-sysv,dbus,python3,python3-apt";
/// Bumped when the preparation of the cached root (below) changes.
const ROOT_VERSION: u32 = 1;
/// The longest any one command inside the container may take.
const COMMAND_TIMEOUT_SECS: u32 = 300;
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where everything of these tests lives: the `systemd` dir of cargo's `CARGO_TARGET_TMPDIR` (under `target/`).
pub fn work_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("systemd");
    fs::create_dir_all(&d).unwrap();
    d
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why this machine cannot run a container at all, if it cannot: then the tests are skipped
/// rather than failed. Anything else that goes wrong (a package that will not install, a
/// container that will not boot) is a failure.
pub fn cannot_run_containers() -> Option<String> {
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: booting a container needs root".into());
    }
    if !Path::new("/proc/self/ns/pid").exists() {
        return Some("the kernel has no namespaces".into());
    }
    if which("systemd-nspawn").is_none() && which("apt-get").is_none() {
        return Some("no systemd-nspawn, and no apt-get to install it".into());
    }
    // The namespaces nspawn needs; refused in an unprivileged sandbox.
    let unshare = Command::new("unshare")
        .args([
            "--pid", "--mount", "--net", "--uts", "--ipc", "--fork", "true",
        ])
        .output();
    match unshare {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "cannot create namespaces (unshare: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// Runs `cmd`, panicking with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An exclusive `flock` on `path`, held while the value lives: the tests of two processes (two
/// `cargo test` runs) build the root and install packages one at a time.
pub struct FileLock(fs::File);

impl FileLock {
    pub fn take(path: &Path) -> FileLock {
        let f = fs::File::create(path).unwrap();
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock(f)
    }
}

/// Installs the Debian packages that provide `tools` (tool, package) when a tool is missing.
pub fn ensure_host_tools(tools: &[(&str, &str)]) {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, _)| which(tool).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    let _lock = FileLock::take(&work_dir().join("apt.lock"));
    eprintln!("systemd tests: installing {}", missing.join(" "));
    run_ok(Command::new("apt-get").args(["update", "-qq"]));
    run_ok(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=300",
            ])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
}

/// The suite, mirror and keyring of the machine's own Debian sources: the first `deb` source of
/// a release suite (not `-updates` or `-security`) in `/etc/apt/sources.list.d/*.sources`
/// (deb822) or `/etc/apt/sources.list`.
pub struct AptSource {
    pub suite: String,
    pub mirror: String,
    pub keyring: Option<PathBuf>,
}

pub fn apt_source() -> AptSource {
    let mut texts = Vec::new();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "sources"))
        {
            texts.push(fs::read_to_string(p).unwrap_or_default());
        }
    }
    for text in &texts {
        if let Some(s) = from_deb822(text) {
            return s;
        }
    }
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    from_one_line(&list).expect(
        "no Debian source with a release suite in /etc/apt/sources.list.d/*.sources or \
         /etc/apt/sources.list: the container's root cannot be built",
    )
}

fn release_suite(s: &str) -> bool {
    !s.is_empty() && !s.contains('-') && !s.contains('/')
}

/// The first stanza of type `deb` with a release suite.
fn from_deb822(text: &str) -> Option<AptSource> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let types = field("Types").unwrap_or_default();
        if !types.split_whitespace().any(|t| t == "deb") {
            continue;
        }
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        let Some(suite) = suites.split_whitespace().find(|s| release_suite(s)) else {
            continue;
        };
        let mirror = uris.split_whitespace().next()?.to_string();
        return Some(AptSource {
            suite: suite.to_string(),
            mirror,
            keyring: field("Signed-By")
                .map(PathBuf::from)
                .filter(|p| p.is_file()),
        });
    }
    None
}

/// `deb [options] URI SUITE COMPONENTS...`
fn from_one_line(text: &str) -> Option<AptSource> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        let mut keyring = None;
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            while let Some(w) = (!rest.is_empty()).then(|| rest.remove(0)) {
                if let Some(k) = w.trim_start_matches('[').strip_prefix("signed-by=") {
                    keyring = Some(PathBuf::from(k.trim_end_matches(']')));
                }
                if w.ends_with(']') {
                    break;
                }
            }
        }
        if let [uri, suite, ..] = rest[..] {
            if release_suite(suite) {
                return Some(AptSource {
                    suite: suite.to_string(),
                    mirror: uri.to_string(),
                    keyring: keyring.filter(|p| p.is_file()),
                });
            }
        }
    }
    None
}

/// The cached root file system: built on first use (about a minute and 300 MB), then reused.
pub fn rootfs() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(build_rootfs).clone()
}

fn build_rootfs() -> PathBuf {
    ensure_host_tools(&[
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
    ]);
    let source = apt_source();
    let key = format!("{}\n{PACKAGES}\nv{ROOT_VERSION}\n", source.suite);
    let base = work_dir().join(&source.suite);
    let root = base.join("root");
    let stamp = base.join("complete");
    fs::create_dir_all(&base).unwrap();
    let _lock = FileLock::take(&base.join("build.lock"));
    if fs::read_to_string(&stamp).ok().as_deref() == Some(&key)
        && root.join("usr/lib/systemd/systemd").exists()
    {
        return root;
    }
    let _ = fs::remove_file(&stamp);
    let partial = base.join("root.partial");
    for d in [&root, &partial] {
        if d.exists() {
            fs::remove_dir_all(d).unwrap();
        }
    }
    let started = Instant::now();
    eprintln!(
        "systemd tests: building a {} root with debootstrap (once; cached in {})",
        source.suite,
        base.display()
    );
    let mut cmd = Command::new("debootstrap");
    cmd.args(["--variant=minbase", &format!("--include={PACKAGES}")]);
    if let Some(k) = &source.keyring {
        cmd.arg(format!("--keyring={}", k.display()));
    }
    cmd.arg(&source.suite).arg(&partial).arg(&source.mirror);
    let out = cmd.output().expect("cannot run debootstrap");
    assert!(
        out.status.success(),
        "debootstrap of {} failed ({}):\n{}{}",
        source.suite,
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 30),
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    prepare_root(&partial);
    fs::rename(&partial, &root).unwrap();
    fs::write(&stamp, key).unwrap();
    eprintln!(
        "systemd tests: root built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    root
}

/// What every container should start from, written once into the cached root.
fn prepare_root(root: &Path) {
    // apt's daily timers are Persistent= and have never run: they would fire at boot, run
    // apt-get update against a network the container does not have, and hold the lock the
    // tests' `apt-get install` needs.
    for timer in ["apt-daily.timer", "apt-daily-upgrade.timer"] {
        let link = root.join("etc/systemd/system").join(timer);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", link).unwrap();
    }
    // The packages are installed from files; apt needs no lists.
    fs::write(
        root.join("etc/apt/apt.conf.d/90carbon-patcher-tests"),
        "APT::Install-Recommends \"false\";\nDpkg::Use-Pty \"false\";\n",
    )
    .unwrap();
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    out.push('\n');
    out
}

/// The packages under test: the `.deb` of this version, and the same files as a newer version
/// for the upgrade.
pub struct Debs {
    pub current: PathBuf,
    pub current_version: String,
    pub newer: PathBuf,
    pub newer_version: String,
}

/// `CARBON_PATCHER_DEB` (a `.deb` that `packaging/deb/build-and-check.sh` just built, as
/// `.ci/run` passes it), else the package built here by that script; and a newer version of
/// it: the same files, only the version raised.
pub fn debs() -> &'static Debs {
    static DEBS: OnceLock<Debs> = OnceLock::new();
    DEBS.get_or_init(|| {
        let _lock = FileLock::take(&work_dir().join("deb.lock"));
        let repo = repo();
        let version = env!("CARGO_PKG_VERSION");
        let built = match std::env::var_os("CARBON_PATCHER_DEB") {
            Some(p) => PathBuf::from(p),
            None => {
                eprintln!("systemd tests: building the .deb (packaging/deb/build-and-check.sh)");
                run_ok(Command::new("bash").arg(repo.join("packaging/deb/build-and-check.sh")));
                let found: Vec<PathBuf> = fs::read_dir(repo.join("target/debian"))
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "deb"))
                    .collect();
                assert_eq!(found.len(), 1, "one .deb in target/debian: {found:?}");
                found[0].clone()
            }
        };
        assert!(built.is_file(), "{} is missing", built.display());
        let dir = work_dir().join("debs");
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
        let current = dir.join(built.file_name().unwrap());
        fs::copy(&built, &current).unwrap();
        let current_version = format!("{version}-1");
        let mut parts: Vec<u64> = version.split('.').map(|n| n.parse().unwrap()).collect();
        *parts.last_mut().unwrap() += 1;
        let parts: Vec<String> = parts.iter().map(|n| n.to_string()).collect();
        let newer_version = format!("{}-1", parts.join("."));
        // The newer one: the same package taken apart and built again with only its version
        // raised (dpkg-deb keeps every file, mode and maintainer script).
        let tree = dir.join("newer-tree");
        run_ok(Command::new("dpkg-deb").arg("-R").arg(&current).arg(&tree));
        let control = tree.join("DEBIAN/control");
        let text = fs::read_to_string(&control).unwrap();
        let want = format!("Version: {current_version}\n");
        assert!(text.contains(&want), "{text}");
        fs::write(
            &control,
            text.replace(&want, &format!("Version: {newer_version}\n")),
        )
        .unwrap();
        let newer = dir.join(format!(
            "carbon-patcher_{newer_version}_{}.deb",
            run_ok(
                Command::new("dpkg-deb")
                    .arg("-f")
                    .arg(&current)
                    .arg("Architecture")
            )
            .trim()
        ));
        run_ok(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-b"])
                .arg(&tree)
                .arg(&newer),
        );
        Debs {
            current,
            current_version,
            newer,
            newer_version,
        }
    })
}

/// A booted container: systemd as its PID 1, on a throwaway layer over the cached root.
pub struct Container {
    pub name: String,
    nspawn: Child,
    /// The container's PID 1 as the host sees it.
    pub pid1: u32,
    log: PathBuf,
    pub booted_in: Duration,
    cgroups: Cgroups,
}

impl Container {
    /// Boots a container named `name` (also its host name), with no network but its loopback.
    pub fn boot(name: &str) -> Container {
        let root = rootfs();
        let started = Instant::now();
        let log = work_dir().join(format!("{name}.nspawn.log"));
        let out = fs::File::create(&log).unwrap();
        let cgroups = Cgroups::create(name);
        // nspawn with --keep-unit stays in the cgroup it was started in, and the container's
        // systemd makes its units' cgroups below that one: two containers in one cgroup would
        // share (and remove) each other's. So each joins a cgroup of its own first.
        let mut cmd = Command::new("/bin/sh");
        cmd.args([
            "-c",
            "for procs in $CGROUPS; do echo $$ >\"$procs\" || exit 1; done; unset CGROUPS; exec \"$@\"",
            "join-cgroups",
            "systemd-nspawn",
            "--directory",
        ])
        .arg(&root)
        .args([
            // The cached root stays as it is: everything written goes to a tmpfs above it.
            "--volatile=overlay",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=passive",
            "--private-network",
            &format!("--machine={name}"),
        ])
        .env("CGROUPS", cgroups.procs_files())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out));
        // SAFETY: setsid in the child before exec: a session of its own, away from the test's
        // terminal and signals.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let nspawn = cmd.spawn().expect("cannot run systemd-nspawn");
        let mut c = Container {
            name: name.to_string(),
            pid1: 0,
            nspawn,
            log,
            booted_in: Duration::ZERO,
            cgroups,
        };
        c.pid1 = c.wait_for_pid1();
        c.wait_for_boot();
        c.booted_in = started.elapsed();
        c
    }

    /// The `systemd` child of nspawn.
    fn wait_for_pid1(&mut self) -> u32 {
        let t = Instant::now();
        loop {
            if let Some(status) = self.nspawn.try_wait().unwrap() {
                panic!(
                    "systemd-nspawn exited with {status} before booting:\n{}",
                    self.log_tail()
                );
            }
            if let Some(pid) = children(self.nspawn.id()).into_iter().find(|&pid| {
                fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "systemd"))
            }) {
                return pid;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no systemd in the container after 60 s:\n{}",
                self.log_tail()
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// systemd is there before its bus is: asks until it answers, then waits for the boot.
    fn wait_for_boot(&self) {
        let t = Instant::now();
        loop {
            let out = self.sh("systemctl is-system-running --wait");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match state.as_str() {
                "running" => return,
                "degraded" => panic!(
                    "the container booted degraded:\n{}",
                    self.ok("systemctl --failed --no-pager --full")
                ),
                _ => {}
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the container's systemd did not finish booting in 120 s (last: {state:?}, {}):\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_tail()
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        tail(&fs::read_to_string(&self.log).unwrap_or_default(), 40)
    }

    /// `nsenter` into the container's namespaces, with a clean environment.
    fn enter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.pid1.to_string(),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "-C",
        ])
        .args(["--", "/usr/bin/env", "-i"])
        .args([
            format!("PATH={PATH}"),
            "LANG=C.UTF-8".into(),
            "HOME=/root".into(),
            "TERM=dumb".into(),
            "SYSTEMD_PAGER=".into(),
            "SYSTEMD_COLORS=0".into(),
            "DEBIAN_FRONTEND=noninteractive".into(),
        ])
        .args(["timeout", &COMMAND_TIMEOUT_SECS.to_string()]);
        cmd
    }

    /// Runs `script` with `/bin/sh -c` inside the container.
    pub fn sh(&self, script: &str) -> Output {
        self.enter()
            .args(["/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("cannot run nsenter")
    }

    /// [`Container::sh`], which must exit 0; its standard output.
    pub fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in container {}: `{script}` failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The exit code of `script`.
    pub fn code(&self, script: &str) -> Option<i32> {
        self.sh(script).status.code()
    }

    /// Writes `bytes` to `path` inside the container (parents created), with `mode`. Written
    /// from inside, so a path is resolved as the container sees it.
    pub fn put(&self, path: &str, bytes: &[u8], mode: u32) {
        let mut child = self
            .enter()
            .args([
                "/bin/sh",
                "-c",
                "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\" && chmod \"$2\" \"$1\"",
                "put",
                path,
                &format!("{mode:o}"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run nsenter");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cannot write {path} in the container: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Copies the host file `from` to `to` inside the container.
    pub fn copy_in(&self, from: &Path, to: &str) {
        let bytes = fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        self.put(to, &bytes, 0o644);
    }

    /// One property of a unit, as `systemctl show --value` gives it.
    pub fn show(&self, unit: &str, property: &str) -> String {
        self.ok(&format!("systemctl show --value -p {property} {unit}"))
            .trim()
            .to_string()
    }

    /// This boot's journal of `unit`, the message text only.
    pub fn journal(&self, unit: &str) -> String {
        self.ok(&format!("journalctl --no-pager -b -o cat -u {unit}"))
    }

    /// Waits until `cond` holds, for at most `within`; how long it took.
    pub fn wait_for(
        &self,
        within: Duration,
        what: &str,
        mut cond: impl FnMut() -> bool,
    ) -> Duration {
        let t = Instant::now();
        while !cond() {
            assert!(
                t.elapsed() < within,
                "in container {}: {what}: not within {within:?}\n--- journal ---\n{}",
                self.name,
                tail(&self.ok("journalctl --no-pager -b -o short-monotonic"), 60)
            );
            sleep(Duration::from_millis(100));
        }
        t.elapsed()
    }

    /// Installs `deb` with apt from a copy inside the container.
    pub fn apt_install(&self, deb: &Path) -> String {
        let name = deb.file_name().unwrap().to_string_lossy();
        let inside = format!("/var/cache/carbon-patcher-tests/{name}");
        self.copy_in(deb, &inside);
        // A path with a slash: apt takes it for a package file, not a package name.
        self.ok(&format!("apt-get install -y {inside} 2>&1"))
    }
}

impl Drop for Container {
    /// `kill -TERM` on nspawn is an orderly power-off; a container that does not go within
    /// 30 s is killed: its PID 1 (which takes the whole container with it), then nspawn.
    fn drop(&mut self) {
        if std::thread::panicking() && self.pid1 != 0 {
            if let Ok(o) = self
                .enter()
                .args(["journalctl", "--no-pager", "-b", "-o", "short-monotonic"])
                .output()
            {
                eprintln!(
                    "--- journal of container {} (last 150 lines) ---\n{}",
                    self.name,
                    tail(&String::from_utf8_lossy(&o.stdout), 150)
                );
            }
        }
        let pid = self.nspawn.id() as i32;
        // SAFETY: signals to the processes this value started, by their pids.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if self.nspawn.try_wait().ok().flatten().is_some() {
                break;
            }
            sleep(Duration::from_millis(50));
        }
        if self.nspawn.try_wait().ok().flatten().is_none() {
            eprintln!(
                "container {}: no power-off within 30 s; killing it",
                self.name
            );
            if self.pid1 != 0 {
                // SAFETY: as above.
                unsafe { libc::kill(self.pid1 as i32, libc::SIGKILL) };
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = self.nspawn.wait();
        }
        self.cgroups.remove();
    }
}

/// A container's own cgroups: one in systemd's named hierarchy and one in the unified one,
/// below the test process's own, for as many of the two as this machine mounts.
struct Cgroups(Vec<PathBuf>);

impl Cgroups {
    fn create(name: &str) -> Cgroups {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let leaf = format!("carbon-patcher-test-{}-{name}", std::process::id());
        let mut dirs = Vec::new();
        for line in own.lines() {
            let mut f = line.splitn(3, ':');
            let (_, controllers, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
            let mount = match controllers {
                "name=systemd" => PathBuf::from("/sys/fs/cgroup/systemd"),
                "" if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() => {
                    PathBuf::from("/sys/fs/cgroup/unified")
                }
                "" => PathBuf::from("/sys/fs/cgroup"),
                _ => continue,
            };
            let dir = mount.join(path.trim_start_matches('/')).join(&leaf);
            fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", dir.display()));
            dirs.push(dir);
        }
        Cgroups(dirs)
    }

    fn procs_files(&self) -> String {
        let files: Vec<String> = self
            .0
            .iter()
            .map(|d| d.join("cgroup.procs").display().to_string())
            .collect();
        files.join(" ")
    }

    /// Removes what the container left below its cgroups, deepest first; a cgroup that still
    /// holds a process stays (and says so).
    fn remove(&self) {
        for dir in &self.0 {
            let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(dir)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_dir())
                .map(|e| e.into_path())
                .collect();
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                if let Err(e) = fs::remove_dir(&d) {
                    eprintln!("cannot remove the cgroup {}: {e}", d.display());
                }
            }
        }
    }
}

/// The pids whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Field 4, counted after the command name's closing parenthesis.
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether the tests can run here; prints why not when they cannot (the test then passes
/// without having checked anything, and says so).
pub fn available(test: &str) -> bool {
    match cannot_run_containers() {
        None => true,
        Some(why) => {
            eprintln!("SKIPPED {test}: this machine cannot run containers: {why}");
            false
        }
    }
}
