//! The launcher's log lines: what each says, at which level, from which logger and method, and
//! how each kernel line writes them. Kernels 4.3–4.4.x (log4j 1.2, spec section 8): the layout
//! `[%d] %5p {%c} - %x %m%n`, `PatchUtils` to `patches.log`, `PatchInstaller` to both, a
//! `.console` logger to the console only. Kernels 4.5+ and Micro Integrator (spec section 10):
//! `java.util.logging`, routed and formatted as the product's `logging-bridge.properties` says
//! ([`crate::launcher::jul`]), the source being the class and method that logged.

use crate::launcher::kernel::Launcher;

/// A line's level, as `java.util.logging` names it; log4j kernels log `Fine` and `Info` lines
/// at INFO (they had no finer level for these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fine,
    Info,
    Warning,
}

impl Level {
    /// log4j's `%5p`: right-aligned in five columns.
    fn log4j_padded(self) -> &'static str {
        match self {
            Level::Fine | Level::Info => " INFO",
            Level::Warning => " WARN",
        }
    }

    /// The level's name as the product's launcher writes it.
    pub fn name(self, launcher: &Launcher) -> &'static str {
        match (launcher.line(), self) {
            (Line::Log4j, Level::Fine | Level::Info) => "INFO",
            (Line::Log4j, Level::Warning) => "WARN",
            (Line::Jul, Level::Fine) => "FINE",
            (Line::Jul, Level::Info) => "INFO",
            (Line::Jul, Level::Warning) => "WARNING",
        }
    }
}

use crate::launcher::kernel::Line;

/// The launcher's loggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logger {
    PatchUtils,
    PatchInstaller,
    /// log4j kernels only: `PatchUtils.console`, the console's copy of a few lines.
    Console,
}

impl Logger {
    /// The logger's name in the product's launcher (also the logging class, but for `Console`).
    pub fn name(self, launcher: &Launcher) -> String {
        match self {
            Logger::PatchUtils => launcher.patch_utils().to_string(),
            Logger::PatchInstaller => launcher.patch_installer().to_string(),
            Logger::Console => format!("{}.console", launcher.patch_utils()),
        }
    }

    /// Whether a log4j kernel appends it to `patches.log`.
    pub fn log4j_to_file(self) -> bool {
        self != Logger::Console
    }

    /// Whether a log4j kernel prints it on the console.
    pub fn log4j_to_console(self) -> bool {
        self != Logger::PatchUtils
    }
}

/// One call of the launcher's logger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub logger: Logger,
    /// The Java method that logs it (`java.util.logging` prints it as part of the source).
    pub method: &'static str,
    pub message: String,
}

impl LogLine {
    pub fn new(
        level: Level,
        logger: Logger,
        method: &'static str,
        message: impl Into<String>,
    ) -> LogLine {
        LogLine {
            level,
            logger,
            method,
            message: message.into(),
        }
    }

    /// A `PatchUtils` line at `level` from `method`.
    pub fn utils(level: Level, method: &'static str, message: impl Into<String>) -> LogLine {
        LogLine::new(level, Logger::PatchUtils, method, message)
    }

    /// The line as log4j lays it out, without the `[timestamp] ` prefix: the empty NDC (`%x`)
    /// leaves two spaces after the dash.
    pub fn log4j_body(&self, launcher: &Launcher) -> String {
        format!(
            "{} {{{}}} -  {}",
            self.level.log4j_padded(),
            self.logger.name(launcher),
            self.message
        )
    }

    /// The whole log4j line, `\n`-terminated, `%d` in local time (`yyyy-MM-dd HH:mm:ss,SSS`).
    pub fn log4j_render(
        &self,
        launcher: &Launcher,
        now: chrono::DateTime<chrono::Local>,
    ) -> String {
        format!(
            "[{}] {}\n",
            now.format("%Y-%m-%d %H:%M:%S,%3f"),
            self.log4j_body(launcher)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn log4j_layout() {
        let t = chrono::Local
            .with_ymd_and_hms(2016, 3, 1, 10, 15, 32)
            .unwrap()
            + chrono::Duration::milliseconds(123);
        let k44 = Launcher::parse("4.4.9").unwrap();
        let l = LogLine::utils(
            Level::Fine,
            "processPatches",
            "Checking for patch changes ...",
        );
        assert_eq!(
            l.log4j_render(&k44, t),
            "[2016-03-01 10:15:32,123]  INFO {org.wso2.carbon.server.util.PatchUtils} -  Checking for patch changes ...\n"
        );
        let w = LogLine::new(Level::Warning, Logger::Console, "checkMD5Checksum", "x");
        assert_eq!(
            w.log4j_body(&k44),
            " WARN {org.wso2.carbon.server.util.PatchUtils.console} -  x"
        );
    }
}
