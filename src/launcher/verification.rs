//! Verification's rules (spec section 7): what a latest jar's copy in `plugins` can be, the
//! launcher's warning for one that is not applied, and the lines that report the result.

use serde::Serialize;

use crate::fsops::digest::Md5Sum;
use crate::launcher::kernel::Line;
use crate::launcher::layout::Layout;
use crate::launcher::log::{Level, LogLine, Logger};
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

/// The verification lines, given whether this run applied and what it found, as the product's
/// kernel line logs them (all from `checkMD5Checksum`).
pub fn log_lines(layout: &Layout, applied: bool, warnings: &[String]) -> Vec<LogLine> {
    const METHOD: &str = "checkMD5Checksum";
    let see = format!(
        "Patch verification completed with warnings. Please see  {} for more details",
        layout.patches_log_shown.display()
    );
    let warn = |m: String| LogLine::utils(Level::Warning, METHOD, m);
    let mut lines = Vec::new();
    match layout.launcher.line() {
        Line::Log4j => {
            let info = |m: &str| LogLine::utils(Level::Info, METHOD, m);
            let console = |level, m: String| LogLine::new(level, Logger::Console, METHOD, m);
            lines.push(info("Patch verification started"));
            if applied {
                lines.push(console(Level::Info, "Patch verification started".into()));
            }
            if warnings.is_empty() {
                lines.push(info("Patch verification successfully completed"));
                if applied {
                    lines.push(console(
                        Level::Info,
                        "Patch verification successfully completed.".into(),
                    ));
                }
            } else {
                lines.push(warn(
                    "Problems found during patch verification. See below for details:".into(),
                ));
                lines.extend(warnings.iter().cloned().map(warn));
                lines.push(warn("Patch verification completed with warnings.".into()));
                lines.push(console(Level::Warning, see));
            }
        }
        Line::Jul => {
            // INFO (so on the console too) only when this run applied.
            let level = if applied { Level::Info } else { Level::Fine };
            let say = |m: &str| LogLine::utils(level, METHOD, m);
            lines.push(say("Patch verification started"));
            if warnings.is_empty() {
                lines.push(say("Patch verification successfully completed"));
            } else {
                lines.push(warn(
                    "Problems found during patch verification. See below for details:".into(),
                ));
                lines.extend(warnings.iter().cloned().map(warn));
                lines.push(warn(see));
            }
        }
    }
    lines
}
