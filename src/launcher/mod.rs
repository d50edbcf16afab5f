//! The Carbon launcher's rules, pure: where its dirs are, how it detects changes, what a run
//! writes (the plan), how it names bundles, Java's string and `HashMap` orders, and its log
//! lines. Each module reads beside the Java it reproduces (`PatchUtils`, `PatchInstaller`); it
//! reads no file and writes none.

pub mod bundle;
pub mod detect;
pub mod drift;
pub mod java;
pub mod jul;
pub mod kernel;
pub mod layout;
pub mod log;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod verification;
