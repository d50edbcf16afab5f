//! Change detection (spec section 3, steps 3 and 5), quirks included: the launcher compares the
//! apply order with `prePatchedDir.txt` in its own peculiar way (service packs recognised by a
//! leading `s`, a reverted service pack counted under the *new* first name, empty lines logged
//! but not counted), and looks for added or updated jars only when no directory changed.

use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::fsops::digest::Md5Sum;
use crate::launcher::java::{self, JavaHashMap};
use crate::launcher::layout::BACKUP_DIR;

/// What detection found: the `PatchUtils` lines it logs, and whether anything counts as changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Detection {
    pub messages: Vec<String>,
    pub new: Vec<String>,
    pub removed: Vec<String>,
}

impl Detection {
    fn added(&mut self, name: &str, message: String) {
        self.messages.push(message);
        // PatchInfo ignores empty names.
        if !name.is_empty() {
            self.new.push(name.to_string());
        }
    }
    fn reverted(&mut self, counted_as: &str, message: String) {
        self.messages.push(message);
        if !counted_as.is_empty() {
            self.removed.push(counted_as.to_string());
        }
    }
    pub fn changed(&self) -> bool {
        !self.new.is_empty() || !self.removed.is_empty()
    }
}

/// Why detection cannot go on: the launcher throws here, so we refuse instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectError {
    /// `prePatchedDir.txt` starts with a service pack, and there is no service pack and no patch
    /// dir at all (not even `patch0000`): the launcher indexes an empty list.
    RevertedServicePackNothingLeft(String),
}

/// Compares the apply order with the previous `prePatchedDir.txt` lines (`None`: no file).
pub fn detect(
    apply_order: &[String],
    previous: Option<&[String]>,
) -> Result<Detection, DetectError> {
    let mut d = Detection::default();
    let Some(previous) = previous else {
        for name in apply_order.iter().filter(|n| *n != BACKUP_DIR) {
            let msg = if name.starts_with("servicepack") {
                format!("New service pack available - {name}")
            } else {
                format!("New patch available - {name}")
            };
            d.added(name, msg);
        }
        return Ok(d);
    };
    let mut now: &[String] = apply_order;
    let mut old: &[String] = previous;
    let is_sp = |s: &String| s.starts_with('s');
    match (now.first(), old.first()) {
        (Some(n), Some(o)) if is_sp(n) && is_sp(o) => {
            if n != o {
                // Counted as removed under the new name: reproduced, it only affects counting.
                d.reverted(n, format!("{o} has been reverted"));
                d.added(n, format!("New service pack available - {n}"));
            }
            now = &now[1..];
            old = &old[1..];
        }
        (Some(n), Some(_)) if is_sp(n) => {
            d.added(n, format!("New service pack available - {n}"));
            now = &now[1..];
        }
        (Some(n), Some(o)) if is_sp(o) => {
            d.reverted(n, format!("{o} has been reverted"));
            old = &old[1..];
        }
        (None, Some(o)) if is_sp(o) => {
            return Err(DetectError::RevertedServicePackNothingLeft(o.clone()));
        }
        (Some(n), None) if is_sp(n) => {
            d.added(n, format!("New service pack available - {n}"));
            now = &now[1..];
        }
        _ => {}
    }
    let (mut i, mut j) = (0, 0);
    while i < now.len() && j < old.len() {
        match java::compare(&now[i], &old[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Greater => {
                d.reverted(&old[j], format!("{} has been reverted", old[j]));
                j += 1;
            }
            std::cmp::Ordering::Less => {
                d.added(&now[i], format!("New patch available - {}", now[i]));
                i += 1;
            }
        }
    }
    for n in &now[i..] {
        d.added(n, format!("New patch available - {n}"));
    }
    for o in &old[j..] {
        d.reverted(o, format!("{o} has been reverted"));
    }
    Ok(d)
}

/// Parses `prePatchedJARs.txt`: each line split at its first `:`; a later duplicate wins.
pub fn parse_pre_patched_jars(text: &str) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for (no, line) in java::read_lines(text).into_iter().enumerate() {
        let Some((name, md5)) = line.split_once(':') else {
            bail!(
                "line {}: {:?} has no ':' between a jar name and its MD5",
                no + 1,
                line
            );
        };
        map.insert(name.to_string(), md5.to_string());
    }
    Ok(map)
}

/// Step 5: the first latest jar (in map order) that is new or whose MD5 differs from the
/// previous run's gives the one `… has been added` / `… has been updated` line.
pub fn jar_change<V>(
    latest: &JavaHashMap<V>,
    md5_of: impl Fn(&V) -> Md5Sum,
    previous: &HashMap<String, String>,
) -> Option<String> {
    for (name, v) in latest.iter() {
        match previous.get(name) {
            None => return Some(format!("{name} has been added")),
            Some(old) if *old != md5_of(v).to_string() => {
                return Some(format!("{name} has been updated"))
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn run(now: &[&str], old: Option<&[&str]>) -> Detection {
        let old = old.map(v);
        detect(&v(now), old.as_deref()).unwrap()
    }

    #[test]
    fn first_run_everything_but_the_backup_is_new() {
        let d = run(&["servicepack001", "patch0000", "patch0002"], None);
        assert_eq!(
            d.messages,
            vec![
                "New service pack available - servicepack001",
                "New patch available - patch0002"
            ]
        );
        assert!(d.changed());
        assert!(!run(&["patch0000"], None).changed());
        assert!(!run(&[], None).changed());
    }

    #[test]
    fn unchanged() {
        let d = run(
            &["servicepack001", "patch0000", "patch0003"],
            Some(&["servicepack001", "patch0000", "patch0003"]),
        );
        assert_eq!(d, Detection::default());
    }

    #[test]
    fn merge_new_and_reverted_in_order() {
        let d = run(
            &["patch0000", "patch0002", "patch0004"],
            Some(&["patch0000", "patch0001", "patch0002", "patch0003"]),
        );
        assert_eq!(
            d.messages,
            vec![
                "patch0001 has been reverted",
                "patch0003 has been reverted",
                "New patch available - patch0004",
            ]
        );
        assert_eq!(d.new, v(&["patch0004"]));
        assert_eq!(d.removed, v(&["patch0001", "patch0003"]));
    }

    #[test]
    fn service_pack_replaced_counts_under_new_name() {
        let d = run(
            &["servicepack002", "patch0000"],
            Some(&["servicepack001", "patch0000"]),
        );
        assert_eq!(
            d.messages,
            vec![
                "servicepack001 has been reverted",
                "New service pack available - servicepack002"
            ]
        );
        assert_eq!(d.removed, v(&["servicepack002"]));
        assert_eq!(d.new, v(&["servicepack002"]));
    }

    #[test]
    fn service_pack_added_to_patched_product() {
        let d = run(
            &["servicepack001", "patch0000"],
            Some(&["patch0000", "patch0001"]),
        );
        assert_eq!(
            d.messages,
            vec![
                "New service pack available - servicepack001",
                "patch0001 has been reverted"
            ]
        );
    }

    #[test]
    fn service_pack_removed_is_counted_under_the_first_patch_name() {
        let d = run(
            &["patch0000", "patch0001"],
            Some(&["servicepack001", "patch0000"]),
        );
        assert_eq!(
            d.messages,
            vec![
                "servicepack001 has been reverted",
                "New patch available - patch0001"
            ]
        );
        assert_eq!(d.removed, v(&["patch0000"]));
    }

    #[test]
    fn service_pack_only_in_apply_order_with_empty_file() {
        let d = run(&["servicepack001"], Some(&[]));
        assert_eq!(
            d.messages,
            vec!["New service pack available - servicepack001"]
        );
    }

    #[test]
    fn service_pack_removed_and_nothing_left_is_refused() {
        let e = detect(&[], Some(&v(&["servicepack001"]))).unwrap_err();
        assert_eq!(
            e,
            DetectError::RevertedServicePackNothingLeft("servicepack001".into())
        );
    }

    #[test]
    fn empty_previous_lines_are_logged_but_not_counted() {
        let d = run(&["patch0000"], Some(&["", "patch0000"]));
        assert_eq!(d.messages, vec![" has been reverted"]);
        assert!(!d.changed());
        let d = run(&["patch0000"], Some(&["patch0000", ""]));
        assert_eq!(d.messages, vec![" has been reverted"]);
        assert!(!d.changed());
    }

    #[test]
    fn pre_patched_jars_parsing() {
        let m = parse_pre_patched_jars("a_1.jar:abc\nb:c:d\r\na_1.jar:def").unwrap();
        assert_eq!(m["a_1.jar"], "def");
        assert_eq!(m["b"], "c:d");
        assert!(parse_pre_patched_jars("a_1.jar:abc\nbroken\n").is_err());
        assert!(parse_pre_patched_jars("a:1\n\n").is_err());
        assert!(parse_pre_patched_jars("").unwrap().is_empty());
    }

    #[test]
    fn first_added_or_updated_jar_in_map_order() {
        let sum = |b: u8| Md5Sum([b; 16]);
        let mut latest = JavaHashMap::new();
        // 'p' (bucket 0) iterates before 'a' (bucket 1).
        latest.insert("a".to_string(), sum(1));
        latest.insert("p".to_string(), sum(2));
        let prev: HashMap<String, String> = [
            ("a".to_string(), sum(9).to_string()),
            ("p".to_string(), sum(2).to_string()),
        ]
        .into();
        assert_eq!(
            jar_change(&latest, |s| *s, &prev).as_deref(),
            Some("a has been updated")
        );
        let prev: HashMap<String, String> = [("a".to_string(), sum(9).to_string())].into();
        assert_eq!(
            jar_change(&latest, |s| *s, &prev).as_deref(),
            Some("p has been added")
        );
        let prev: HashMap<String, String> = [
            ("a".to_string(), sum(1).to_string()),
            ("p".to_string(), sum(2).to_string()),
            ("gone".to_string(), sum(3).to_string()),
        ]
        .into();
        // A jar that disappeared is not a change.
        assert_eq!(jar_change(&latest, |s| *s, &prev), None);
    }
}
