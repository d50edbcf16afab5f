//! A cache of what reading a file told us (its MD5, and for a patch jar its bundle file name after
//! the full check), so a run where nothing changed reads no jar at all. An entry is keyed by the
//! file's device and inode and trusted only while its size, modification time and change time
//! (nanoseconds) are the same; the change time moves whenever the file is written, even by a
//! writer that puts the old size and modification time back (`touch -r`). On any doubt (a file
//! that does not parse, another version, a checksum that does not match) the whole cache is
//! thrown away. It is a compact binary file, since every run reads all of it: a run that changes
//! nothing must cost next to nothing.
//!
//! A read is only cached when the file's change time lies far enough before this run began
//! that no later write can give the file the same stamp (git's "racy clean" problem): the kernel
//! stamps a write with its coarse clock (read here too, `CLOCK_REALTIME_COARSE`) as the write
//! call begins, so the change time must be a clock tick older than the run, and older than one
//! write call still copying a large jar in place. [`WINDOW`] (100 ms) covers a tick with room to
//! spare and a write call in practice (a heuristic: one stalled long by dirty-page throttling
//! could outlast it) on the local filesystems that keep nanoseconds; whole-second times need
//! [`WHOLE_SECONDS`]. On any other
//! filesystem (NFS, CIFS, FUSE) times come from elsewhere or lag behind (attribute caching), so
//! nothing there is cached and every run reads the jars. Files we wrote ourselves are recorded at
//! once, since we know what they hold. Not covered, as in git: a writer changing a file in place
//! through a shared memory mapping, or a real-time clock stepped back past a file's change time.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::fsops;
use crate::fsops::digest::{md5_file, Md5Sum};

/// v3: the name field holds only what a jar's manifest gives (v2 also held names taken from the
/// entry's own file name), so a v2 file is thrown away like any other doubtful one.
const HEADER: &[u8] = b"carbon-patcher digest cache v3\n";
/// A record without a bundle name gives this as the name's length.
const NO_BUNDLE: u16 = u16::MAX;
pub const FILE: &str = "digests";
/// How far before the run a file's change time must lie for a read of it to be cached, on a
/// local filesystem that keeps nanoseconds: a tick of the coarse clock (4 ms at 250 Hz) is far
/// shorter, and so is a write call in progress (its change time is stamped as it begins) unless
/// the kernel stalls it for long.
const WINDOW: Duration = Duration::from_millis(100);
/// The same for times in whole seconds (ext4 with small inodes): two ticks of their clock.
const WHOLE_SECONDS: Duration = Duration::from_secs(2);

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

    /// Whether no write after `began` (the filesystem clock when the run began) can give the
    /// file this stamp again: its change time lies at least `window` before.
    fn settled(&self, began: Duration, window: Duration) -> bool {
        let ctime = Duration::new(
            self.ctime.0.max(0) as u64,
            self.ctime.1.clamp(0, 999_999_999) as u32,
        );
        began > ctime && began - ctime >= window
    }
}

/// The kernel's coarse real-time clock: the one it stamps file times with (a tick behind the
/// precise clock), so "after this instant" means "a later change time" for any write.
fn filesystem_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a plain out-parameter.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if r != 0 {
        // Never settled: nothing read this run is cached.
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Whether the filesystem holding `path` is a local one whose times come from this kernel's
/// clock (in nanoseconds, or whole seconds on old inode formats), the only ones cached.
fn local_fine_times(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    // ext2/3/4, XFS, Btrfs, tmpfs, overlayfs (whose layers container engines keep on local
    // filesystems), F2FS, ZFS.
    const LOCAL: [u32; 7] = [
        0xef53,
        0x5846_5342,
        0x9123_683e,
        0x0102_1994,
        0x794c_7630,
        0xf2f5_2010,
        0x2fc1_2fc1,
    ];
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a plain out-parameter.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    LOCAL.contains(&(st.f_type as u32))
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: Stamp,
    md5: Md5Sum,
    /// For a jar that passed the full check: the bundle name its manifest gives it, empty when
    /// it names none.
    bundle: Option<String>,
    /// Looked up or stored by this run.
    seen: bool,
}

/// Whether `path` still has the stamp of `m` (taken before a read of it).
fn unchanged_since(path: &Path, m: &fs::Metadata) -> bool {
    fs::metadata(path).is_ok_and(|after| Stamp::of(&after) == Stamp::of(m))
}

/// Shared by reference across a run (and its threads). Loaded afresh for each run, before the
/// run looks at any file.
#[derive(Debug, Default)]
pub struct DigestCache {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<(u64, u64), Entry>>,
    dirty: Mutex<bool>,
    /// The filesystem clock at load, before any file this run reads was looked at.
    began: Duration,
    /// Per device: whether its times are this kernel's own (see [`local_fine_times`]).
    local_times: Mutex<HashMap<u64, bool>>,
}

/// A cheap checksum of the cache's records (it is written without waiting for the disk): a
/// torn, truncated or zero-filled file fails it.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    h
}

/// A cursor over the cache file's records.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.bytes(2)?.try_into().ok()?))
    }
}

/// The file: the header, the number of records, the records, then the checksum of all that
/// follows the header up to it. Each record: device, inode, size, modification and change time
/// (seconds and nanoseconds), MD5, and the bundle name's length (or [`NO_BUNDLE`]) and bytes;
/// numbers little-endian.
fn parse(file: &[u8]) -> Option<HashMap<(u64, u64), Entry>> {
    let body = file.strip_prefix(HEADER)?;
    let (records, sum) = body.split_at(body.len().checked_sub(8)?);
    if checksum(records) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = Reader(records);
    let count = usize::try_from(r.u64()?).ok()?;
    // Each record takes at least 74 bytes: a count beyond that is a damaged file.
    if count > records.len() / 74 {
        return None;
    }
    let mut map = HashMap::with_capacity(count);
    for _ in 0..count {
        let key = (r.u64()?, r.u64()?);
        let stamp = Stamp {
            size: r.u64()?,
            mtime: (r.i64()?, r.i64()?),
            ctime: (r.i64()?, r.i64()?),
        };
        let md5 = Md5Sum(r.bytes(16)?.try_into().ok()?);
        let bundle = match r.u16()? {
            NO_BUNDLE => None,
            n => Some(
                std::str::from_utf8(r.bytes(usize::from(n))?)
                    .ok()?
                    .to_string(),
            ),
        };
        let entry = Entry {
            stamp,
            md5,
            bundle,
            seen: false,
        };
        map.insert(key, entry);
    }
    r.0.is_empty().then_some(map)
}

/// The cache file's bytes for `entries` (see [`parse`]), in key order so that equal caches are
/// equal files.
fn serialize<'a>(entries: impl Iterator<Item = (&'a (u64, u64), &'a Entry)>) -> Vec<u8> {
    let mut sorted: Vec<_> = entries.collect();
    sorted.sort_unstable_by_key(|(k, _)| **k);
    let mut records = Vec::with_capacity(8 + sorted.len() * 96);
    records.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (key, e) in sorted {
        for n in [key.0, key.1, e.stamp.size] {
            records.extend_from_slice(&n.to_le_bytes());
        }
        for n in [
            e.stamp.mtime.0,
            e.stamp.mtime.1,
            e.stamp.ctime.0,
            e.stamp.ctime.1,
        ] {
            records.extend_from_slice(&n.to_le_bytes());
        }
        records.extend_from_slice(&e.md5.0);
        match &e.bundle {
            Some(name) => {
                records.extend_from_slice(&(name.len() as u16).to_le_bytes());
                records.extend_from_slice(name.as_bytes());
            }
            None => records.extend_from_slice(&NO_BUNDLE.to_le_bytes()),
        }
    }
    let mut file = HEADER.to_vec();
    file.extend_from_slice(&records);
    file.extend_from_slice(&checksum(&records).to_le_bytes());
    file
}

impl DigestCache {
    /// Loads `<state dir>/digests`; a missing, unreadable or doubtful file gives an empty cache.
    pub fn load(state_dir: &Path) -> DigestCache {
        let path = state_dir.join(FILE);
        let entries = fs::read(&path)
            .ok()
            .and_then(|bytes| parse(&bytes))
            .unwrap_or_default();
        DigestCache {
            path: Some(path),
            entries: Mutex::new(entries),
            dirty: Mutex::new(false),
            began: filesystem_now(),
            local_times: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, m: &fs::Metadata) -> Option<Entry> {
        let mut entries = self.entries.lock().expect("cache lock");
        let e = entries.get_mut(&(m.dev(), m.ino()))?;
        if e.stamp != Stamp::of(m) {
            return None;
        }
        e.seen = true;
        Some(e.clone())
    }

    /// How far before the run the change time of `path` (metadata `m`) must lie for a read of
    /// it to be cached; `None`: never cached, its filesystem's times are not this kernel's own.
    fn window(&self, path: &Path, m: &fs::Metadata) -> Option<Duration> {
        let mut known = self.local_times.lock().expect("cache lock");
        let local = *known
            .entry(m.dev())
            .or_insert_with(|| local_fine_times(path));
        if !local {
            return None;
        }
        // Whole seconds (an old inode format) show as nanoseconds that are all zero.
        Some(if m.ctime_nsec() == 0 {
            WHOLE_SECONDS
        } else {
            WINDOW
        })
    }

    /// Caches what reading `path` (stat'ed as `m` before the read) gave. `trusted`: we wrote
    /// the file ourselves, so its content is known whatever its times.
    fn store(
        &self,
        path: &Path,
        m: &fs::Metadata,
        md5: Md5Sum,
        bundle: Option<String>,
        trusted: bool,
    ) {
        if self.path.is_none() {
            return;
        }
        let Some(window) = self.window(path, m) else {
            return;
        };
        let stamp = Stamp::of(m);
        if !trusted && !stamp.settled(self.began, window) {
            return;
        }
        // A name too long for the record's length field is simply not kept.
        let bundle = bundle.filter(|b| b.len() < usize::from(NO_BUNDLE));
        let mut entries = self.entries.lock().expect("cache lock");
        let entry = Entry {
            stamp,
            md5,
            bundle,
            seen: true,
        };
        entries.insert((m.dev(), m.ino()), entry);
        *self.dirty.lock().expect("cache lock") = true;
    }

    /// The MD5 of `path`, from the cache when the file is unchanged.
    pub fn md5(&self, path: &Path) -> std::io::Result<Md5Sum> {
        self.md5_with(path, &fs::metadata(path)?)
    }

    /// [`DigestCache::md5`] for a caller that already has the file's metadata `m`, taken after
    /// the cache was loaded.
    pub fn md5_with(&self, path: &Path, m: &fs::Metadata) -> std::io::Result<Md5Sum> {
        if let Some(e) = self.lookup(m) {
            return Ok(e.md5);
        }
        let sum = md5_file(path)?;
        self.learn(path, m, sum);
        Ok(sum)
    }

    /// Records what a read of `path` that began with metadata `m` (taken after the cache was
    /// loaded) gave, unless the file changed while it was read.
    pub fn learn(&self, path: &Path, m: &fs::Metadata, md5: Md5Sum) {
        if unchanged_since(path, m) {
            self.store(path, m, md5, None, false);
        }
    }

    /// The MD5 of the file whose metadata is `m`, when the cache knows it as it is.
    pub fn known_md5(&self, m: &fs::Metadata) -> Option<Md5Sum> {
        self.lookup(m).map(|e| e.md5)
    }

    /// What a full check of the jar whose metadata is `m` gave (the bundle name its manifest
    /// gives it, `None` when it names none) and its MD5, when the cache knows the jar as it is.
    pub fn known_jar(&self, m: &fs::Metadata) -> Option<(Option<String>, Md5Sum)> {
        let e = self.lookup(m)?;
        let bundle = e.bundle?;
        Some(((!bundle.is_empty()).then_some(bundle), e.md5))
    }

    /// Reads a patch entry the cache does not know (metadata `m`, taken after the cache was
    /// loaded): for a jar, first `check` (its full check, giving the bundle name its manifest
    /// gives), then its digest, both cached; a file that changed while it was read is refused.
    /// Only what the bytes decide is cached, never what the entry's name does: a hard link under
    /// another name reads the same.
    pub fn read_entry(
        &self,
        path: &Path,
        m: &fs::Metadata,
        jar: bool,
        check: impl FnOnce() -> Result<Option<String>>,
    ) -> Result<(Option<String>, Md5Sum)> {
        let name = if jar { check()? } else { None };
        let sum = md5_file(path).context("cannot read")?;
        if !unchanged_since(path, m) {
            anyhow::bail!("changed while being read (still being written?)");
        }
        let bundle = jar.then(|| name.clone().unwrap_or_default());
        self.store(path, m, sum, bundle, false);
        Ok((name, sum))
    }

    /// Records that `path`, which we just wrote, holds bytes with digest `md5`.
    pub fn record(&self, path: &Path, md5: Md5Sum) {
        if let Ok(m) = fs::metadata(path) {
            self.store(path, &m, md5, None, true);
        }
    }

    /// Writes the cache back when it learned something. `complete`: this run applied, so it
    /// looked at nearly everything a later run asks about (every jar in play, the files of
    /// `plugins` and `patch0000` it compared), and the entries it did not look at are dropped:
    /// mostly files gone or replaced, so the cache never grows without bound. What a later run
    /// then misses (the jars of patch dirs the service pack lists, a file a patch replaces) it
    /// reads again; an entry is never trusted without its stamp, so dropping one costs time,
    /// never a wrong answer.
    ///
    /// Written without waiting for the disk: after a crash the checksum throws a torn file away,
    /// which costs the next run a read of the jars, nothing more.
    pub fn save(&self, complete: bool) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !*self.dirty.lock().expect("cache lock") {
            return Ok(());
        }
        let entries = self.entries.lock().expect("cache lock");
        let bytes = serialize(entries.iter().filter(|(_, e)| e.seen || !complete));
        if let Some(dir) = path.parent() {
            fsops::create_dir_all_owned(dir)?;
        }
        fsops::write_atomic_unsynced(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the cache keeps anything in `dir`: only on a local filesystem (tests of what it
    /// keeps are skipped elsewhere, say a TMPDIR on NFS).
    fn cached_here(dir: &Path) -> bool {
        let local = local_fine_times(dir);
        if !local {
            eprintln!("SKIPPED: {} is not on a local filesystem", dir.display());
        }
        local
    }

    /// Waits out the racy window after a write, on any local filesystem.
    fn age(_written: &Path) {
        std::thread::sleep(WHOLE_SECONDS + Duration::from_millis(50));
    }

    #[test]
    fn hits_after_save_and_load_and_misses_on_any_change() {
        let dir = tempfile::tempdir().unwrap();
        if !cached_here(dir.path()) {
            return;
        }
        let f = dir.path().join("a.jar");
        fs::write(&f, b"one").unwrap();
        age(&f);
        let c = DigestCache::load(dir.path());
        let first = c.md5(&f).unwrap();
        c.save(false).unwrap();
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
        if !cached_here(dir.path()) {
            return;
        }
        let f = dir.path().join("new.jar");
        // Written while a run is under way (after its cache was loaded): in the run's own
        // clock tick or later, so a second write could keep every field.
        let c = DigestCache::load(dir.path());
        fs::write(&f, b"fresh").unwrap();
        c.md5(&f).unwrap();
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_none());
        // Ours: recorded at once.
        c.record(&f, md5_file(&f).unwrap());
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_some());
        c.save(false).unwrap();
        let mut damaged = fs::read(dir.path().join(FILE)).unwrap();
        let last = damaged.len() - 9;
        damaged[last] ^= 1;
        fs::write(dir.path().join(FILE), damaged).unwrap();
        let c = DigestCache::load(dir.path());
        assert!(c.lookup(&fs::metadata(&f).unwrap()).is_none());
    }

    #[test]
    fn a_file_written_before_the_window_is_cached_on_a_local_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("settled.jar");
        fs::write(&f, b"written by the last run's caller").unwrap();
        let m = fs::metadata(&f).unwrap();
        std::thread::sleep(WINDOW + Duration::from_millis(25));
        let c = DigestCache::load(dir.path());
        c.md5(&f).unwrap();
        let cached = c.lookup(&fs::metadata(&f).unwrap()).is_some();
        match (local_fine_times(&f), m.ctime_nsec() != 0) {
            (true, true) => assert!(cached, "settled on a local nanosecond filesystem"),
            (true, false) => assert!(!cached, "whole seconds wait {WHOLE_SECONDS:?}"),
            (false, _) => assert!(!cached, "nothing is cached on a foreign filesystem"),
        }
    }

    #[test]
    fn the_window_is_100_ms_with_nanoseconds_and_two_seconds_with_whole_seconds() {
        let at = |ctime: (i64, i64)| Stamp {
            size: 1,
            mtime: ctime,
            ctime,
        };
        let began = Duration::new(100, 500_000_000);
        // Written after the run began, or within the window before: racy.
        assert!(!at((100, 600_000_000)).settled(began, WINDOW));
        assert!(!at((100, 400_000_001)).settled(began, WINDOW));
        assert!(at((100, 400_000_000)).settled(began, WINDOW));
        // Whole-second times.
        assert!(!at((99, 0)).settled(began, WHOLE_SECONDS));
        assert!(at((98, 0)).settled(began, WHOLE_SECONDS));
        // A clock that failed (zero) settles nothing.
        assert!(!at((0, 0)).settled(Duration::ZERO, WINDOW));
    }

    #[test]
    fn a_complete_run_drops_what_it_did_not_see_and_names_survive_the_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        if !cached_here(dir.path()) {
            return;
        }
        let (kept, gone) = (dir.path().join("kept.jar"), dir.path().join("gone.jar"));
        fs::write(&kept, b"kept").unwrap();
        fs::write(&gone, b"gone").unwrap();
        let c = DigestCache::load(dir.path());
        c.record(&kept, md5_file(&kept).unwrap());
        c.store(
            &gone,
            &fs::metadata(&gone).unwrap(),
            md5_file(&gone).unwrap(),
            Some("b_1.0.jar".into()),
            true,
        );
        c.save(false).unwrap();
        // A run that looks at one file only and is not complete keeps both.
        let c = DigestCache::load(dir.path());
        assert!(c.lookup(&fs::metadata(&kept).unwrap()).is_some());
        c.record(&kept, md5_file(&kept).unwrap());
        c.save(false).unwrap();
        let c = DigestCache::load(dir.path());
        let m = fs::metadata(&gone).unwrap();
        assert_eq!(c.known_jar(&m).unwrap().0.unwrap(), "b_1.0.jar");
        // A complete run that saw only `kept` drops `gone`.
        let c = DigestCache::load(dir.path());
        c.record(&kept, md5_file(&kept).unwrap());
        c.save(true).unwrap();
        let c = DigestCache::load(dir.path());
        assert!(c.lookup(&fs::metadata(&gone).unwrap()).is_none());
        assert_eq!(
            c.lookup(&fs::metadata(&kept).unwrap()).unwrap().md5,
            md5_file(&kept).unwrap()
        );
    }

    #[test]
    fn a_truncated_or_zeroed_file_is_thrown_away() {
        let dir = tempfile::tempdir().unwrap();
        if !cached_here(dir.path()) {
            return;
        }
        let f = dir.path().join("a.jar");
        fs::write(&f, b"a").unwrap();
        let c = DigestCache::load(dir.path());
        c.record(&f, md5_file(&f).unwrap());
        c.save(false).unwrap();
        let whole = fs::read(dir.path().join(FILE)).unwrap();
        assert!(parse(&whole).is_some());
        for cut in [HEADER.len(), whole.len() / 2, whole.len() - 1] {
            assert!(parse(&whole[..cut]).is_none(), "cut at {cut}");
        }
        let mut zeroed = whole.clone();
        zeroed[HEADER.len()..].fill(0);
        assert!(parse(&zeroed).is_none());
    }
}
