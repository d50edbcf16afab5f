//! The launcher's log lines: which logger says what, where each logger's lines go (`patches.log`,
//! the console, or both), and the log4j 1.2 layout `[%d] %5p {%c} - %x %m%n` (spec section 8).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

impl Level {
    /// `%5p`: right-aligned in five columns.
    fn padded(self) -> &'static str {
        match self {
            Level::Info => " INFO",
            Level::Warn => " WARN",
        }
    }
}

/// The launcher's three loggers and their appenders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logger {
    /// `patches.log` only.
    PatchUtils,
    /// `patches.log` and the console.
    PatchInstaller,
    /// The console only.
    Console,
}

impl Logger {
    pub fn name(self) -> &'static str {
        match self {
            Logger::PatchUtils => "org.wso2.carbon.server.util.PatchUtils",
            Logger::PatchInstaller => "org.wso2.carbon.server.extensions.PatchInstaller",
            Logger::Console => "org.wso2.carbon.server.util.PatchUtils.console",
        }
    }
    pub fn to_file(self) -> bool {
        self != Logger::Console
    }
    pub fn to_console(self) -> bool {
        self != Logger::PatchUtils
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub logger: Logger,
    pub message: String,
}

impl LogLine {
    pub fn info(logger: Logger, message: impl Into<String>) -> LogLine {
        LogLine {
            level: Level::Info,
            logger,
            message: message.into(),
        }
    }
    pub fn warn(logger: Logger, message: impl Into<String>) -> LogLine {
        LogLine {
            level: Level::Warn,
            logger,
            message: message.into(),
        }
    }

    /// The line as log4j lays it out, without the `[timestamp] ` prefix: the empty NDC (`%x`)
    /// leaves two spaces after the dash.
    pub fn body(&self) -> String {
        format!(
            "{} {{{}}} -  {}",
            self.level.padded(),
            self.logger.name(),
            self.message
        )
    }

    /// The whole line, `\n`-terminated, with `%d` in local time (`yyyy-MM-dd HH:mm:ss,SSS`).
    pub fn render(&self, now: chrono::DateTime<chrono::Local>) -> String {
        format!(
            "[{}] {}\n",
            now.format("%Y-%m-%d %H:%M:%S,%3f"),
            self.body()
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
        let l = LogLine::info(Logger::PatchUtils, "Checking for patch changes ...");
        assert_eq!(
            l.render(t),
            "[2016-03-01 10:15:32,123]  INFO {org.wso2.carbon.server.util.PatchUtils} -  Checking for patch changes ...\n"
        );
        let w = LogLine::warn(Logger::Console, "x");
        assert_eq!(
            w.body(),
            " WARN {org.wso2.carbon.server.util.PatchUtils.console} -  x"
        );
    }
}
