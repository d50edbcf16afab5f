//! `java.util.logging.FileHandler` on real files, for the 4.5+ and Micro Integrator launchers:
//! the `.lck` lock protocol ([`lock`]) and writing batches with the rotations the pure model
//! ([`crate::launcher::jul::rotation`]) decides ([`file_handler`]).

pub mod file_handler;
mod lock;

pub use file_handler::{FileSink, Hooks, NoHooks, Opened};
