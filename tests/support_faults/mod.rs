//! Helpers of `tests/faults.rs` and `tests/security.rs`: running the binary with an environment,
//! a umask or another user; handing a tree to another user; readable tree differences; a real
//! tmpfs mount; and a gate (fanotify) that holds a process's `open` of one file while the test
//! changes the tree, so "a file changed between scan and copy" can be timed exactly.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::common::{Node, Product};

pub const BIN: &str = env!("CARGO_BIN_EXE_carbon-patcher");

/// The unprivileged user a permission test runs the binary as, when the test runs as root.
pub const NOBODY: u32 = 65534;

/// How to run the binary.
#[derive(Default, Clone)]
pub struct Run<'a> {
    pub env: Vec<(&'a str, String)>,
    /// Run as this uid and gid (the test must be root).
    pub user: Option<u32>,
    /// Run under this umask (through `sh -c 'umask …; exec …'`).
    pub umask: Option<&'a str>,
}

impl<'a> Run<'a> {
    pub fn env(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.env.push((k, v.into()));
        self
    }
    pub fn user(mut self, uid: Option<u32>) -> Self {
        self.user = uid;
        self
    }
    pub fn umask(mut self, m: &'a str) -> Self {
        self.umask = Some(m);
        self
    }
    /// A ready [`Command`] for `carbon-patcher <args>`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = match self.umask {
            Some(m) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("umask {m}; exec \"$0\" \"$@\""), BIN]);
                c
            }
            None => Command::new(BIN),
        };
        c.args(args)
            .env_remove("CARBON_HOME")
            .env_remove("CARBON_REPOSITORY")
            .env_remove("CARBON_PATCHER_FAULT")
            .env_remove("CARBON_PATCHER_NO_SYNC")
            .env_remove("CARBON_PATCHER_LOG");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(u) = self.user {
            // std drops the supplementary groups too when root changes uid.
            c.uid(u).gid(u);
        }
        c
    }
    /// `carbon-patcher apply --carbon-home <home> --quiet`.
    pub fn apply(&self, p: &Product) -> Output {
        self.command(&[
            "apply",
            "--carbon-home",
            p.home.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap()
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `chown -Rh uid:gid root`.
pub fn chown_tree(root: &Path, uid: u32, gid: u32) {
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        std::os::unix::fs::lchown(e.path(), Some(uid), Some(gid)).unwrap();
    }
}

/// Prepares `root` (a temp dir) for a run as an unprivileged user: as root, permission bits do
/// not stop writes, so the tree goes to `nobody` and the binary runs as `nobody` (returned);
/// otherwise the test's own user is unprivileged already (`None`).
pub fn unprivileged(root: &Path) -> Option<u32> {
    if !is_root() {
        return None;
    }
    chown_tree(root, NOBODY, NOBODY);
    // tempfile makes the dir 0700; nobody must be able to reach the product inside it.
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    Some(NOBODY)
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub type Snap = BTreeMap<PathBuf, Node>;

/// The paths two snapshots disagree on, one per line (`+` only in `after`, `-` only in
/// `before`, `~` changed), for an assertion message that fits on a screen.
pub fn diff(before: &Snap, after: &Snap) -> String {
    let mut out = String::new();
    for (p, n) in before {
        match after.get(p) {
            None => out.push_str(&format!("- {}\n", p.display())),
            Some(m) if m != n => out.push_str(&format!("~ {}\n", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            out.push_str(&format!("+ {}\n", p.display()));
        }
    }
    out
}

#[track_caller]
pub fn assert_same(before: &Snap, after: &Snap, what: &str) {
    if before != after {
        panic!("{what}: the tree changed:\n{}", diff(before, after));
    }
}

/// `snap` without `path` (a file the test itself deleted).
pub fn without(mut snap: Snap, path: &Path) -> Snap {
    assert!(
        snap.remove(path).is_some(),
        "{} not in the snapshot",
        path.display()
    );
    snap
}

/// A tmpfs mounted on a directory, unmounted when dropped.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`) on `dir`; needs CAP_SYS_ADMIN.
    pub fn mount(dir: &Path, size: &str) -> io::Result<Tmpfs> {
        fs::create_dir_all(dir)?;
        let fstype = CString::new("tmpfs").unwrap();
        let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let data = CString::new(format!("size={size},mode=0755")).unwrap();
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Free blocks (4 KiB pages on tmpfs) an unprivileged writer may use.
    pub fn free_blocks(&self) -> u64 {
        let c = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: statvfs fills the zeroed struct; the path string outlives the call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64
    }

    pub fn block_size(&self) -> u64 {
        let c = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: as in free_blocks.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
        st.f_bsize as u64
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path string; detaching a mount we made.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Holds every `open` of one file by another process (fanotify `FAN_OPEN_PERM`, root only) until
/// `on_open(n, file)` has run for it (`n` counts those opens from 1; `file` is the opened file,
/// through which the callback may change its bytes without opening it again), then lets it go
/// on. The callback must not open the watched path itself: that open would wait for the gate.
pub struct OpenGate {
    fd: RawFd,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl OpenGate {
    pub fn new(
        path: &Path,
        mut on_open: impl FnMut(usize, &File) + Send + 'static,
    ) -> io::Result<OpenGate> {
        // SAFETY: plain syscalls; the fd is owned by the gate from here on.
        let fd = unsafe {
            libc::fanotify_init(
                libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC,
                (libc::O_RDWR | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: fd is ours, the path string outlives the call.
        let rc = unsafe {
            libc::fanotify_mark(
                fd,
                libc::FAN_MARK_ADD,
                libc::FAN_OPEN_PERM,
                libc::AT_FDCWD,
                c.as_ptr(),
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let me = std::process::id() as i32;
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut seen = 0usize;
                let mut buf = vec![0u8; 8192];
                let size = std::mem::size_of::<libc::fanotify_event_metadata>();
                loop {
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    let r = unsafe { libc::poll(&mut pfd, 1, 20) };
                    if r == 0 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        continue;
                    }
                    if r < 0 {
                        if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                            continue;
                        }
                        break;
                    }
                    // SAFETY: reading into our buffer, within its length.
                    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        continue;
                    }
                    let n = n as usize;
                    let mut off = 0;
                    while off + size <= n {
                        // SAFETY: the kernel wrote whole event records; read_unaligned copes
                        // with the Vec's alignment.
                        let ev: libc::fanotify_event_metadata =
                            unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
                        assert_eq!(ev.vers, libc::FANOTIFY_METADATA_VERSION);
                        off += ev.event_len as usize;
                        if ev.fd < 0 {
                            continue;
                        }
                        // SAFETY: the event's fd is ours to close.
                        let file = unsafe { File::from_raw_fd(ev.fd) };
                        if ev.pid != me {
                            seen += 1;
                            on_open(seen, &file);
                        }
                        let resp = libc::fanotify_response {
                            fd: ev.fd,
                            response: libc::FAN_ALLOW,
                        };
                        // SAFETY: writing one response struct to our fanotify fd.
                        unsafe {
                            libc::write(
                                fd,
                                (&resp as *const libc::fanotify_response).cast(),
                                std::mem::size_of::<libc::fanotify_response>(),
                            )
                        };
                        drop(file);
                    }
                }
                seen
            }
        });
        Ok(OpenGate {
            fd,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the gate; returns how many opens by other processes it saw.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let t = self.thread.take().unwrap();
        t.join().expect("the gate's callback panicked")
    }
}

impl Drop for OpenGate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // SAFETY: our own fd; closing it lets any open still held go on.
        unsafe { libc::close(self.fd) };
    }
}

/// Whether a fanotify gate can be set up here (root, a kernel with permission events).
pub fn gates_work(probe: &Path) -> Result<(), String> {
    if !probe.exists() {
        fs::write(probe, b"probe").unwrap();
    }
    match OpenGate::new(probe, |_, _| {}) {
        Ok(g) => {
            g.finish();
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Whether `bytes` are a zip whose every entry reads back with the right CRC.
pub fn valid_zip(bytes: &[u8]) -> Result<(), String> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(|e| e.to_string())?;
        let mut sink = Vec::new();
        f.read_to_end(&mut sink).map_err(|e| e.to_string())?;
    }
    Ok(())
}
