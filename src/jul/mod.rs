//! What the `java.util.logging` of the kernel 4.5–4.12 and Micro Integrator launchers does with
//! the patch step's lines, emulated: Tomcat JULI's `ClassLoaderLogManager` reading
//! `logging-bridge.properties` ([`properties`], [`config`], [`handler`]), `SimpleFormatter`
//! ([`format`]) and `ConsoleHandler` (bytes for standard error).
//!
//! API: [`Config::load`]`(path, loggers, system)` (or [`Config::stock`]) gives the handlers and
//! warnings; [`Config::render`]`(&records)` formats each record for every handler that takes it
//! (logger level, parent handlers, handler level and filter), giving per-FileHandler lines and
//! the console's bytes. Nothing here fails for a log setting: what cannot be followed is a
//! warning naming the file, the key and what is used instead.

pub mod config;
mod datetime;
pub mod encoding;
pub mod format;
pub mod handler;
pub mod level;
pub mod properties;

pub use config::{Config, Rendered, LAUNCHER_LOGGERS};
pub use format::{Format, Record};
pub use level::Level;
