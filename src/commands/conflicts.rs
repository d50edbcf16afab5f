//! `conflicts`: which bundles more than one patch or service pack provides, which provider wins
//! (the last in the launcher's apply order: the service pack, then patch dirs in name order,
//! entries in listing order), and which patches are dead because a later one overrides every
//! jar they carry. Pure: computed from a [`Scan`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::launcher::layout::Layout;
use crate::launcher::model::Scan;

/// Bumped only when a field changes meaning or goes away; new fields may be added.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Conflicts {
    pub schema_version: u32,
    pub carbon_home: String,
    /// Bundles with more than one provider, by bundle file name.
    pub bundles: Vec<Contested>,
    /// Patch dirs in play every one of whose jars a later provider overrides.
    pub dead_patches: Vec<DeadPatch>,
    /// Patch dirs the service pack lists as included: the launcher skips their jars.
    pub included_in_servicepack: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contested {
    pub bundle: String,
    /// In apply order; the last one wins.
    pub providers: Vec<Provider>,
    pub winner: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Provider {
    /// The service pack or patch dir.
    pub from: String,
    /// The jar's own file name there.
    pub entry: String,
    pub md5: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadPatch {
    pub name: String,
    /// Who wins over its jars.
    pub overridden_by: Vec<String>,
}

impl Conflicts {
    pub fn find(layout: &Layout, scan: &Scan) -> Conflicts {
        let sources: Vec<_> = scan.sources().collect();
        let mut providers: BTreeMap<&str, Vec<Provider>> = BTreeMap::new();
        for src in &sources {
            for e in &src.entries {
                providers
                    .entry(e.bundle_name.as_str())
                    .or_default()
                    .push(Provider {
                        from: src.name.clone(),
                        entry: e.name.clone(),
                        md5: e.md5.to_string(),
                    });
            }
        }
        let winner = |bundle: &str| providers[bundle].last().map(|p| p.from.clone());
        let mut dead_patches = Vec::new();
        for src in &scan.patch_dirs {
            if src.entries.is_empty() {
                continue;
            }
            let winners: Vec<String> = src
                .entries
                .iter()
                .filter_map(|e| winner(&e.bundle_name))
                .collect();
            if winners.iter().all(|w| *w != src.name) {
                let mut overridden_by = winners;
                overridden_by.sort();
                overridden_by.dedup();
                dead_patches.push(DeadPatch {
                    name: src.name.clone(),
                    overridden_by,
                });
            }
        }
        let bundles = providers
            .iter()
            .filter(|(_, p)| p.len() > 1)
            .map(|(bundle, p)| Contested {
                bundle: bundle.to_string(),
                providers: p.clone(),
                winner: p.last().map(|w| w.from.clone()).unwrap_or_default(),
            })
            .collect();
        let included_in_servicepack = scan
            .patch_candidates
            .iter()
            .filter(|c| c.is_dir && scan.listed_by_servicepack(&c.name))
            .map(|c| c.name.clone())
            .collect();
        Conflicts {
            schema_version: SCHEMA_VERSION,
            carbon_home: layout.carbon_home.display().to_string(),
            bundles,
            dead_patches,
            included_in_servicepack,
        }
    }

    /// The readable form.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.bundles.is_empty() {
            let _ = writeln!(
                s,
                "No bundle is provided by more than one patch or service pack."
            );
        }
        for b in &self.bundles {
            let _ = writeln!(s, "{}: {} wins", b.bundle, b.winner);
            for p in &b.providers {
                let _ = writeln!(s, "  {:<16} {} (MD5 {})", p.from, p.entry, p.md5);
            }
        }
        for d in &self.dead_patches {
            let _ = writeln!(
                s,
                "dead patch {}: every jar it carries is overridden by {}",
                d.name,
                d.overridden_by.join(", ")
            );
        }
        if !self.included_in_servicepack.is_empty() {
            let _ = writeln!(
                s,
                "included in the service pack (their jars are skipped): {}",
                self.included_in_servicepack.join(", ")
            );
        }
        s
    }
}
