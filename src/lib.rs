//! carbon-patcher: applies patches and service packs to a WSO2 Carbon 4.x product home exactly
//! as the Carbon launcher does at startup, but validated before anything is written and atomic
//! at every step.
//!
//! Four layers, each importing only the ones below it (`ARCHITECTURE.md`; `tests/layering.rs`
//! holds the tree to it):
//! - [`commands`] and [`cli`]: one module per command, and the flags;
//! - [`product`]: a product home, found, read ([`product::scan`]), changed ([`product::apply`]),
//!   checked ([`product::verify`]), and who else holds it; [`product::Prepared`] is the engine;
//! - [`launcher`]: the Carbon launcher's rules, pure: paths, detection, the plan, bundle names,
//!   Java's orders, the log lines;
//! - [`fsops`]: atomic file operations, copies, digests, fault points.

pub mod cli;
pub mod commands;
pub mod fsops;
pub mod launcher;
pub mod product;
