//! Verification (spec section 7): each latest jar against its copy in `plugins`, in map order.
//! Read-only; the lines that report it are [`crate::launcher::verification`]'s.

use std::fs;

use anyhow::Result;

use crate::launcher::layout::Layout;
use crate::launcher::plan::{LatestJar, Plan};
use crate::launcher::verification::{self, State};
use crate::product::digest_cache::DigestCache;
use crate::product::progress::Progress;

/// One latest jar and its copy in `plugins`.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub jar: LatestJar,
    pub state: State,
}

impl Check {
    /// The launcher's warning for a jar that is not applied.
    pub fn warning(&self) -> Option<String> {
        (self.state != State::Applied).then(|| verification::warning(&self.name, &self.jar))
    }
}

/// Each latest jar against its copy in `plugins`, in the launcher's (map) order. Read-only.
pub fn check(
    layout: &Layout,
    plan: &Plan,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<Vec<Check>> {
    progress.stage("verifying", plan.latest.len());
    let mut checks = Vec::new();
    for (name, jar) in plan.latest.iter() {
        let path = layout.plugins.join(name);
        let have = match fs::metadata(&path) {
            Ok(m) if m.is_file() => Some(
                cache
                    .md5_with(&path, &m)
                    .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?,
            ),
            // Missing, or a directory the launcher could not hash: not applied either way.
            _ => None,
        };
        let state = State::of(have, jar.md5);
        checks.push(Check {
            name: name.to_string(),
            jar: jar.clone(),
            state,
        });
        progress.inc();
    }
    Ok(checks)
}

/// The launcher's warning text for each latest jar whose copy in `plugins` is missing or differs.
pub fn mismatches(
    layout: &Layout,
    plan: &Plan,
    cache: &DigestCache,
    progress: &Progress,
) -> Result<Vec<String>> {
    Ok(check(layout, plan, cache, progress)?
        .iter()
        .filter_map(Check::warning)
        .collect())
}
