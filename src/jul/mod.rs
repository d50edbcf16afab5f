//! What the `java.util.logging` of the kernel 4.5–4.12 and Micro Integrator launchers does with
//! the patch step's lines, emulated: `java.util.Properties` and Tomcat JULI's `${}` replacement
//! ([`properties`]), `Level` ([`level`]), the handlers' charsets ([`encoding`]) and
//! `SimpleFormatter` ([`format`]).

pub mod encoding;
pub mod format;
pub mod level;
pub mod properties;

pub use format::{Format, Record};
pub use level::Level;
