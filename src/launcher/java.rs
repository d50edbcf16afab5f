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
const MIN_TREEIFY_CAPACITY: usize = 64;

/// An insertion-ordered map whose iteration follows `java.util.HashMap`: buckets in index
/// order, each bucket in insertion order, a replaced key keeping its place, and the table
/// doubling when the size passes 0.75 × capacity (or when a bucket reaches 9 entries while the
/// table is smaller than 64 buckets). Buckets that Java would turn into trees (9+ colliding
/// entries in a table of 64 or more) keep list order here: that order is not emulated.
#[derive(Debug, Clone)]
pub struct JavaHashMap<V> {
    buckets: Vec<Vec<(String, u32, V)>>,
    len: usize,
}

impl<V> Default for JavaHashMap<V> {
    fn default() -> Self {
        JavaHashMap {
            buckets: Vec::new(),
            len: 0,
        }
    }
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

    /// `put`: replaces the value of an existing key in place, else appends to the bucket.
    pub fn insert(&mut self, key: String, value: V) {
        if self.buckets.is_empty() {
            self.buckets = (0..INITIAL_CAPACITY).map(|_| Vec::new()).collect();
        }
        let hash = spread(&key);
        let idx = hash as usize & (self.buckets.len() - 1);
        let bucket = &mut self.buckets[idx];
        if let Some(slot) = bucket.iter_mut().find(|(k, h, _)| *h == hash && *k == key) {
            slot.2 = value;
            return;
        }
        bucket.push((key, hash, value));
        // Java's treeifyBin resizes instead of treeifying while the table is small.
        let bin_count = bucket.len();
        if bin_count > TREEIFY_THRESHOLD && self.buckets.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
        }
        self.len += 1;
        if self.len > self.buckets.len() * 3 / 4 {
            self.resize();
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        if self.buckets.is_empty() {
            return None;
        }
        let hash = spread(key);
        self.buckets[hash as usize & (self.buckets.len() - 1)]
            .iter()
            .find(|(k, h, _)| *h == hash && k == key)
            .map(|(_, _, v)| v)
    }

    /// Doubles the table; a split keeps each bucket's relative order.
    fn resize(&mut self) {
        let new_cap = self.buckets.len() * 2;
        let mut next: Vec<Vec<(String, u32, V)>> = (0..new_cap).map(|_| Vec::new()).collect();
        for bucket in std::mem::take(&mut self.buckets) {
            for entry in bucket {
                let idx = entry.1 as usize & (new_cap - 1);
                next[idx].push(entry);
            }
        }
        self.buckets = next;
    }

    /// Entries in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.buckets
            .iter()
            .flatten()
            .map(|(k, _, v)| (k.as_str(), v))
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

    /// Every case of `tests/fixtures/java_hashmap_orders.txt`, recorded from a real
    /// `java.util.HashMap` (resizes, full collisions, re-puts, non-ASCII keys, the long-bucket
    /// resize rule): our hash and our iteration order must match Java's.
    #[test]
    fn matches_orders_recorded_from_java() {
        let text = include_str!("../../tests/fixtures/java_hashmap_orders.txt");
        let (mut cases, mut map, mut expect) = (0, JavaHashMap::new(), Vec::new());
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# hash ") {
                let (key, hash) = rest.rsplit_once(' ').unwrap();
                assert_eq!(
                    string_hash(key),
                    hash.parse::<i32>().unwrap(),
                    "hash of {key}"
                );
            } else if line.starts_with("case ") {
                map = JavaHashMap::new();
                expect.clear();
            } else if let Some(key) = line.strip_prefix("insert ") {
                map.insert(key.to_string(), ());
            } else if let Some(key) = line.strip_prefix("order ") {
                expect.push(key.to_string());
            } else if line == "end" {
                let got: Vec<String> = map.iter().map(|(k, _)| k.to_string()).collect();
                assert_eq!(got, expect, "case {cases}");
                assert_eq!(map.len(), expect.len());
                cases += 1;
            }
        }
        assert_eq!(cases, 17);
    }
}
