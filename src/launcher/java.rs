//! The few bits of Java semantics the launcher's results depend on: `String.compareTo` ordering,
//! `BufferedReader.readLine` line splitting, `String.hashCode`, and the iteration order of a
//! `java.util.HashMap<String, _>`.

use std::cmp::Ordering;

/// `String.compareTo`: lexicographic over UTF-16 code units. Equals byte order on UTF-8 except
/// where a supplementary character (4 UTF-8 bytes, surrogates in UTF-16) meets U+E000..U+FFFF.
pub fn compare(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Lines as `BufferedReader.readLine` returns them: `\n`, `\r\n` and `\r` each end a line, a
/// final line without terminator counts, nothing is trimmed, empty lines are kept.
pub fn read_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `String.hashCode`: `h = 31*h + c` over UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `HashMap.hash`: the spread that folds the high half into the low half.
fn spread(s: &str) -> u32 {
    let h = string_hash(s) as u32;
    h ^ (h >> 16)
}

const INITIAL_CAPACITY: usize = 16;
const TREEIFY_THRESHOLD: usize = 8;
const UNTREEIFY_THRESHOLD: usize = 6;
const MIN_TREEIFY_CAPACITY: usize = 64;

// Tree bins (`HashMap.TreeNode`) live beside this file.
#[path = "java_tree.rs"]
mod tree;

/// One mapping, as a `HashMap.Node` holds it: the key, its spread hash and the value.
#[derive(Debug, Clone)]
struct Entry<V> {
    key: String,
    hash: u32,
    value: V,
}

/// One bucket of the table.
#[derive(Debug, Clone)]
enum Bin<V> {
    /// A plain bin: a linked list of nodes, new keys at the tail (empty for an empty bucket).
    List(Vec<Entry<V>>),
    /// A bin Java turned into a red-black tree: its own linked order, see `java_tree.rs`.
    Tree(tree::TreeBin<V>),
}

impl<V> Bin<V> {
    fn iter(&self) -> impl Iterator<Item = &Entry<V>> {
        let (list, tree) = match self {
            Bin::List(list) => (list.as_slice(), None),
            Bin::Tree(tree) => (&[][..], Some(tree)),
        };
        list.iter().chain(tree.into_iter().flat_map(|t| t.iter()))
    }
}

/// A map whose iteration follows `java.util.HashMap`: buckets in index order, each bucket in
/// its linked order (insertion order for a plain bin, a replaced key keeping its place), and
/// the table doubling when the size passes 0.75 × capacity. A bucket reaching 9 entries doubles
/// the table while it is smaller than 64 buckets, else becomes a red-black tree bin, whose
/// order treeifying, later insertions and resizes rearrange as Java's do (`java_tree.rs`).
#[derive(Debug, Clone)]
pub struct JavaHashMap<V> {
    bins: Vec<Bin<V>>,
    len: usize,
}

impl<V> Default for JavaHashMap<V> {
    fn default() -> Self {
        JavaHashMap {
            bins: Vec::new(),
            len: 0,
        }
    }
}

fn empty_bins<V>(n: usize) -> Vec<Bin<V>> {
    (0..n).map(|_| Bin::List(Vec::new())).collect()
}

impl<V> JavaHashMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `putVal`: replaces the value of an existing key in place, else adds the key to its bin
    /// (a plain bin's tail, or a tree bin by `putTreeVal`).
    pub fn insert(&mut self, key: String, value: V) {
        if self.bins.is_empty() {
            self.bins = empty_bins(INITIAL_CAPACITY);
        }
        let hash = spread(&key);
        let idx = hash as usize & (self.bins.len() - 1);
        match &mut self.bins[idx] {
            Bin::Tree(tree) => {
                if !tree.put(Entry { key, hash, value }) {
                    return;
                }
            }
            Bin::List(list) => {
                if let Some(e) = list.iter_mut().find(|e| e.hash == hash && e.key == key) {
                    e.value = value;
                    return;
                }
                list.push(Entry { key, hash, value });
                if list.len() > TREEIFY_THRESHOLD {
                    self.treeify_bin(idx);
                }
            }
        }
        self.len += 1;
        if self.len > self.bins.len() * 3 / 4 {
            self.resize();
        }
    }

    /// `treeifyBin`: a small table is doubled instead; else the bin becomes a tree.
    fn treeify_bin(&mut self, idx: usize) {
        if self.bins.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
        } else if let Bin::List(list) = &mut self.bins[idx] {
            self.bins[idx] = Bin::Tree(tree::TreeBin::treeify(std::mem::take(list)));
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        if self.bins.is_empty() {
            return None;
        }
        let hash = spread(key);
        match &self.bins[hash as usize & (self.bins.len() - 1)] {
            Bin::List(list) => list
                .iter()
                .find(|e| e.hash == hash && e.key == key)
                .map(|e| &e.value),
            Bin::Tree(tree) => tree.get(hash, key),
        }
    }

    /// `resize`: doubles the table. Bin `j` splits into `j` and `j + old capacity` by that bit
    /// of the hash; a plain bin keeps its relative order, a tree bin splits as `TreeNode.split`.
    fn resize(&mut self) {
        let old_cap = self.bins.len();
        let mut next = empty_bins(old_cap * 2);
        for (j, bin) in std::mem::take(&mut self.bins).into_iter().enumerate() {
            let (low, high) = match bin {
                Bin::List(list) => {
                    let (low, high) = list
                        .into_iter()
                        .partition(|e| e.hash as usize & old_cap == 0);
                    (Bin::List(low), Bin::List(high))
                }
                Bin::Tree(tree) => tree.split(old_cap as u32),
            };
            next[j] = low;
            next[j + old_cap] = high;
        }
        self.bins = next;
    }

    /// Entries in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.bins
            .iter()
            .flat_map(Bin::iter)
            .map(|e| (e.key.as_str(), &e.value))
    }

    /// (bucket index, entries) of each tree bin, to check against Java's own table.
    #[cfg(test)]
    fn tree_bins(&self) -> Vec<(usize, usize)> {
        self.bins
            .iter()
            .enumerate()
            .filter_map(|(i, bin)| match bin {
                Bin::Tree(tree) => Some((i, tree.len())),
                Bin::List(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_is_utf16_order() {
        assert_eq!(compare("patch0001", "patch0002"), Ordering::Less);
        assert_eq!(compare("patch10", "patch9"), Ordering::Less);
        assert_eq!(compare("patch", "patch0000"), Ordering::Less);
        assert_eq!(compare("Patch1", "patch1"), Ordering::Less);
        // U+FFFD is above the surrogates (D800..DFFF) that encode U+1D518 in UTF-16, so Java
        // puts the supplementary character first while byte order puts it last.
        assert_eq!(compare("patch\u{1D518}", "patch\u{FFFD}"), Ordering::Less);
        assert_eq!("patch\u{1D518}".cmp("patch\u{FFFD}"), Ordering::Greater);
    }

    #[test]
    fn read_lines_like_buffered_reader() {
        assert_eq!(read_lines(""), Vec::<&str>::new());
        assert_eq!(read_lines("a"), vec!["a"]);
        assert_eq!(read_lines("a\n"), vec!["a"]);
        assert_eq!(read_lines("a\r\nb\rc\n"), vec!["a", "b", "c"]);
        assert_eq!(read_lines("a\n\nb\n\n"), vec!["a", "", "b", ""]);
        assert_eq!(read_lines("\r\r\n"), vec!["", ""]);
        assert_eq!(read_lines(" patch1 \n"), vec![" patch1 "]);
    }

    #[test]
    fn hash_matches_java_by_hand() {
        // "a" = 97; "ab" = 97*31 + 98 = 3105; "Aa" and "BB" collide at 2112.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("ab"), 3105);
        assert_eq!(string_hash("Aa"), 2112);
        assert_eq!(string_hash("BB"), 2112);
        // Wraps like Java's int: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
        // Over UTF-16 units: U+1D518 is the pair D835 DD18 → 0xD835*31 + 0xDD18.
        assert_eq!(string_hash("\u{1D518}"), 0xD835 * 31 + 0xDD18);
    }

    fn order(keys: &[&str]) -> Vec<String> {
        let mut m = JavaHashMap::new();
        for k in keys {
            m.insert(k.to_string(), ());
        }
        m.iter().map(|(k, _)| k.to_string()).collect()
    }

    #[test]
    fn order_by_hand_small_table() {
        // Single-character keys hash to their code point; with 16 buckets the index is the low
        // four bits: 'a'=97→1, 'b'=98→2, 'p'=112→0, 'q'=113→1.
        assert_eq!(order(&["a", "b", "p", "q"]), vec!["p", "a", "q", "b"]);
    }

    #[test]
    fn order_by_hand_collision_and_replace() {
        // "Aa" and "BB" share hash 2112 (bucket 0 of 16): kept in insertion order; a replaced
        // key keeps its place.
        let mut m = JavaHashMap::new();
        for k in ["BB", "a", "Aa", "BB"] {
            m.insert(k.to_string(), k.len());
        }
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["BB", "Aa", "a"]);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn order_by_hand_resize() {
        // 13 single-letter keys 'a'..'m' (97..109) force a resize to 32 buckets on the 13th:
        // index = code & 31 → 'a'=1 … 'm'=13, so iteration is alphabetical afterwards, while
        // before the resize 'p' (112 & 15 = 0) would come first.
        let keys: Vec<String> = (b'a'..=b'm').map(|c| (c as char).to_string()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(order(&refs), refs);
        let mut twelve = refs[..12].to_vec();
        twelve.push("p");
        // 13 keys again → 32 buckets: 'p' = 112 & 31 = 16, after 'l' (108 & 31 = 12).
        let mut expect = refs[..12].to_vec();
        expect.push("p");
        assert_eq!(order(&twelve), expect);
        // 12 keys: no resize, 'p' lands in bucket 0 and iterates first.
        let mut eleven = refs[..11].to_vec();
        eleven.push("p");
        let got = order(&eleven);
        assert_eq!(got[0], "p");
    }

    /// Replays every case of a fixture recorded from a real `java.util.HashMap` (format in the
    /// fixture's header): our hash, iteration order, size, table length and tree bins must be
    /// Java's, and `get` must find each key's last value. Returns the number of cases.
    fn replay_java_fixture(text: &str) -> usize {
        let mut cases = 0;
        let mut map = JavaHashMap::new();
        let (mut puts, mut expect, mut trees) = (0, Vec::new(), Vec::new());
        let mut last_put = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# hash ") {
                let (key, hash) = rest.rsplit_once(' ').unwrap();
                assert_eq!(string_hash(key), hash.parse::<i32>().unwrap(), "{key}");
            } else if let Some(name) = line.strip_prefix("case ") {
                println!("case {name}");
                map = JavaHashMap::new();
                (puts, last_put) = (0, Default::default());
                expect.clear();
                trees.clear();
            } else if let Some(key) = line.strip_prefix("insert ") {
                map.insert(key.to_string(), puts);
                last_put.insert(key, puts);
                puts += 1;
            } else if let Some(key) = line.strip_prefix("order ") {
                expect.push(key.to_string());
            } else if let Some(rest) = line.strip_prefix("# tree ") {
                let (index, count) = rest.split_once(' ').unwrap();
                trees.push((index.parse().unwrap(), count.parse().unwrap()));
            } else if let Some(rest) = line.strip_prefix("# size ") {
                let (size, capacity) = rest.split_once(" capacity ").unwrap();
                assert_eq!(map.len(), size.parse::<usize>().unwrap(), "case {cases}");
                assert_eq!(map.bins.len(), capacity.parse::<usize>().unwrap());
            } else if line == "end" {
                let got: Vec<String> = map.iter().map(|(k, _)| k.to_string()).collect();
                assert_eq!(got, expect, "order, case {cases}");
                assert_eq!(map.tree_bins(), trees, "tree bins, case {cases}");
                for (key, put) in &last_put {
                    assert_eq!(map.get(key), Some(put), "get {key}, case {cases}");
                }
                assert_eq!(map.get("not.a.key_1.0.0.jar"), None);
                cases += 1;
            }
        }
        cases
    }

    /// `tests/fixtures/java_hashmap_orders.txt`: resizes, full collisions, re-puts, non-ASCII
    /// keys, the long-bucket resize rule; no tree bins.
    #[test]
    fn matches_orders_recorded_from_java() {
        let text = include_str!("../../tests/fixtures/java_hashmap_orders.txt");
        assert_eq!(replay_java_fixture(text), 17);
    }

    /// `tests/fixtures/java_hashmap_trees.txt`: tree bins made, grown, re-put and split.
    #[test]
    fn matches_tree_bin_orders_recorded_from_java() {
        let text = include_str!("../../tests/fixtures/java_hashmap_trees.txt");
        assert_eq!(replay_java_fixture(text), 17);
    }
}
