//! A product home: reading it into a value ([`scan`], with the [`digest_cache`]), changing it
//! ([`apply`]), checking it ([`verify`]), who else holds it ([`lock`], [`server`]), and the
//! engine that strings them together for every command ([`engine`], [`cycle`]).

pub mod apply;
pub mod cycle;
pub mod digest_cache;
pub mod drift;
pub mod engine;
pub mod home;
pub mod jar;
pub mod jul;
pub mod lock;
pub mod patches_log;
pub mod progress;
pub mod scan;
pub mod server;
pub mod verify;

pub use engine::{last_apply, run_apply, Outcome, Prepared};
