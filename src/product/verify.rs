//! Verification (spec section 7): each latest jar against its copy in `plugins`, in map order,
//! and the log lines that report the result. Read-only.

use std::fs;

use anyhow::Result;
use serde::Serialize;

use crate::fsops::digest::Md5Sum;
use crate::launcher::layout::Layout;
use crate::launcher::log::{LogLine, Logger};
use crate::launcher::plan::{LatestJar, Plan};
use crate::product::digest_cache::DigestCache;
use crate::product::progress::Progress;

/// What verification found for one latest jar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// `plugins` holds the patch's bytes.
    Applied,
    /// `plugins` holds other bytes.
    Differs,
    /// Not in `plugins`, or not a file there.
    Missing,
}

impl State {
    /// What a copy holding `have` (`None`: no file) is, for a patch whose digest is `want`.
    pub fn of(have: Option<Md5Sum>, want: Md5Sum) -> State {
        match have {
            Some(sum) if sum == want => State::Applied,
            Some(_) => State::Differs,
            None => State::Missing,
        }
    }
}

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
        (self.state != State::Applied).then(|| {
            format!(
                "{}(MD5: {}) has been patched with {}, but not applied",
                self.name, self.jar.md5, self.jar.from
            )
        })
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

/// The verification lines, given whether this run applied and what it found.
pub fn log_lines(layout: &Layout, applied: bool, warnings: &[String]) -> Vec<LogLine> {
    let utils = |m: &str| LogLine::info(Logger::PatchUtils, m);
    let mut lines = vec![utils("Patch verification started")];
    if applied {
        lines.push(LogLine::info(Logger::Console, "Patch verification started"));
    }
    if warnings.is_empty() {
        lines.push(utils("Patch verification successfully completed"));
        if applied {
            lines.push(LogLine::info(
                Logger::Console,
                "Patch verification successfully completed.",
            ));
        }
    } else {
        lines.push(LogLine::warn(
            Logger::PatchUtils,
            "Problems found during patch verification. See below for details:",
        ));
        for w in warnings {
            lines.push(LogLine::warn(Logger::PatchUtils, w.clone()));
        }
        lines.push(LogLine::warn(
            Logger::PatchUtils,
            "Patch verification completed with warnings.",
        ));
        lines.push(LogLine::warn(
            Logger::Console,
            format!(
                "Patch verification completed with warnings. Please see  {} for more details",
                layout.patches_log_shown.display()
            ),
        ));
    }
    lines
}
