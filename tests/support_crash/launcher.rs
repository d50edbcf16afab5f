//! What the real launcher would decide on a tree, written from the spec (section 3) and
//! independent of our own detection code: the apply order, the latest jars, and whether its
//! change detection against `prePatchedDir.txt` and `prePatchedJARs.txt` sees a change. A
//! launcher that sees none starts the server on `plugins` as it is.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::trace::Entry;

/// What the launcher reads of the patches and service-packs dirs: the latest service pack (if
/// a directory), the patch dirs it applies (sorted, not listed by the service pack, without
/// `patch0000`), and the latest jars (bundle file name → MD5 of the source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub servicepack: Option<String>,
    pub patches: Vec<String>,
    pub latest: BTreeMap<String, String>,
}

/// The names directly under `dir` in `tree`, with their entries.
pub fn children<'a>(tree: &'a BTreeMap<PathBuf, Entry>, dir: &Path) -> Vec<(String, &'a Entry)> {
    tree.range(dir.to_path_buf()..)
        .skip_while(|(p, _)| p.as_path() == dir)
        .take_while(|(p, _)| p.starts_with(dir))
        .filter(|(p, _)| p.parent() == Some(dir))
        .map(|(p, e)| (p.file_name().unwrap().to_string_lossy().into_owned(), e))
        .collect()
}

/// Lines as Java's `BufferedReader.readLine` gives them: `\n`, `\r\n` and `\r` end a line, and
/// a last line without an ending counts.
pub fn java_lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push(std::mem::take(&mut cur)),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The bundle file name the launcher gives a jar (section 4), or its own name.
fn bundle_name(file: &str, bytes: &[u8]) -> String {
    if !file.ends_with(".jar") {
        return file.to_string();
    }
    let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return file.to_string();
    };
    let Some(idx) = (0..z.len()).find(|&i| {
        z.by_index(i)
            .map(|e| {
                e.name()
                    .is_ok_and(|n| n.eq_ignore_ascii_case("META-INF/MANIFEST.MF"))
            })
            .unwrap_or(false)
    }) else {
        return file.to_string();
    };
    let mut text = String::new();
    if z.by_index(idx)
        .and_then(|mut e| e.read_to_string(&mut text).map_err(Into::into))
        .is_err()
    {
        return file.to_string();
    }
    let attr = |key: &str| {
        text.lines()
            .take_while(|l| !l.trim_end_matches('\r').is_empty())
            .find_map(|l| {
                let (k, v) = l.trim_end_matches('\r').split_once(": ")?;
                k.eq_ignore_ascii_case(key).then(|| v.to_string())
            })
    };
    match (attr("Bundle-SymbolicName"), attr("Bundle-Version")) {
        (Some(n), Some(v)) => format!("{}_{v}.jar", n.split(';').next().unwrap()),
        _ => file.to_string(),
    }
}

impl Inputs {
    /// The launcher's inputs in `tree` for the components dir `components`.
    pub fn of(tree: &BTreeMap<PathBuf, Entry>, components: &Path) -> Inputs {
        let is_candidate = |n: &str| n.starts_with("patch") || n.starts_with("servicepack");
        let sorted = |dir: &Path| {
            let mut v: Vec<(String, &Entry)> = children(tree, dir)
                .into_iter()
                .filter(|(n, _)| is_candidate(n))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let sps = components.join("servicepacks");
        let mut latest = BTreeMap::new();
        let mut listed = Vec::new();
        let mut servicepack = None;
        if let Some((name, Entry::Dir)) = sorted(&sps).last() {
            let sp = sps.join(name);
            if let Some(Entry::File(b)) = tree.get(&sp.join("servicepack_patches.txt")) {
                listed = java_lines(b);
            }
            for (n, e) in children(tree, &sp.join("lib")) {
                if let Entry::File(b) = e {
                    latest.insert(bundle_name(&n, b), crate::common::md5_hex(b));
                }
            }
            servicepack = Some(name.clone());
        }
        let patches_dir = components.join("patches");
        let mut patches = Vec::new();
        for (name, e) in sorted(&patches_dir) {
            if *e != Entry::Dir || listed.contains(&name) || name == "patch0000" {
                continue;
            }
            for (n, e) in children(tree, &patches_dir.join(&name)) {
                if let Entry::File(b) = e {
                    latest.insert(bundle_name(&n, b), crate::common::md5_hex(b));
                }
            }
            patches.push(name);
        }
        Inputs {
            servicepack,
            patches,
            latest,
        }
    }

    /// The apply order, `patch0000` in it when the backup exists.
    pub fn order(&self, has_backup: bool) -> Vec<String> {
        let mut patches = self.patches.clone();
        if has_backup {
            patches.push("patch0000".to_string());
            patches.sort();
        }
        self.servicepack.iter().cloned().chain(patches).collect()
    }
}

/// Whether the launcher sees a change on a tree whose metadata files hold `dir_txt` and
/// `jars_txt`, with `inputs` in its patches and service-packs dirs; `Err` where it would
/// throw instead of starting.
pub fn sees_change(
    dir_txt: Option<&[u8]>,
    jars_txt: Option<&[u8]>,
    inputs: &Inputs,
    has_backup: bool,
) -> Result<bool, String> {
    let mut order = inputs.order(has_backup);
    let mut changes = 0usize;
    let mut count = |name: &str| {
        // An empty line is logged but not counted.
        if !name.is_empty() {
            changes += 1;
        }
    };
    match dir_txt {
        None => order
            .iter()
            .filter(|n| n.as_str() != "patch0000")
            .for_each(|n| count(n)),
        Some(text) => {
            let mut prev = java_lines(text);
            let s = |v: &Vec<String>| v.first().is_some_and(|n| n.starts_with('s'));
            if !prev.is_empty() && !order.is_empty() {
                if s(&order) && s(&prev) {
                    if order[0] != prev[0] {
                        count(&order[0].clone());
                    }
                    prev.remove(0);
                    order.remove(0);
                } else if s(&order) {
                    count(&order.remove(0));
                } else if s(&prev) {
                    count(&order[0].clone());
                    prev.remove(0);
                }
            } else if !prev.is_empty() {
                if s(&prev) {
                    return Err(format!(
                        "prePatchedDir.txt starts with {:?} and no patch is left: the launcher \
                         throws",
                        prev[0]
                    ));
                }
            } else if s(&order) {
                count(&order.remove(0));
            }
            let (mut i, mut j) = (0, 0);
            while i < order.len() && j < prev.len() {
                match order[i].cmp(&prev[j]) {
                    std::cmp::Ordering::Equal => {
                        i += 1;
                        j += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        count(&prev[j]);
                        j += 1;
                    }
                    std::cmp::Ordering::Less => {
                        count(&order[i]);
                        i += 1;
                    }
                }
            }
            order[i..].iter().for_each(|n| count(n));
            prev[j..].iter().for_each(|n| count(n));
        }
    }
    if changes > 0 {
        return Ok(true);
    }
    let Some(jars) = jars_txt else {
        return Ok(false);
    };
    let mut recorded = BTreeMap::new();
    for line in java_lines(jars) {
        let Some((name, md5)) = line.split_once(':') else {
            return Err(format!(
                "prePatchedJARs.txt line {line:?} has no `:`: the launcher throws"
            ));
        };
        recorded.insert(name.to_string(), md5.to_string());
    }
    Ok(inputs
        .latest
        .iter()
        .any(|(name, md5)| recorded.get(name) != Some(md5)))
}
