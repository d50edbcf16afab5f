//! Verification (spec section 7): each latest jar against its copy in `plugins`, in map order,
//! and the log lines that report the result. Read-only.

use std::fs;

use anyhow::Result;

use crate::carbon_log::{LogLine, Logger};
use crate::digest_cache::DigestCache;
use crate::layout::Layout;
use crate::plan::Plan;

/// The launcher's warning text for each latest jar whose copy in `plugins` is missing or differs.
pub fn mismatches(layout: &Layout, plan: &Plan, cache: &DigestCache) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (name, jar) in plan.latest.iter() {
        let path = layout.plugins.join(name);
        let matches = match fs::metadata(&path) {
            Ok(m) if m.is_file() => cache
                .md5(&path)
                .map(|sum| sum == jar.md5)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?,
            // Missing, or a directory the launcher could not hash: not applied either way.
            _ => false,
        };
        if !matches {
            warnings.push(format!(
                "{name}(MD5: {}) has been patched with {}, but not applied",
                jar.md5, jar.from
            ));
        }
    }
    Ok(warnings)
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
