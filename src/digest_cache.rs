//! A cache of what reading a file told us (its MD5, and for a patch jar its bundle file name after
//! the full check), so a run where nothing changed reads no jar at all. An entry is keyed by the
//! file's device and inode and trusted only while its size, modification time and change time
//! (nanoseconds) are the same; the change time moves whenever the file is written, even by a
//! writer that puts the old size and modification time back (`touch -r`). On any doubt (a file
//! that does not parse, another version) the whole cache is thrown away.
//!
//! A file is only cached once its change time is a second old: a write in the same clock tick
//! as our read could leave every field the same (git's "racy clean" problem). Files we wrote
//! ourselves are recorded at once, since we know what they hold.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::digest::{md5_file, Md5Sum};
use crate::fsops;

const HEADER: &str = "carbon-patcher digest cache v1";
pub const FILE: &str = "digests";
/// How old a change time must be before a read of the file is cached.
const RACY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether the change time is old enough for a read to be trusted later.
    fn settled(&self) -> bool {
        let ctime = SystemTime::UNIX_EPOCH
            + Duration::new(
                self.ctime.0.max(0) as u64,
                self.ctime.1.clamp(0, 999_999_999) as u32,
            );
        SystemTime::now()
            .duration_since(ctime)
            .is_ok_and(|age| age >= RACY)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: Stamp,
    md5: Md5Sum,
    /// The bundle file name, for a `.jar` that passed the full check.
    bundle: Option<String>,
}

/// Shared by reference across a run (and its threads).
#[derive(Debug, Default)]
pub struct DigestCache {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<(u64, u64), Entry>>,
    dirty: Mutex<bool>,
}

fn parse(text: &str) -> Option<HashMap<(u64, u64), Entry>> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut map = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 10 {
            return None;
        }
        let n = |i: usize| f[i].parse::<i64>().ok();
        let hex = f[8];
        if hex.len() != 32 {
            return None;
        }
        let mut md5 = [0u8; 16];
        for (i, b) in md5.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        let entry = Entry {
            stamp: Stamp {
                size: n(2)? as u64,
                mtime: (n(3)?, n(4)?),
                ctime: (n(5)?, n(6)?),
            },
            md5: Md5Sum(md5),
            bundle: (f[7] == "b").then(|| f[9].to_string()),
        };
        map.insert((n(0)? as u64, n(1)? as u64), entry);
    }
    Some(map)
}

impl DigestCache {
    /// Loads `<state dir>/digests`; a missing, unreadable or doubtful file gives an empty cache.
    pub fn load(state_dir: &Path) -> DigestCache {
        let path = state_dir.join(FILE);
        let entries = fs::read_to_string(&path)
            .ok()
            .and_then(|t| parse(&t))
            .unwrap_or_default();
        DigestCache {
            path: Some(path),
            entries: Mutex::new(entries),
            dirty: Mutex::new(false),
        }
    }

    fn lookup(&self, m: &fs::Metadata) -> Option<Entry> {
        let entries = self.entries.lock().expect("cache lock");
        let e = entries.get(&(m.dev(), m.ino()))?;
        (e.stamp == Stamp::of(m)).then(|| e.clone())
    }

    fn store(&self, m: &fs::Metadata, md5: Md5Sum, bundle: Option<String>, trusted: bool) {
        if self.path.is_none() {
            return;
        }
        let stamp = Stamp::of(m);
        if !trusted && !stamp.settled() {
            return;
        }
        // Names go into a tab-separated line: keep out what would break it.
        let bundle = bundle.filter(|b| !b.contains(['\t', '\n', '\r']));
        let mut entries = self.entries.lock().expect("cache lock");
        entries.insert((m.dev(), m.ino()), Entry { stamp, md5, bundle });
        *self.dirty.lock().expect("cache lock") = true;
    }

    /// The MD5 of `path`, from the cache when the file is unchanged.
    pub fn md5(&self, path: &Path) -> std::io::Result<Md5Sum> {
        self.md5_with(path, &fs::metadata(path)?)
    }

    /// [`DigestCache::md5`] for a caller that already has the file's metadata `m`.
    pub fn md5_with(&self, path: &Path, m: &fs::Metadata) -> std::io::Result<Md5Sum> {
        if let Some(e) = self.lookup(m) {
            return Ok(e.md5);
        }
        let sum = md5_file(path)?;
        // The file may have changed while we read it: store only what the stat before and
        // after agree on.
        if fs::metadata(path).is_ok_and(|after| Stamp::of(&after) == Stamp::of(m)) {
            self.store(m, sum, None, false);
        }
        Ok(sum)
    }

    /// The bundle file name and MD5 of the patch entry `path`, computing (and fully checking the
    /// jar) only when the file changed since it was last seen.
    pub fn bundle(
        &self,
        path: &Path,
        compute_name: impl FnOnce() -> Result<String>,
    ) -> Result<(String, Md5Sum)> {
        let m = fs::metadata(path)?;
        if let Some(Entry {
            md5,
            bundle: Some(name),
            ..
        }) = self.lookup(&m)
        {
            return Ok((name, md5));
        }
        let name = compute_name()?;
        let sum = md5_file(path)?;
        // Checked and hashed in two reads: both must have seen the same file.
        if !fs::metadata(path).is_ok_and(|after| Stamp::of(&after) == Stamp::of(&m)) {
            anyhow::bail!("changed while being read (still being written?)");
        }
        self.store(&m, sum, Some(name.clone()), false);
        Ok((name, sum))
    }

    /// Records that `path`, which we just wrote, holds bytes with digest `md5`.
    pub fn record(&self, path: &Path, md5: Md5Sum) {
        if let Ok(m) = fs::metadata(path) {
            self.store(&m, md5, None, true);
        }
    }

    /// Whether two files hold the same bytes, by size and digest.
    pub fn same(&self, a: &Path, b: &Path) -> std::io::Result<bool> {
        let (ma, mb) = match (fs::metadata(a), fs::metadata(b)) {
            (Ok(ma), Ok(mb)) => (ma, mb),
            _ => return Ok(false),
        };
        if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
            return Ok(false);
        }
        Ok(self.md5_with(a, &ma)? == self.md5_with(b, &mb)?)
    }

    /// Writes the cache back when it learned something, dropping entries for files that are
    /// gone, so it never grows without bound.
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !*self.dirty.lock().expect("cache lock") {
            return Ok(());
        }
        let entries = self.entries.lock().expect("cache lock");
        let mut text = String::from(HEADER);
        text.push('\n');
        let mut keys: Vec<_> = entries.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let e = &entries[&key];
            let (kind, name) = match &e.bundle {
                Some(b) => ("b", b.as_str()),
                None => ("-", ""),
            };
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{kind}\t{}\t{name}\n",
                key.0,
                key.1,
                e.stamp.size,
                e.stamp.mtime.0,
                e.stamp.mtime.1,
                e.stamp.ctime.0,
                e.stamp.ctime.1,
                e.md5
            ));
        }
        if let Some(dir) = path.parent() {
            fsops::create_dir_all_owned(dir)?;
        }
        fsops::write_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits out the racy window after a write.
    fn age(_written: &Path) {
        std::thread::sleep(RACY + Duration::from_millis(50));
    }

    #[test]
    fn hits_after_save_and_load_and_misses_on_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.jar");
        fs::write(&f, b"one").unwrap();
        age(&f);
        let c = DigestCache::load(dir.path());
        let first = c.md5(&f).unwrap();
        c.save().unwrap();
        let c = DigestCache::load(dir.path());
        assert_eq!(c.lookup(&fs::metadata(&f).unwrap()).unwrap().md5, first);
        // Same size, same mtime put back: the change time still moves.
        let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&f).unwrap());
        fs::write(&f, b"two").unwrap();
        filetime::set_file_mtime(&f, mtime).unwrap();
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_none());
        assert_eq!(c.md5(&f).unwrap(), md5_file(&f).unwrap());
    }

    #[test]
    fn racy_files_are_not_cached_and_doubtful_files_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("new.jar");
        fs::write(&f, b"fresh").unwrap();
        let c = DigestCache::load(dir.path());
        c.md5(&f).unwrap();
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_none());
        // Ours: recorded at once.
        c.record(&f, md5_file(&f).unwrap());
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_some());
        c.save().unwrap();
        fs::write(dir.path().join(FILE), format!("{HEADER}\nnot\ta\tline\n")).unwrap();
        let c = DigestCache::load(dir.path());
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_none());
    }
}
