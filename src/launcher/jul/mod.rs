//! What the `java.util.logging` of the kernel 4.5–4.12 and Micro Integrator launchers does with
//! the patch step's lines, emulated: Tomcat JULI's `ClassLoaderLogManager` reading
//! `logging-bridge.properties` ([`properties`], [`config`], [`handler`]), `SimpleFormatter`
//! ([`format`](mod@format)), `FileHandler`'s rotation as a pure model ([`rotation`]; the files themselves are
//! [`crate::product::jul`]'s) and `ConsoleHandler` (bytes for
//! standard error).
//!
//! API: [`Config::load`]`(path, loggers, system)` (or [`Config::stock`]) gives the handlers the
//! launcher starts and warnings; [`Config::render`]`(&[Record])` formats each record for every
//! handler that publishes it (logger level, parent handlers, handler level and filter), giving
//! each FileHandler's lines and the console's bytes; for each FileHandler,
//! [`FileSink::open`]`(&settings, carbon_home, system, hooks)` then
//! [`FileSink::append_batch`]`(&lines)` writes them as Java would, rotating, whole or not at all.
//! Open the sinks once per run (one run is one launcher start) and drop them at its end. Nothing
//! here fails for a log setting: what cannot be followed is a warning naming the file, the key
//! and what is used instead. `system` answers the JVM's system properties (`carbon.home`,
//! `user.home`, `java.io.tmpdir`, ...).

pub mod config;
mod datetime;
pub mod encoding;
pub mod format;
pub mod handler;
pub mod level;
pub mod pattern;
pub mod properties;
pub mod rotation;
mod specifier;

pub use config::{Config, Rendered, LAUNCHER_LOGGERS};
pub use format::{Format, Record};
pub use level::Level;
