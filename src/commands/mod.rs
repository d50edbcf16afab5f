//! One module per command, named after it. Each builds on the engine
//! ([`crate::product::Prepared`]); none has its own copy of the launcher's rules.

pub mod apply;
pub mod conflicts;
pub mod demo;
pub mod install;
pub mod man;
pub mod plan;
pub mod rebase;
pub mod revert;
pub mod status;
pub mod verify;
pub mod watch;
