//! carbon-patcher: applies patches and service packs to a WSO2 Carbon 4.x product home exactly
//! as the Carbon 4.4.x launcher does at startup, but validated before anything is written and
//! atomic at every step.
//!
//! The engine is a pipeline of values: [`scan`] reads the tree, [`plan`] decides (pure),
//! [`apply`] executes, [`verify`] checks. [`run_apply`] strings them together for every caller.

pub mod apply;
pub mod bundle;
pub mod carbon_log;
pub mod cli;
pub mod demo;
pub mod detect;
pub mod digest;
pub mod fsops;
pub mod java;
pub mod layout;
pub mod manifest;
pub mod plan;
pub mod scan;
pub mod verify;

use anyhow::Result;

use crate::carbon_log::CarbonLog;
use crate::layout::Layout;

/// The result of one apply run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Whether patch changes were detected and applied.
    pub applied: bool,
    pub written: apply::Written,
    /// Verification warnings (the launcher's text); non-empty means exit 3.
    pub warnings: Vec<String>,
}

/// One run of the launcher's patch step on `layout`. Bad input is refused before anything is
/// written; `console` prints the launcher's console lines on standard output.
pub fn run_apply(layout: &Layout, console: bool) -> Result<Outcome> {
    let scan = scan::scan(layout)?;
    let plan = plan::plan(&scan)?;
    let mut log = CarbonLog::new(&layout.patches_log, console);
    let written = apply::execute(&scan, &plan, &mut log)?;
    let warnings = verify::mismatches(layout, &plan)?;
    log.emit(&verify::log_lines(layout, plan.applies(), &warnings))?;
    Ok(Outcome {
        applied: plan.applies(),
        written,
        warnings,
    })
}
