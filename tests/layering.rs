//! The layout of `src/` stays what ARCHITECTURE.md says: every `crate::` path in a file names a
//! module of its own layer or a lower one, and no two files import each other, directly or round
//! a loop. Read from the source text (a `use` line or an inline `crate::a::b` path), so a new
//! upward import fails here with the file, the line and the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A file may import its own layer and the ones below.
const LAYERS: &[(&str, u8)] = &[
    ("fsops", 0),
    ("launcher", 1),
    ("product", 2),
    ("commands", 3),
    ("cli", 3),
];

/// The layer of a file, from its path below `src/` (`lib.rs` and `main.rs` stand above all).
fn layer_of(rel: &Path) -> u8 {
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    let first = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS
        .iter()
        .find(|(name, _)| *name == first)
        .map_or(9, |(_, layer)| *layer)
}

fn layer_name(rel: &Path) -> String {
    rel.components()
        .next()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .unwrap_or_default()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file below `src/`: `product/scan.rs` is `["product", "scan"]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    if last != "mod.rs" && last != "lib.rs" && last != "main.rs" {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The file that defines the deepest module of `path` (`["product", "scan", "Scan"]` →
/// `product/scan.rs`).
fn file_of(src: &Path, path: &[String]) -> Option<PathBuf> {
    let mut found = None;
    for n in 1..=path.len() {
        let dir: PathBuf = path[..n].iter().collect();
        let file = dir.with_extension("rs");
        if src.join(&file).is_file() {
            found = Some(file);
        } else if src.join(dir.join("mod.rs")).is_file() {
            found = Some(dir.join("mod.rs"));
        } else {
            break;
        }
    }
    found
}

/// Every module path a line names from the crate root: `crate::a::b`, `carbon_patcher::a::b`
/// (in `main.rs`), `super::a` (relative to `module`), and each branch of a `{…}` group.
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for root in ["crate::", "carbon_patcher::", "super::"] {
        let mut rest = line;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base: Vec<String> = if root == "super::" {
                // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` (module a::b) also `a`.
                let mut m = module.to_vec();
                m.pop();
                m
            } else {
                Vec::new()
            };
            for tail in expand(rest) {
                let mut p = base.clone();
                p.extend(tail);
                out.push(p);
            }
        }
    }
    out
}

/// The paths a `use` tail stands for: `a::b::{c, d::e}` → `a::b::c`, `a::b::d::e`.
fn expand(tail: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut i = 0;
    let b = tail.as_bytes();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            segs.push(tail[start..i].to_string());
        }
        if tail[i..].starts_with("::{") {
            // A group: split at top-level commas.
            let inner_start = i + 3;
            let (mut depth, mut j) = (1, inner_start);
            while j < b.len() && depth > 0 {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            let inner = &tail[inner_start..j.saturating_sub(1).max(inner_start)];
            let mut out = Vec::new();
            let (mut d, mut from) = (0, 0);
            let ib = inner.as_bytes();
            for k in 0..=ib.len() {
                if k == ib.len() || (ib[k] == b',' && d == 0) {
                    let part = inner[from..k].trim();
                    if !part.is_empty() && part != "self" {
                        for sub in expand(part) {
                            let mut p = segs.clone();
                            p.extend(sub);
                            out.push(p);
                        }
                    } else if part == "self" {
                        out.push(segs.clone());
                    }
                    from = k + 1;
                } else if ib[k] == b'{' {
                    d += 1;
                } else if ib[k] == b'}' {
                    d -= 1;
                }
            }
            return out;
        }
        if tail[i..].starts_with("::") {
            i += 2;
            continue;
        }
        return vec![segs];
    }
}

struct Import {
    from: PathBuf,
    to: PathBuf,
    line: usize,
    text: String,
}

fn imports(src: &Path) -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_path_buf();
        let module = module_of(&rel);
        let text = std::fs::read_to_string(&file).unwrap();
        for (no, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // An indented `super::` is inside an inline module (`mod tests`): its `super` is
            // this very file.
            let code = if code.len() < line.len() {
                code.replace("super::", "self::")
            } else {
                code.to_string()
            };
            for path in paths_in(&code, &module) {
                let Some(to) = file_of(src, &path) else {
                    continue;
                };
                // `use crate::a::{self, B}` names one file once.
                if to == rel
                    || out
                        .last()
                        .is_some_and(|l: &Import| l.line == no + 1 && l.to == to)
                {
                    continue;
                }
                out.push(Import {
                    from: rel.clone(),
                    to,
                    line: no + 1,
                    text: line.trim().to_string(),
                });
            }
        }
    }
    out
}

/// Upward imports, as readable lines.
fn upward(imports: &[Import]) -> Vec<String> {
    imports
        .iter()
        .filter(|i| layer_of(&i.to) > layer_of(&i.from))
        .map(|i| {
            format!(
                "src/{}:{}: the {} layer imports the higher {} layer: {}",
                i.from.display(),
                i.line,
                layer_name(&i.from),
                layer_name(&i.to),
                i.text
            )
        })
        .collect()
}

/// Loops between files (a module's own `mod.rs` standing over its children is the module tree,
/// not an import, so edges from a `mod.rs` into its own folder are left out).
fn cycles(imports: &[Import]) -> Vec<String> {
    let mut graph: BTreeMap<&Path, BTreeSet<&Path>> = BTreeMap::new();
    for i in imports {
        let parent_of_child = i.from.ends_with("mod.rs")
            && i.to.starts_with(i.from.parent().unwrap_or(Path::new("")));
        if !parent_of_child {
            graph.entry(&i.from).or_default().insert(&i.to);
        }
    }
    let (mut found, mut loops) = (BTreeSet::new(), Vec::new());
    for &start in graph.keys() {
        // Depth-first from each file, looking for a way back to it.
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for &next in graph.get(at).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = path
                        .iter()
                        .map(|p| format!("src/{}", p.display()))
                        .collect();
                    names.push(format!("src/{}", start.display()));
                    // One report a loop, whichever file it was found from.
                    let mut key: Vec<&Path> = path.clone();
                    key.sort();
                    if found.insert(key) {
                        loops.push(names.join(" -> "));
                    }
                } else if seen.insert(next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    loops
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_file_imports_a_higher_layer() {
    let found = upward(&imports(&src()));
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn no_import_loops_between_files() {
    let found = cycles(&imports(&src()));
    assert!(found.is_empty(), "import loops:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 600).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concern:\n{}",
        long.join("\n")
    );
}

/// The check itself: a planted upward import and a planted loop are both caught, with the file
/// and line named.
#[test]
fn the_check_catches_an_upward_import_and_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for d in ["fsops", "launcher", "product"] {
        std::fs::create_dir(s.join(d)).unwrap();
    }
    std::fs::write(s.join("lib.rs"), "pub mod fsops;\n").unwrap();
    std::fs::write(s.join("fsops/mod.rs"), "pub mod write;\n").unwrap();
    std::fs::write(
        s.join("fsops/write.rs"),
        "use crate::product::scan::{self, Scan};\n",
    )
    .unwrap();
    std::fs::write(s.join("launcher/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(s.join("launcher/a.rs"), "use crate::launcher::b::B;\n").unwrap();
    std::fs::write(
        s.join("launcher/b.rs"),
        "fn f() { crate::launcher::a::g() }\n",
    )
    .unwrap();
    std::fs::write(s.join("product/mod.rs"), "pub mod scan;\n").unwrap();
    std::fs::write(s.join("product/scan.rs"), "use crate::fsops;\n").unwrap();
    let found = imports(s);
    let up = upward(&found);
    assert_eq!(
        up,
        vec![
            "src/fsops/write.rs:1: the fsops layer imports the higher product layer: use crate::product::scan::{self, Scan};"
                .to_string()
        ]
    );
    let loops = cycles(&found);
    assert_eq!(loops.len(), 1, "{loops:?}");
    assert!(loops[0].contains("src/launcher/a.rs") && loops[0].contains("src/launcher/b.rs"));
}
