//! `java.util.logging.FileHandler` on real files.
//!
//! Opening (`FileHandler.openFiles`): for `unique` = 0, 1, ... (up to `maxLocks`) the lock file
//! `generate(pattern, generation 0, unique) + ".lck"` is created (or a stale one reused) and
//! locked with `fcntl(F_SETLK)`, as `FileChannel.tryLock` does; the first one free gives the
//! generations' names. Its directory is never created: without it the JDK's handler fails to
//! start and the launcher writes nothing there ([`Opened::Unavailable`]). Closing deletes the
//! lock file.
//!
//! Writing (`StreamHandler.publish` + `FileHandler.synchronousPostWriteHook`): the byte count
//! starts at the file's size (`append`) or 0; after each record, once it reaches `limit` (> 0)
//! the handler rotates: with `count` = 1 the file starts over empty; with more, `.N-2` goes to
//! `.N-1`, ..., `.0` to `.1` (each only if it exists) and a new `.0` starts. `append = false`
//! rotates once at opening.
//!
//! Where we differ, on purpose:
//! - A lock held by another process is the server itself (its JVM keeps its FileHandler, and
//!   so the lock, while it runs). A second JVM would move to `%u` = 1 (`patches.log.1`), a file
//!   the launcher's own patch step never writes; we write the same files the server does,
//!   appending (never truncating or rotating at opening what it is writing), without the lock,
//!   whose file we leave alone. [`FileSink::shares_server_lock`] says so. `%u` still moves on
//!   for a lock this process holds, as two handlers with one pattern do in one JVM.
//! - The opening's own effects (creating the file, or `append = false`'s rotation) wait for the
//!   first batch and are part of it, so a batch that fails leaves every file as it was.
//! - A batch is whole or not at all: the bytes that stay in the current file are appended in
//!   place (cut back on failure); every file a rotation starts is written under a temporary name
//!   first; only when all are written are the generations renamed into place, as the rotations
//!   would have left them (renames take no space; a crash among them leaves the generations half
//!   shifted, as one inside Java's `rotate` does). Lines that later rotations of the same batch
//!   would delete (`count` = 1 past the limit) are never written at all.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::lock::{lock_file, locks, try_lock, Attempt};
use crate::launcher::jul::config::FileSettings;
use crate::launcher::jul::encoding::Charset;
pub use crate::launcher::jul::pattern::generate;
use crate::launcher::jul::rotation::{plan, Gen, Plan};

/// What the caller adds to each change: fault injection and ownership.
pub trait Hooks {
    /// Before each change that takes space (appending, creating a file); an error fails it.
    fn before_write(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    /// After a new log file is written, before it takes its place (e.g. to give it the owner
    /// of its directory).
    fn created(&self, _path: &Path) -> Result<()> {
        Ok(())
    }
}

/// No hooks.
pub struct NoHooks;
impl Hooks for NoHooks {}

struct Lock {
    path: PathBuf,
    /// Ours to delete at close; `None` when the server holds it.
    held: Option<File>,
}

/// A FileHandler's files, ready for batches. Dropping it closes the handler.
pub struct FileSink {
    files: Vec<PathBuf>,
    limit: u64,
    append: bool,
    encoding: Charset,
    lock: Lock,
    /// The opening's effects are still to come with the first batch.
    pending_open: bool,
    meter: u64,
    hooks: Box<dyn Hooks>,
}

pub enum Opened {
    Ready(FileSink),
    /// The JDK's FileHandler cannot start here either (the reason says why): the launcher
    /// writes nothing through it, and neither does carbon-patcher.
    Unavailable(String),
}

impl FileSink {
    /// `new FileHandler()` with `settings`, in the JVM's working directory `cwd` (the carbon
    /// home); `system` answers `user.home` and `java.io.tmpdir` for `%h` and `%t`.
    pub fn open(
        settings: &FileSettings,
        cwd: &Path,
        system: &dyn Fn(&str) -> Option<String>,
        hooks: Box<dyn Hooks>,
    ) -> Result<Opened> {
        let name = |generation, unique| {
            generate(
                &settings.pattern,
                settings.count,
                generation,
                unique,
                system,
            )
            .map(|p| cwd.join(p))
            .map_err(|e| anyhow::anyhow!("java.util.logging.FileHandler.pattern {e}"))
        };
        for unique in 0..=settings.max_locks {
            let mut lock = name(0, unique)?.into_os_string();
            lock.push(".lck");
            let lock = PathBuf::from(lock);
            let mut taken = locks();
            if taken.contains(&lock) {
                continue;
            }
            let (file, created) = match lock_file(&lock) {
                Ok(Attempt::Got(f, created)) => (f, created),
                Ok(Attempt::Next) => continue,
                Err(why) => return Ok(Opened::Unavailable(why)),
            };
            let held = match try_lock(&file) {
                Ok(true) => Some(file),
                Ok(false) => None,
                // Locking unsupported: Java goes on without it, if it made the file.
                Err(_) if created => Some(file),
                Err(_) => continue,
            };
            let shared = held.is_none();
            taken.insert(lock.clone());
            drop(taken);
            let files = (0..settings.count)
                .map(|g| name(g, unique))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Opened::Ready(FileSink {
                files,
                limit: settings.limit,
                append: settings.append || shared,
                encoding: settings.encoding,
                lock: Lock { path: lock, held },
                pending_open: true,
                meter: 0,
                hooks,
            }));
        }
        Ok(Opened::Unavailable(format!(
            "{}: no free lock file among {} tried",
            settings.pattern,
            settings.max_locks + 1
        )))
    }

    /// The file records go to now (generation 0).
    pub fn path(&self) -> &Path {
        &self.files[0]
    }

    /// Whether another process (the running server) holds this handler's lock, so we append
    /// to its files without it.
    pub fn shares_server_lock(&self) -> bool {
        self.lock.held.is_none()
    }

    /// Publishes `records` (each already formatted) as the FileHandler would, one after the
    /// other, or changes nothing and fails. An empty batch still does the opening's effects.
    pub fn append_batch(&mut self, records: &[String]) -> Result<()> {
        let plan = self.plan(records);
        self.apply(&plan)?;
        self.meter = plan.meter;
        self.pending_open = false;
        Ok(())
    }

    /// Where each generation's bytes come from after the batch.
    fn plan(&self, records: &[String]) -> Plan {
        let existing: Vec<bool> = self.files.iter().map(|f| f.exists()).collect();
        let rotate_first = self.pending_open && !self.append;
        let meter = match (self.pending_open, self.append) {
            (false, _) => self.meter,
            (true, true) => std::fs::metadata(&self.files[0]).map_or(0, |m| m.len()),
            (true, false) => 0,
        };
        let records = records.iter().map(|r| self.encoding.encode(r));
        plan(&existing, meter, rotate_first, self.limit, records)
    }

    fn temp(&self, generation: usize) -> PathBuf {
        let f = &self.files[generation];
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        f.with_file_name(format!(".{name}.carbon-patcher-new"))
    }

    fn apply(&self, plan: &Plan) -> Result<()> {
        let temps: Vec<(usize, usize)> = (plan.gens.iter().enumerate())
            .filter_map(|(i, g)| match g {
                Gen::New(s) => Some((i, *s)),
                _ => None,
            })
            .collect();
        let appended = plan.gens.contains(&Gen::Appended) && !plan.segments[0].is_empty();
        let mut cut_back = None;
        let written = (|| -> Result<()> {
            if appended {
                let path = &self.files[0];
                let mut f = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .with_context(|| format!("{}: cannot open", path.display()))?;
                let len = f
                    .metadata()
                    .with_context(|| format!("{}: cannot read", path.display()))?
                    .len();
                cut_back = Some((f.try_clone()?, len));
                self.hooks
                    .before_write(path)
                    .and_then(|()| f.write_all(&plan.segments[0]))
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            for &(generation, segment) in &temps {
                let temp = self.temp(generation);
                let _ = std::fs::remove_file(&temp);
                self.hooks
                    .before_write(&temp)
                    .and_then(|()| {
                        let mut f = OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&temp)?;
                        f.write_all(&plan.segments[segment])
                    })
                    .with_context(|| format!("{}: cannot write", temp.display()))?;
                self.hooks.created(&temp)?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            if let Some((f, len)) = cut_back {
                let _ = f.set_len(len);
            }
            for &(generation, _) in &temps {
                let _ = std::fs::remove_file(self.temp(generation));
            }
            return Err(e);
        }
        // Renames only from here: every old file moves up, so the highest targets go first.
        let rename = |from: &Path, to: &Path| {
            std::fs::rename(from, to)
                .with_context(|| format!("{}: cannot rename to {}", from.display(), to.display()))
        };
        for (i, g) in plan.gens.iter().enumerate().rev() {
            match *g {
                Gen::Old(j) if j != i => rename(&self.files[j], &self.files[i])?,
                Gen::Appended if i != 0 => rename(&self.files[0], &self.files[i])?,
                _ => {}
            }
        }
        for &(generation, _) in &temps {
            rename(&self.temp(generation), &self.files[generation])?;
        }
        Ok(())
    }
}

impl Drop for FileSink {
    /// `FileHandler.close`: unlocks and deletes the lock file (ours only).
    fn drop(&mut self) {
        if self.lock.held.take().is_some() {
            let _ = std::fs::remove_file(&self.lock.path);
        }
        locks().remove(&self.lock.path);
    }
}

#[cfg(test)]
mod tests {
    use super::super::lock::tests::hold_as_another_process;
    use super::*;
    use std::cell::Cell;
    use std::fs;

    fn system(k: &str) -> Option<String> {
        match k {
            "user.home" => Some("/home/wso2".to_string()),
            "java.io.tmpdir" => Some("/opt/wso2/scratch".to_string()),
            _ => None,
        }
    }

    fn settings(limit: u64, count: u32, append: bool) -> FileSettings {
        FileSettings {
            pattern: "repository/logs/patches.log".to_string(),
            limit,
            count,
            append,
            max_locks: 100,
            encoding: Charset::Utf8,
        }
    }

    /// A carbon home with `repository/logs`.
    fn home() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("repository/logs")).unwrap();
        dir
    }

    fn open_with(s: &FileSettings, home: &Path, hooks: Box<dyn Hooks>) -> FileSink {
        match FileSink::open(s, home, &system, hooks).unwrap() {
            Opened::Ready(sink) => sink,
            Opened::Unavailable(why) => panic!("{why}"),
        }
    }

    fn open(s: &FileSettings, home: &Path) -> FileSink {
        open_with(s, home, Box::new(NoHooks))
    }

    /// The log directory's files and their contents, lock files included.
    fn listing(home: &Path) -> Vec<(String, String)> {
        let mut v: Vec<_> = fs::read_dir(home.join("repository/logs"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    }

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect()
    }

    fn lines(from: usize, to: usize, width: usize) -> Vec<String> {
        (from..=to)
            .map(|i| format!("record-{i}-{}\n", "x".repeat(width)))
            .collect()
    }

    #[test]
    fn the_limit_crossed_during_a_batch_with_one_generation() {
        let dir = home();
        let log = dir.path().join("repository/logs/patches.log");
        // 49,950 bytes: the second 30-byte line reaches 50,000, so the file starts over after it
        // (what OpenJDK 17 left with the same file and records).
        fs::write(&log, "o".repeat(49_949) + "\n").unwrap();
        let mut sink = open(&settings(50_000, 1, true), dir.path());
        sink.append_batch(&lines(1, 4, 20)).unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), lines(3, 4, 20).concat());
        // The count goes on from there, in memory, as the handler's meter does.
        sink.append_batch(&lines(5, 5, 20)).unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), lines(3, 5, 20).concat());
        assert!(dir.path().join("repository/logs/patches.log.lck").is_file());
        drop(sink);
        assert_eq!(
            listing(dir.path()),
            files(&[("patches.log", &lines(3, 5, 20).concat())])
        );
    }

    #[test]
    fn three_generations_as_java_left_them() {
        // OpenJDK 17 with limit = 100, count = 3, append = true, format "%5$s%n", 12 records, then
        // a second JVM logging "second-run".
        let dir = home();
        let s = settings(100, 3, true);
        let records: Vec<String> = (1..=12)
            .map(|i| format!("record-{i}-abcdefghijklmnopqrst\n"))
            .collect();
        open(&s, dir.path()).append_batch(&records).unwrap();
        let r = |a: usize, b: usize| records[a - 1..b].concat();
        assert_eq!(
            listing(dir.path()),
            files(&[
                ("patches.log.0", ""),
                ("patches.log.1", &r(9, 12)),
                ("patches.log.2", &r(5, 8))
            ])
        );
        open(&s, dir.path())
            .append_batch(&["second-run\n".to_string()])
            .unwrap();
        assert_eq!(
            listing(dir.path()),
            files(&[
                ("patches.log.0", "second-run\n"),
                ("patches.log.1", &r(9, 12)),
                ("patches.log.2", &r(5, 8))
            ])
        );
    }

    #[test]
    fn append_false_rotates_at_opening() {
        // OpenJDK 17: with .0 and .2 but no .1, opening with count = 3 moves .0 to .1 only.
        let dir = home();
        let logs = dir.path().join("repository/logs");
        fs::write(logs.join("patches.log.0"), "old0\n").unwrap();
        fs::write(logs.join("patches.log.2"), "old2\n").unwrap();
        let mut sink = open(&settings(0, 3, false), dir.path());
        // Nothing moves until the first batch, which carries the opening.
        assert_eq!(
            fs::read_to_string(logs.join("patches.log.0")).unwrap(),
            "old0\n"
        );
        sink.append_batch(&["new\n".to_string()]).unwrap();
        sink.append_batch(&["more\n".to_string()]).unwrap();
        drop(sink);
        assert_eq!(
            listing(dir.path()),
            files(&[
                ("patches.log.0", "new\nmore\n"),
                ("patches.log.1", "old0\n"),
                ("patches.log.2", "old2\n")
            ])
        );
        // count = 1: the file starts over, even for an empty batch.
        fs::write(logs.join("patches.log"), "old\n").unwrap();
        open(&settings(0, 1, false), dir.path())
            .append_batch(&[])
            .unwrap();
        assert_eq!(fs::read_to_string(logs.join("patches.log")).unwrap(), "");
    }

    /// Fails the `n`-th change that takes space (1-based), as a full disk would.
    struct FailAt {
        n: usize,
        seen: Cell<usize>,
    }

    impl Hooks for FailAt {
        fn before_write(&self, path: &Path) -> io::Result<()> {
            self.seen.set(self.seen.get() + 1);
            if self.seen.get() == self.n {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("full at {}", path.display()),
                ));
            }
            Ok(())
        }
    }

    #[test]
    fn a_failed_batch_changes_nothing() {
        let dir = home();
        let logs = dir.path().join("repository/logs");
        let s = settings(100, 3, true);
        let before = [("patches.log.0", "a\n"), ("patches.log.1", "b\n")];
        for (n, c) in before {
            fs::write(logs.join(n), c).unwrap();
        }
        // 2 bytes, then 30-byte records: the limit is reached after records 4 and 8 (the final
        // files are what OpenJDK 17 left from the same start). The batch
        // appends to .0 and starts two files (the last one empty): any of its three writes
        // failing leaves every file as it was.
        let batch = lines(1, 8, 20);
        for n in 1..=3 {
            let hooks = Box::new(FailAt {
                n,
                seen: Cell::new(0),
            });
            let mut sink = open_with(&s, dir.path(), hooks);
            let err = sink.append_batch(&batch).unwrap_err();
            assert!(format!("{err:#}").contains("full at"), "{err:#}");
            drop(sink);
            assert_eq!(listing(dir.path()), files(&before), "failing write {n}");
        }
        open(&s, dir.path()).append_batch(&batch).unwrap();
        assert_eq!(
            listing(dir.path()),
            files(&[
                ("patches.log.0", ""),
                ("patches.log.1", &lines(5, 8, 20).concat()),
                (
                    "patches.log.2",
                    &(String::from("a\n") + &lines(1, 4, 20).concat())
                ),
            ])
        );
    }

    #[test]
    fn a_new_file_is_handed_to_the_created_hook() {
        struct Record(std::rc::Rc<std::cell::RefCell<Vec<String>>>);
        impl Hooks for Record {
            fn created(&self, path: &Path) -> Result<()> {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                self.0.borrow_mut().push(name);
                Ok(())
            }
        }
        let dir = home();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut sink = open_with(
            &settings(0, 1, true),
            dir.path(),
            Box::new(Record(seen.clone())),
        );
        sink.append_batch(&["one\n".to_string()]).unwrap();
        sink.append_batch(&["two\n".to_string()]).unwrap();
        assert_eq!(
            *seen.borrow(),
            vec![".patches.log.carbon-patcher-new".to_string()]
        );
        assert_eq!(fs::read_to_string(sink.path()).unwrap(), "one\ntwo\n");
    }

    #[test]
    fn encoding_counts_bytes_written() {
        let dir = home();
        let mut s = settings(8, 2, true);
        s.encoding = Charset::Latin1;
        // "é€\n" is 3 bytes in ISO-8859-1 ("é?\n"), so three of them reach 8 only at the third.
        let mut sink = open(&s, dir.path());
        sink.append_batch(&vec!["\u{e9}\u{20ac}\n".to_string(); 4])
            .unwrap();
        let logs = dir.path().join("repository/logs");
        assert_eq!(
            fs::read(logs.join("patches.log.1")).unwrap(),
            b"\xe9?\n".repeat(3)
        );
        assert_eq!(fs::read(logs.join("patches.log.0")).unwrap(), b"\xe9?\n");
    }

    #[test]
    fn locks_as_file_handler_takes_them() {
        let dir = home();
        let logs = dir.path().join("repository/logs");
        // A stale lock file (a killed JVM's) is reused, and deleted at close.
        fs::write(logs.join("patches.log.lck"), "").unwrap();
        let s = settings(0, 1, true);
        let first = open(&s, dir.path());
        assert!(!first.shares_server_lock());
        // A second handler of this process moves on to %u = 1, as in one JVM.
        let second = open(&s, dir.path());
        assert_eq!(
            second.path(),
            dir.path().join("repository/logs/patches.log.1")
        );
        assert!(logs.join("patches.log.1.lck").is_file());
        drop((first, second));
        assert_eq!(listing(dir.path()), vec![]);
    }

    #[test]
    fn a_lock_held_by_the_server_is_shared() {
        let dir = home();
        let logs = dir.path().join("repository/logs");
        fs::write(logs.join("patches.log"), "old\n").unwrap();
        // Stands for the server's JVM, holding its FileHandler's lock.
        let _server = hold_as_another_process(&logs.join("patches.log.lck"));
        // append = false too: what the server is writing is never truncated at opening.
        let mut sink = open(&settings(0, 1, false), dir.path());
        assert!(sink.shares_server_lock());
        assert_eq!(sink.path(), logs.join("patches.log"));
        sink.append_batch(&["ours\n".to_string()]).unwrap();
        drop(sink);
        assert_eq!(
            listing(dir.path()),
            files(&[("patches.log", "old\nours\n"), ("patches.log.lck", "")])
        );
    }

    #[test]
    fn no_directory_no_handler() {
        let dir = tempfile::tempdir().unwrap();
        match FileSink::open(
            &settings(0, 1, true),
            dir.path(),
            &system,
            Box::new(NoHooks),
        )
        .unwrap()
        {
            Opened::Unavailable(why) => {
                assert!(why.contains("cannot create the lock file"), "{why}")
            }
            Opened::Ready(_) => panic!("opened without repository/logs"),
        }
        assert!(!dir.path().join("repository").exists());
    }
}
