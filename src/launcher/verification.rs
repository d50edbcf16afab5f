//! Verification's rules (spec section 7): what a latest jar's copy in `plugins` can be, the
//! launcher's warning for one that is not applied, and the lines that report the result.

use serde::Serialize;

use crate::fsops::digest::Md5Sum;
use crate::launcher::layout::Layout;
use crate::launcher::log::{LogLine, Logger};
use crate::launcher::plan::LatestJar;

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

/// The launcher's warning for the latest jar `name` whose copy is missing or differs (its
/// parent dir name is `lib` for a service pack's jar: reproduced).
pub fn warning(name: &str, jar: &LatestJar) -> String {
    format!(
        "{name}(MD5: {}) has been patched with {}, but not applied",
        jar.md5, jar.from
    )
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
