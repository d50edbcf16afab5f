//! Recording a run's file-system calls with `strace -f` and turning them into operations on
//! inodes: what the explorer replays. Only the calls that change a file system or make it
//! durable are kept; paths outside the traced root are not modelled (the binary, libraries,
//! `/proc`), and a call the model does not know on a modelled path fails the test rather than
//! being skipped.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// An inode of the model (numbered by the explorer, not the real inode number).
pub type Ino = usize;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// One change to the file system, on inodes: replaying any subset of a trace's operations
/// onto the starting tree gives a well-defined tree.
#[derive(Debug, Clone)]
pub enum Op {
    /// A name in `dir` now leads to `ino` (a file created, a directory made).
    Link {
        dir: Ino,
        name: OsString,
        ino: Ino,
    },
    /// The name in `dir` that led to `ino` is gone (unlink, rmdir).
    Unlink {
        dir: Ino,
        name: OsString,
        ino: Ino,
    },
    /// `ino` moves from one name to another (replacing whatever the new name held): one
    /// atomic step, durable once both directories are synced.
    Rename {
        from: (Ino, OsString),
        to: (Ino, OsString),
        ino: Ino,
    },
    /// `renameat2(RENAME_EXCHANGE)`: the two names swap their inodes.
    Exchange {
        a: (Ino, OsString),
        b: (Ino, OsString),
        a_ino: Ino,
        b_ino: Ino,
    },
    Write {
        ino: Ino,
        off: u64,
        data: Arc<Vec<u8>>,
    },
    Truncate {
        ino: Ino,
        len: u64,
    },
    /// fsync or fdatasync of `ino`: its data (a file) or its entries (a directory) are durable.
    Sync {
        ino: Ino,
    },
    /// syncfs or sync: everything so far is durable.
    SyncAll,
}

impl Op {
    /// The directories whose sync makes this operation durable (none for data operations).
    pub fn dirs(&self) -> Vec<Ino> {
        match self {
            Op::Link { dir, .. } | Op::Unlink { dir, .. } => vec![*dir],
            Op::Rename { from, to, .. } => vec![from.0, to.0],
            Op::Exchange { a, b, .. } => vec![a.0, b.0],
            _ => Vec::new(),
        }
    }

    /// The file whose sync makes this data operation durable.
    pub fn data_ino(&self) -> Option<Ino> {
        match self {
            Op::Write { ino, .. } | Op::Truncate { ino, .. } => Some(*ino),
            _ => None,
        }
    }

    pub fn is_barrier(&self) -> bool {
        matches!(self, Op::Sync { .. } | Op::SyncAll)
    }
}

/// A node of a tree: a directory's entries, or a file's bytes.
#[derive(Debug, Clone)]
pub enum Node {
    Dir(BTreeMap<OsString, Ino>),
    File(Arc<Vec<u8>>),
}

/// A whole file system as the model sees it: inodes, the root being inode 0.
#[derive(Debug, Clone, Default)]
pub struct Fs {
    pub nodes: HashMap<Ino, Node>,
}

impl Fs {
    /// The tree under `root` on disk (directories and regular files only).
    pub fn load(root: &Path) -> (Fs, Ino) {
        let mut fs = Fs::default();
        let mut next = 0;
        fs.load_dir(root, &mut next);
        (fs, next)
    }

    fn load_dir(&mut self, dir: &Path, next: &mut Ino) -> Ino {
        let ino = *next;
        *next += 1;
        let mut entries = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let child = if ft.is_dir() {
                self.load_dir(&e.path(), next)
            } else {
                assert!(ft.is_file(), "{}: not modelled", e.path().display());
                let c = *next;
                *next += 1;
                self.nodes
                    .insert(c, Node::File(Arc::new(std::fs::read(e.path()).unwrap())));
                c
            };
            entries.insert(e.file_name(), child);
        }
        self.nodes.insert(ino, Node::Dir(entries));
        ino
    }

    pub fn lookup(&self, dir: Ino, name: &std::ffi::OsStr) -> Option<Ino> {
        match self.nodes.get(&dir) {
            Some(Node::Dir(e)) => e.get(name).copied(),
            _ => None,
        }
    }

    /// The entries of `dir`, created empty when an operation reaches an inode whose creation
    /// did not survive.
    fn dir_mut(&mut self, dir: Ino) -> &mut BTreeMap<OsString, Ino> {
        match self
            .nodes
            .entry(dir)
            .or_insert_with(|| Node::Dir(BTreeMap::new()))
        {
            Node::Dir(e) => e,
            Node::File(_) => panic!("inode {dir} is a file, used as a directory"),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> &mut Vec<u8> {
        match self
            .nodes
            .entry(ino)
            .or_insert_with(|| Node::File(Arc::new(Vec::new())))
        {
            Node::File(d) => Arc::make_mut(d),
            Node::Dir(_) => panic!("inode {ino} is a directory, written as a file"),
        }
    }

    /// Applies `op` (`zeros`: a write lands as zeros of the same length).
    pub fn apply(&mut self, op: &Op, kinds: &HashMap<Ino, Kind>, zeros: bool) {
        let ensure = |fs: &mut Fs, ino: Ino| {
            fs.nodes
                .entry(ino)
                .or_insert_with(|| match kinds.get(&ino) {
                    Some(Kind::Dir) => Node::Dir(BTreeMap::new()),
                    _ => Node::File(Arc::new(Vec::new())),
                });
        };
        match op {
            Op::Link { dir, name, ino } => {
                ensure(self, *ino);
                self.dir_mut(*dir).insert(name.clone(), *ino);
            }
            Op::Unlink { dir, name, ino } => {
                let e = self.dir_mut(*dir);
                if e.get(name) == Some(ino) {
                    e.remove(name);
                }
            }
            Op::Rename { from, to, ino } => {
                ensure(self, *ino);
                let e = self.dir_mut(from.0);
                if e.get(&from.1) == Some(ino) {
                    e.remove(&from.1);
                }
                self.dir_mut(to.0).insert(to.1.clone(), *ino);
            }
            Op::Exchange { a, b, a_ino, b_ino } => {
                ensure(self, *a_ino);
                ensure(self, *b_ino);
                self.dir_mut(a.0).insert(a.1.clone(), *b_ino);
                self.dir_mut(b.0).insert(b.1.clone(), *a_ino);
            }
            Op::Write { ino, off, data } => {
                let f = self.file_mut(*ino);
                let (off, end) = (*off as usize, *off as usize + data.len());
                if f.len() < end {
                    f.resize(end, 0);
                }
                if zeros {
                    f[off..end].fill(0);
                } else {
                    f[off..end].copy_from_slice(data);
                }
            }
            Op::Truncate { ino, len } => self.file_mut(*ino).resize(*len as usize, 0),
            Op::Sync { .. } | Op::SyncAll => {}
        }
    }

    /// Cuts the file `ino` to `len` bytes.
    pub fn cut(&mut self, ino: Ino, len: usize) {
        self.file_mut(ino).truncate(len);
    }

    pub fn file_len(&self, ino: Ino) -> usize {
        match self.nodes.get(&ino) {
            Some(Node::File(d)) => d.len(),
            _ => 0,
        }
    }

    /// Every path reachable from the root, with its node: what a mount after the crash shows.
    pub fn tree(&self) -> BTreeMap<PathBuf, Entry> {
        let mut out = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        self.walk(0, PathBuf::new(), &mut out, &mut seen);
        out
    }

    fn walk(
        &self,
        ino: Ino,
        at: PathBuf,
        out: &mut BTreeMap<PathBuf, Entry>,
        seen: &mut std::collections::HashSet<Ino>,
    ) {
        if !seen.insert(ino) {
            return;
        }
        match self.nodes.get(&ino) {
            Some(Node::Dir(entries)) => {
                if !at.as_os_str().is_empty() {
                    out.insert(at.clone(), Entry::Dir);
                }
                for (name, child) in entries {
                    self.walk(*child, at.join(name), out, seen);
                }
            }
            Some(Node::File(d)) => {
                out.insert(at, Entry::File(d.clone()));
            }
            None => {
                out.insert(at, Entry::File(Arc::new(Vec::new())));
            }
        }
    }
}

/// A path of a tree: a directory, or a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    Dir,
    File(Arc<Vec<u8>>),
}

/// A recorded run: the starting tree and what the run did to it.
pub struct Trace {
    pub start: Fs,
    pub ops: Vec<Op>,
    /// Each operation's system call as strace showed it (paths decoded, data cut short).
    pub lines: Vec<String>,
    pub kinds: HashMap<Ino, Kind>,
    /// The run's exit status and standard error.
    pub status: Option<i32>,
    pub stderr: String,
}

/// The system calls recorded: every one that changes a file system or its durability, and
/// those needed to follow descriptors. Threads share descriptors; a fork would not, so forks
/// are recorded to be refused.
const CALLS: &str = "open,openat,creat,close,dup,dup2,dup3,fcntl,lseek,write,pwrite64,writev,\
pwritev,pwritev2,ftruncate,truncate,rename,renameat,renameat2,mkdir,mkdirat,rmdir,unlink,unlinkat,\
link,linkat,symlink,symlinkat,fsync,fdatasync,syncfs,sync,msync,sync_file_range,copy_file_range,\
sendfile,splice,fallocate,clone,clone3,fork,vfork";

/// Installs strace when missing (the tests run as root on Debian-like machines).
pub fn ensure_strace() {
    let have = || Command::new("strace").arg("-V").output().is_ok();
    if have() {
        return;
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", "strace"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if !have() {
        let _ = Command::new("apt-get").args(["update", "-q"]).status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", "strace"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    assert!(have(), "strace is needed and could not be installed");
}

/// Runs `bin args` under strace with its working directory at `root`, and models what it did
/// to the tree under `root`.
pub fn record(root: &Path, bin: &Path, args: &[String], out_file: &Path) -> Trace {
    ensure_strace();
    let (start, next) = Fs::load(root);
    let out = Command::new("strace")
        .args(["-f", "-qq", "-xx", "-s", "16777216", "-e", "signal=none"])
        .arg("-e")
        .arg(format!("trace={CALLS}"))
        .arg("-o")
        .arg(out_file)
        .arg(bin)
        .args(args)
        .current_dir(root)
        .env_remove("CARBON_HOME")
        .env_remove("CARBON_REPOSITORY")
        .env_remove("CARBON_PATCHER_FAULT")
        .env_remove("CARBON_PATCHER_NO_SYNC")
        .output()
        .unwrap();
    let text = std::fs::read(out_file).unwrap();
    let mut parser = Parser {
        root: root.to_path_buf(),
        live: start.clone(),
        next,
        fds: HashMap::new(),
        ops: Vec::new(),
        lines: Vec::new(),
        kinds: HashMap::new(),
        pending: HashMap::new(),
    };
    for ino in start.nodes.keys() {
        let k = match start.nodes[ino] {
            Node::Dir(_) => Kind::Dir,
            Node::File(_) => Kind::File,
        };
        parser.kinds.insert(*ino, k);
    }
    for line in text.split(|&b| b == b'\n') {
        parser.line(&String::from_utf8_lossy(line));
    }
    Trace {
        start,
        ops: parser.ops,
        lines: parser.lines,
        kinds: parser.kinds,
        status: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An open file description: the inode (None: outside the model), its offset, append mode.
#[derive(Debug, Clone)]
struct Open {
    ino: Option<Ino>,
    offset: u64,
    append: bool,
}

struct Parser {
    root: PathBuf,
    /// The tree as the process sees it, to resolve names.
    live: Fs,
    next: Ino,
    fds: HashMap<i64, Arc<std::sync::Mutex<Open>>>,
    ops: Vec<Op>,
    lines: Vec<String>,
    kinds: HashMap<Ino, Kind>,
    /// Calls a thread began and has not finished, by pid.
    pending: HashMap<String, String>,
}

/// Where a path leads: a modelled (parent dir, name), or outside the model.
enum At {
    In(Ino, OsString),
    Root,
    Outside,
}

impl Parser {
    fn line(&mut self, raw: &str) {
        let raw = raw.trim_end();
        let Some((pid, rest)) = raw.split_once(' ') else {
            return;
        };
        let rest = rest.trim_start();
        let full = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            // The kernel frees a closed descriptor before the call returns, so another thread
            // may be given the same number before strace shows this close end: close it now.
            if let Some(fd) = start.strip_prefix("close(") {
                if let Ok(n) = fd.trim().parse::<i64>() {
                    self.fds.remove(&n);
                }
                return;
            }
            self.pending.insert(pid.to_string(), start.to_string());
            return;
        } else if let Some(r) = rest.strip_prefix("<... ") {
            let tail = r.split_once(" resumed>").map(|(_, t)| t).unwrap_or("");
            let Some(head) = self.pending.remove(pid) else {
                return; // a close, done when it began
            };
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        let Some(open) = full.find('(') else { return };
        let name = &full[..open];
        // strace pads short calls to a column before ` = `.
        let Some(eq) = full.rfind(" = ") else { return };
        let Some(close) = full[..eq].trim_end().strip_suffix(')') else {
            return;
        };
        let args = split_args(&close[open + 1..]);
        let ret_text = full[eq + 3..].trim();
        let ret: i64 = match ret_text.split_whitespace().next() {
            Some(r) if r.starts_with("0x") => i64::from_str_radix(&r[2..], 16).unwrap_or(0),
            Some(r) => r.parse().unwrap_or(-1),
            None => -1,
        };
        if ret < 0 {
            return; // failed: no effect
        }
        let shown = show(&full, &format!("{}/", self.root.display()));
        self.call(name, &args, ret, &shown);
    }

    fn push(&mut self, op: Op, shown: &str) {
        self.live.apply(&op, &self.kinds, false);
        self.ops.push(op);
        self.lines.push(shown.to_string());
    }

    fn fd(&self, arg: &str) -> Option<Arc<std::sync::Mutex<Open>>> {
        let n: i64 = arg.split('<').next()?.trim().parse().ok()?;
        self.fds.get(&n).cloned()
    }

    /// The inode a descriptor argument refers to, if modelled.
    fn fd_ino(&self, arg: &str) -> Option<Ino> {
        self.fd(arg).and_then(|o| o.lock().unwrap().ino)
    }

    /// Resolves `path` (relative to the directory `dirfd`, or to the working dir `root`).
    fn at(&self, dirfd: Option<&str>, path: &[u8]) -> At {
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        let (base, rel): (Ino, PathBuf) = if p.is_absolute() {
            match p.strip_prefix(&self.root) {
                Ok(r) => (0, r.to_path_buf()),
                Err(_) => return At::Outside,
            }
        } else {
            match dirfd {
                Some(d) if !d.starts_with("AT_FDCWD") => match self.fd_ino(d) {
                    Some(ino) => (ino, p.to_path_buf()),
                    None => return At::Outside,
                },
                _ => (0, p.to_path_buf()),
            }
        };
        let comps: Vec<_> = rel.components().collect();
        if comps.is_empty() {
            return if base == 0 {
                At::Root
            } else {
                panic!("an empty path on a directory descriptor: not modelled")
            };
        }
        let mut dir = base;
        for c in &comps[..comps.len() - 1] {
            match c {
                std::path::Component::Normal(n) => {
                    dir = self
                        .live
                        .lookup(dir, n)
                        .unwrap_or_else(|| panic!("{}: not in the model", rel.display()));
                }
                std::path::Component::CurDir => {}
                _ => panic!("{}: `..` not modelled", rel.display()),
            }
        }
        match comps[comps.len() - 1] {
            std::path::Component::Normal(n) => At::In(dir, n.to_os_string()),
            _ => panic!("{}: not modelled", rel.display()),
        }
    }

    fn new_ino(&mut self, kind: Kind) -> Ino {
        let ino = self.next;
        self.next += 1;
        self.kinds.insert(ino, kind);
        ino
    }

    fn set_fd(&mut self, fd: i64, ino: Option<Ino>, append: bool) {
        let open = Open {
            ino,
            offset: 0,
            append,
        };
        self.fds.insert(fd, Arc::new(std::sync::Mutex::new(open)));
    }

    fn open(&mut self, dirfd: Option<&str>, path: &[u8], flags: &str, fd: i64, shown: &str) {
        let has = |f: &str| flags.split('|').any(|x| x == f);
        let ino = match self.at(dirfd, path) {
            At::Outside => None,
            At::Root => Some(0),
            At::In(dir, name) => match self.live.lookup(dir, &name) {
                Some(ino) => {
                    if has("O_TRUNC") && self.kinds.get(&ino) == Some(&Kind::File) {
                        self.push(Op::Truncate { ino, len: 0 }, shown);
                    }
                    Some(ino)
                }
                None => {
                    assert!(has("O_CREAT"), "{shown}: opened a name the model lacks");
                    let ino = self.new_ino(Kind::File);
                    self.push(Op::Link { dir, name, ino }, shown);
                    Some(ino)
                }
            },
        };
        self.set_fd(fd, ino, has("O_APPEND"));
    }

    fn write(&mut self, fdarg: &str, data: Vec<u8>, at: Option<u64>, shown: &str) {
        let Some(open) = self.fd(fdarg) else { return };
        let (ino, off) = {
            let mut o = open.lock().unwrap();
            let Some(ino) = o.ino else { return };
            let off = match at {
                Some(a) => a,
                None if o.append => self.live.file_len(ino) as u64,
                None => o.offset,
            };
            if at.is_none() {
                o.offset = off + data.len() as u64;
            }
            (ino, off)
        };
        let data = Arc::new(data);
        self.push(Op::Write { ino, off, data }, shown);
    }

    fn remove(&mut self, at: At, shown: &str) {
        if let At::In(dir, name) = at {
            let ino = self
                .live
                .lookup(dir, &name)
                .unwrap_or_else(|| panic!("{shown}: removed a name the model lacks"));
            self.push(Op::Unlink { dir, name, ino }, shown);
        }
    }

    fn rename(&mut self, from: At, to: At, flags: &str, shown: &str) {
        let (from, to) = match (from, to) {
            (At::In(fd, fname), At::In(td, tname)) => ((fd, fname), (td, tname)),
            (At::Outside, At::Outside) => return,
            _ => panic!("{shown}: a rename into or out of the model"),
        };
        let ino = self
            .live
            .lookup(from.0, &from.1)
            .unwrap_or_else(|| panic!("{shown}: renamed a name the model lacks"));
        if flags.contains("RENAME_EXCHANGE") {
            let b_ino = self.live.lookup(to.0, &to.1).unwrap();
            let op = Op::Exchange {
                a: from,
                b: to,
                a_ino: ino,
                b_ino,
            };
            self.push(op, shown);
        } else {
            self.push(Op::Rename { from, to, ino }, shown);
        }
    }

    fn call(&mut self, name: &str, a: &[String], ret: i64, shown: &str) {
        let s = |i: usize| decode(a.get(i).map(String::as_str).unwrap_or(""));
        let arg = |i: usize| a.get(i).map(String::as_str).unwrap_or("");
        match name {
            "openat" => self.open(Some(arg(0)), &s(1), arg(2), ret, shown),
            "open" => self.open(None, &s(0), arg(1), ret, shown),
            "creat" => self.open(None, &s(0), "O_CREAT|O_WRONLY|O_TRUNC", ret, shown),
            "close" => {
                if let Ok(n) = arg(0).parse::<i64>() {
                    self.fds.remove(&n);
                }
            }
            "dup" | "dup2" | "dup3" => {
                if let Some(o) = self.fd(arg(0)) {
                    self.fds.insert(ret, o);
                }
            }
            "fcntl" if arg(1).starts_with("F_DUPFD") => {
                if let Some(o) = self.fd(arg(0)) {
                    self.fds.insert(ret, o);
                }
            }
            "lseek" => {
                if let Some(o) = self.fd(arg(0)) {
                    o.lock().unwrap().offset = ret as u64;
                }
            }
            "write" => {
                let mut data = s(1);
                data.truncate(ret as usize);
                self.write(arg(0), data, None, shown);
            }
            "pwrite64" => {
                let mut data = s(1);
                data.truncate(ret as usize);
                let off = arg(3).parse().unwrap();
                self.write(arg(0), data, Some(off), shown);
            }
            "writev" | "pwritev" | "pwritev2" if self.fd_ino(arg(0)).is_some() => {
                let mut data = Vec::new();
                for part in arg(1).split("iov_base=").skip(1) {
                    data.extend(decode(part.split(',').next().unwrap()));
                }
                data.truncate(ret as usize);
                let at = (name != "writev").then(|| arg(3).parse().unwrap());
                self.write(arg(0), data, at, shown);
            }
            "ftruncate" => {
                if let Some(ino) = self.fd_ino(arg(0)) {
                    let len = arg(1).parse().unwrap();
                    self.push(Op::Truncate { ino, len }, shown);
                }
            }
            "truncate" => {
                if let At::In(dir, n) = self.at(None, &s(0)) {
                    let ino = self.live.lookup(dir, &n).unwrap();
                    let len = arg(1).parse().unwrap();
                    self.push(Op::Truncate { ino, len }, shown);
                }
            }
            "rename" => {
                let (f, t) = (self.at(None, &s(0)), self.at(None, &s(1)));
                self.rename(f, t, "", shown);
            }
            "renameat" | "renameat2" => {
                let f = self.at(Some(arg(0)), &s(1));
                let t = self.at(Some(arg(2)), &s(3));
                self.rename(f, t, arg(4), shown);
            }
            "mkdir" | "mkdirat" => {
                let at = if name == "mkdir" {
                    self.at(None, &s(0))
                } else {
                    self.at(Some(arg(0)), &s(1))
                };
                if let At::In(dir, n) = at {
                    let ino = self.new_ino(Kind::Dir);
                    self.live.nodes.insert(ino, Node::Dir(BTreeMap::new()));
                    self.push(Op::Link { dir, name: n, ino }, shown);
                }
            }
            "rmdir" | "unlink" => {
                let at = self.at(None, &s(0));
                self.remove(at, shown);
            }
            "unlinkat" => {
                let at = self.at(Some(arg(0)), &s(1));
                self.remove(at, shown);
            }
            "fsync" | "fdatasync" => {
                if let Some(ino) = self.fd_ino(arg(0)) {
                    self.push(Op::Sync { ino }, shown);
                }
            }
            // Only a sync of the file system the model holds.
            "syncfs" if self.fd_ino(arg(0)).is_some() => self.push(Op::SyncAll, shown),
            "sync" => self.push(Op::SyncAll, shown),
            "clone" | "clone3" => {
                let flags = arg(0).to_string() + arg(1);
                assert!(
                    flags.contains("CLONE_FILES"),
                    "{shown}: a child with its own descriptors is not modelled"
                );
            }
            "fork" | "vfork" => panic!("{shown}: a fork is not modelled"),
            "link" | "linkat" | "symlink" | "symlinkat" | "copy_file_range" | "sendfile"
            | "splice" | "fallocate" | "msync" => {
                let touches = a.iter().any(|x| {
                    x.starts_with('"')
                        && !matches!(self.at(None, &decode(x)), At::Outside)
                        && Path::new(std::ffi::OsStr::from_bytes(&decode(x))).is_absolute()
                }) || self.fd_ino(arg(0)).is_some()
                    || self.fd_ino(arg(2)).is_some();
                assert!(!touches, "{shown}: a call the model does not know");
            }
            // sync_file_range promises nothing durable; the rest do not change the tree.
            _ => {}
        }
    }
}

/// Splits a call's arguments at the top-level commas.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut cur) = (0i32, false, String::new());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '[' | '{' | '(' if !quoted => depth += 1,
            ']' | '}' | ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The bytes of a string argument as `strace -xx` prints it (`"\x2f\x61"`), refusing one it cut.
fn decode(arg: &str) -> Vec<u8> {
    let a = arg.trim();
    assert!(!a.ends_with("\"..."), "strace cut a string: raise -s");
    let Some(body) = a.strip_prefix('"').and_then(|b| b.split('"').next()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(body.len() / 4);
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let h = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A call as a person reads it: strings decoded, long ones cut.
fn show(call: &str, root: &str) -> String {
    let mut out = String::new();
    let mut rest = call;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find('"').unwrap_or(after.len());
        let bytes = decode(&format!("\"{}\"", &after[..end]));
        let text: String = OsString::from_vec(bytes)
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        let text = text.replace(root, "");
        if text.chars().count() > 120 {
            let cut: String = text.chars().take(60).collect();
            out.push_str(&format!("\"{cut}...\""));
        } else {
            out.push_str(&format!("\"{text}\""));
        }
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}
