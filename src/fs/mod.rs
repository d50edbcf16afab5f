//! The file layer: atomic writes and renames, copies, syncs, digests and fault points. It
//! imports nothing else of the crate, so every layer above can trust it alone.

pub mod digest;
pub mod fault;
pub mod ops;
