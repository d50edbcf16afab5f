//! Changes made to `plugins` outside the patch process (WSO2's update tool, an operator's hand
//! fix) that a run restoring from `patch0000` would undo. The launcher's restore copies the whole
//! backup over `plugins`, so a jar updated since the backup gets its old bytes back and a jar
//! removed since comes back, without a word. Not the launcher's: we see it first and refuse
//! (spec section 9). The rules here are pure; `product::drift` says what the disk holds.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::fsops::digest::Md5Sum;
use crate::launcher::layout::BACKUP_DIR;
use crate::launcher::model::{Kind, Rel, Scan, Source, Tree};

/// The files only one of `plugins` and `patch0000` has, as the restore meets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeDiff {
    /// Files of `plugins` the backup lacks: the restore keeps them.
    pub only_in_plugins: Vec<Rel>,
    /// Files of the backup `plugins` lacks: the restore brings them back.
    pub only_in_backup: Vec<Rel>,
}

/// Compares the two trees' files (directories aside: the restore creates missing ones, and an
/// empty one holds nothing to lose).
pub fn tree_diff(plugins: &Tree, backup: &Tree) -> TreeDiff {
    let files = |t: &Tree, other: &Tree| -> Vec<Rel> {
        t.iter()
            .filter(|(rel, k)| **k == Kind::File && !other.contains_key(rel))
            .map(|(rel, _)| rel.clone())
            .collect()
    };
    TreeDiff {
        only_in_plugins: files(plugins, backup),
        only_in_backup: files(backup, plugins),
    }
}

/// How `plugins/<file>` differs from the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Other bytes than the backup's, and not a patch's.
    Changed,
    /// The backup has it, `plugins` does not.
    Removed,
    /// `plugins` has it, the backup does not, and no patch provides it.
    Added,
}

/// What the run would do to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The restore puts the backup's bytes back: the change is lost.
    Reverted,
    /// The restore copies the removed file back.
    BroughtBack,
    /// The restore leaves it (it only overlays): reported, harmless.
    Kept,
    /// A service pack or patch of this run writes the file after the restore: its version wins,
    /// as it would have anyway. Reported, not refused.
    Replaced,
}

/// One file changed outside the patch process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutsideChange {
    /// Relative to `plugins`.
    pub file: String,
    pub change: Change,
    pub action: Action,
    /// Who does it: `patch0000` (the restore) or the service pack or patch dir that writes the
    /// file last.
    pub by: String,
}

impl OutsideChange {
    /// Whether the run would lose this change (refused unless asked for).
    pub fn is_lost(&self) -> bool {
        matches!(self.action, Action::Reverted | Action::BroughtBack)
    }

    /// One line for people: `plugins/x.jar: changed; the restore from patch0000 puts back the
    /// backup's bytes`.
    pub fn describe(&self) -> String {
        let what = match self.change {
            Change::Changed => "changed outside the patch process",
            Change::Removed => "removed outside the patch process",
            Change::Added => "added outside the patch process",
        };
        let fate = match self.action {
            Action::Reverted => {
                format!("the restore from {} would put its old bytes back", self.by)
            }
            Action::BroughtBack => format!("the restore from {} would bring it back", self.by),
            Action::Kept => format!("the restore from {} keeps it", self.by),
            Action::Replaced => format!("{} replaces it (the patch wins)", self.by),
        };
        format!("plugins/{}: {what}; {fate}", self.file)
    }
}

/// What a run that restores from `patch0000` would do to changes made outside the patch
/// process. Empty when the run does not restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutsideChanges {
    /// The launcher's detection lines that make this run (`New patch available - patch0002`).
    pub run: Vec<String>,
    pub files: Vec<OutsideChange>,
}

impl OutsideChanges {
    /// Whether the run would undo any of them: `apply` refuses it unless told otherwise.
    pub fn refuses(&self) -> bool {
        self.files.iter().any(OutsideChange::is_lost)
    }

    pub fn lost(&self) -> impl Iterator<Item = &OutsideChange> {
        self.files.iter().filter(|f| f.is_lost())
    }

    /// The refusal, naming each file and the two ways out.
    pub fn refusal(&self, carbon_home: &str) -> String {
        let mut s = format!(
            "the patch run ({}) would undo changes made to plugins outside the patch process, \
             as the Carbon launcher's restore from {BACKUP_DIR} does; nothing was changed:",
            if self.run.is_empty() {
                "pending changes".to_string()
            } else {
                self.run.join("; ")
            }
        );
        for f in self.lost() {
            s.push_str("\n  ");
            s.push_str(&f.describe());
        }
        s.push_str(&format!(
            "\nKeep them: `carbon-patcher rebase --carbon-home {carbon_home}` makes the current \
             plugins the new baseline in {BACKUP_DIR}, then applies the pending patches on top \
             (`rebase --undo` takes the baseline back).\nUndo them, as the launcher would: \
             `carbon-patcher apply --revert-outside-changes`."
        ));
        s
    }
}

/// The versions of each bundle this product knows as a patch's own: what `prePatchedJARs.txt`
/// recorded, every jar of the service pack and patch dirs in play, and what carbon-patcher
/// recorded of earlier runs. A file of `plugins` holding one of them is no outside change (a
/// reverted patch's jar, say, which the restore rightly replaces).
#[derive(Debug, Clone, Default)]
pub struct Known {
    versions: HashMap<String, HashSet<String>>,
    /// A commit of an older version was cut short, and its marker does not say what it wrote:
    /// whatever `plugins` holds may be that commit's, so nothing counts as an outside change.
    pub all: bool,
}

impl Known {
    /// `name:md5` lines, as `prePatchedJARs.txt` and our own record hold them; a line without
    /// `:` is skipped (the plan refuses a bad `prePatchedJARs.txt` on its own).
    pub fn add_lines(&mut self, text: &str) {
        for line in text.lines() {
            if let Some((name, md5)) = line.split_once(':') {
                self.add(name, md5.trim_end_matches('\r'));
            }
        }
    }

    pub fn add_sources<'a>(&mut self, sources: impl Iterator<Item = &'a Source>) {
        for src in sources {
            for e in &src.entries {
                self.add(&e.bundle_name, &e.md5.to_string());
            }
        }
    }

    fn add(&mut self, name: &str, md5: &str) {
        self.versions
            .entry(name.to_string())
            .or_default()
            .insert(md5.to_ascii_lowercase());
    }

    pub fn is_known(&self, name: &str, md5: Md5Sum) -> bool {
        self.all
            || self
                .versions
                .get(name)
                .is_some_and(|v| v.contains(&md5.to_string()))
    }

    pub fn knows_name(&self, name: &str) -> bool {
        self.all || self.versions.contains_key(name)
    }
}

/// The apply marker's text: its first line says what it is, then the versions (`name:md5`) the
/// commit may put in `plugins`, so that after a kill, with the patch withdrawn since, a run with
/// any state dir still knows them as a patch's own.
pub fn marker_text(scan: &Scan) -> Vec<u8> {
    let mut text = String::from("a carbon-patcher apply is committing\n");
    for src in scan.sources() {
        for e in &src.entries {
            text.push_str(&format!("{}:{}\n", e.bundle_name, e.md5));
        }
    }
    text.into_bytes()
}

/// What the product layer saw of a file the restore touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `plugins/<rel>` holds bytes (digest `have`) other than the backup's.
    Differs { rel: Rel, have: Md5Sum },
    /// The backup has `rel`, `plugins` lacks it.
    Missing { rel: Rel },
    /// `plugins` has `rel`, the backup lacks it.
    Added { rel: Rel },
}

/// Classifies what was seen. `writer`: the service pack or patch dir whose entry the run writes
/// to a path last (`None`: only the restore writes it, or nothing does).
pub fn classify(
    seen: Vec<Seen>,
    known: &Known,
    writer: impl Fn(&Rel) -> Option<String>,
    run: Vec<String>,
) -> OutsideChanges {
    let mut files = BTreeMap::new();
    for s in seen {
        let (rel, change) = match s {
            Seen::Differs { rel, have } => {
                if known.is_known(&name(&rel), have) {
                    continue;
                }
                (rel, Change::Changed)
            }
            Seen::Missing { rel } => (rel, Change::Removed),
            Seen::Added { rel } => {
                if known.knows_name(&name(&rel)) {
                    continue;
                }
                (rel, Change::Added)
            }
        };
        let (action, by) = match (writer(&rel), change) {
            (Some(by), _) => (Action::Replaced, by),
            (None, Change::Changed) => (Action::Reverted, BACKUP_DIR.to_string()),
            (None, Change::Removed) => (Action::BroughtBack, BACKUP_DIR.to_string()),
            (None, Change::Added) => (Action::Kept, BACKUP_DIR.to_string()),
        };
        let file = name(&rel);
        files.insert(
            rel,
            OutsideChange {
                file,
                change,
                action,
                by,
            },
        );
    }
    OutsideChanges {
        run,
        files: files.into_values().collect(),
    }
}

fn name(rel: &Rel) -> String {
    rel.as_path().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn md5(b: u8) -> Md5Sum {
        Md5Sum([b; 16])
    }

    fn tree(files: &[&str]) -> Tree {
        files.iter().map(|f| (Rel::new(*f), Kind::File)).collect()
    }

    #[test]
    fn the_diff_lists_files_only_one_side_has() {
        let mut plugins = tree(&["a.jar", "added.jar"]);
        plugins.insert(Rel::new("dir"), Kind::Dir);
        let backup = tree(&["a.jar", "removed.jar"]);
        let d = tree_diff(&plugins, &backup);
        assert_eq!(d.only_in_plugins, vec![Rel::new("added.jar")]);
        assert_eq!(d.only_in_backup, vec![Rel::new("removed.jar")]);
    }

    #[test]
    fn a_patchs_own_version_is_no_outside_change_and_a_later_writer_wins() {
        let mut known = Known::default();
        known.add_lines("b.jar:0101010101010101010101010101010\n");
        known.add_lines(&format!("b.jar:{}\nc.jar:{}\n", md5(2), md5(9)));
        known.add_sources(std::iter::once(&Source {
            name: "patch0002".into(),
            path: PathBuf::from("/p/patch0002"),
            entries: vec![],
        }));
        let seen = vec![
            Seen::Differs {
                rel: Rel::new("b.jar"),
                have: md5(2),
            },
            Seen::Differs {
                rel: Rel::new("u.jar"),
                have: md5(3),
            },
            Seen::Differs {
                rel: Rel::new("w.jar"),
                have: md5(4),
            },
            Seen::Missing {
                rel: Rel::new("gone.jar"),
            },
            Seen::Added {
                rel: Rel::new("c.jar"),
            },
            Seen::Added {
                rel: Rel::new("new.jar"),
            },
        ];
        let writer = |r: &Rel| (r == &Rel::new("w.jar")).then(|| "patch0002".to_string());
        let c = classify(
            seen,
            &known,
            writer,
            vec!["New patch available - patch0002".into()],
        );
        let got: Vec<(&str, Change, Action, &str)> = c
            .files
            .iter()
            .map(|f| (f.file.as_str(), f.change, f.action, f.by.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "gone.jar",
                    Change::Removed,
                    Action::BroughtBack,
                    "patch0000"
                ),
                ("new.jar", Change::Added, Action::Kept, "patch0000"),
                ("u.jar", Change::Changed, Action::Reverted, "patch0000"),
                ("w.jar", Change::Changed, Action::Replaced, "patch0002"),
            ]
        );
        assert!(c.refuses());
        let why = c.refusal("/h");
        assert!(why.contains("New patch available - patch0002"), "{why}");
        assert!(why.contains("plugins/u.jar") && why.contains("plugins/gone.jar"));
        assert!(!why.contains("plugins/w.jar") && !why.contains("plugins/new.jar"));
        assert!(why.contains("carbon-patcher rebase") && why.contains("--revert-outside-changes"));
    }

    #[test]
    fn only_kept_or_replaced_files_do_not_refuse() {
        let c = classify(
            vec![Seen::Added {
                rel: Rel::new("n.jar"),
            }],
            &Known::default(),
            |_| None,
            vec![],
        );
        assert_eq!(c.files.len(), 1);
        assert!(!c.refuses());
    }
}
