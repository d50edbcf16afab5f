//! `verify`: the launcher's verification, read-only: does each patched bundle in `plugins` hold
//! its patch's bytes? The same check `status` shows, with the launcher's warning lines.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use crate::cli::exit;
use crate::commands::status::{checked, Bundle, OutsideReport, SCHEMA_VERSION};
use crate::launcher::layout::Layout;
use crate::product::progress::Progress;
use crate::product::Prepared;

/// What `verify` reports.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub schema_version: u32,
    pub carbon_home: String,
    pub clean: bool,
    /// `apply` has changes to make: until it runs, their bundles cannot verify.
    pub pending_changes: bool,
    pub bundles: Vec<Bundle>,
    /// The launcher's warning lines.
    pub warnings: Vec<String>,
    /// Changes made to `plugins` outside the patch process that the pending run meets (a
    /// changed jar a patch does not replace verifies clean, and the run would undo it).
    pub outside_changes: OutsideReport,
}

impl VerifyReport {
    pub fn gather(layout: &Layout, progress: &Progress) -> Result<VerifyReport> {
        let prepared = Prepared::new(layout)?;
        let (bundles, warnings) = checked(layout, &prepared, progress)?;
        Ok(VerifyReport {
            schema_version: SCHEMA_VERSION,
            carbon_home: layout.carbon_home.display().to_string(),
            clean: warnings.is_empty(),
            pending_changes: prepared.changes_plugins(),
            bundles,
            warnings,
            outside_changes: OutsideReport::of(&prepared.outside),
        })
    }

    pub fn exit_code(&self) -> i32 {
        if self.clean {
            exit::OK
        } else {
            exit::VERIFY_WARNINGS
        }
    }

    /// The readable form: the launcher's verdict and warnings, and the outside changes.
    pub fn render(&self) -> String {
        let mut s = self.outside_changes.render("");
        if self.clean {
            let _ = writeln!(
                s,
                "Patch verification successfully completed: {} patched bundles match their patch.",
                self.bundles.len()
            );
        } else {
            let _ = writeln!(s, "Problems found during patch verification:");
            for w in &self.warnings {
                let _ = writeln!(s, "  {w}");
            }
            if self.pending_changes {
                let _ = writeln!(
                    s,
                    "Patch changes are pending: `carbon-patcher apply` (or the next server start) applies them."
                );
            }
        }
        s
    }
}
