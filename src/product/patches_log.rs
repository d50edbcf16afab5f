//! Writing the launcher's lines: appended to `patches.log` whole or not at all, and printed on
//! the console, as the product's launcher routes them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fsops;
use crate::launcher::jul;
use crate::launcher::kernel::{Family, Launcher, Line};
use crate::launcher::layout::Layout;
use crate::launcher::log::{Level, LogLine};
use crate::product::jul::{FileSink, Hooks, Opened};

/// Sends the launcher's lines where the product's launcher sends them. A log4j kernel: appended
/// to `patches.log` (created with its directory when missing, as log4j does) and printed on
/// standard output, batch by batch, each batch in one `write`, so the file only ever holds
/// whole lines. A `java.util.logging` launcher: through the handlers its
/// `logging-bridge.properties` sets up (each FileHandler's files with its limit, count and
/// rotations; the console on standard error), each batch whole or not at all.
pub struct CarbonLog {
    path: PathBuf,
    console: bool,
    launcher: Launcher,
    jul: Option<Jul>,
}

/// A `java.util.logging` launcher's handlers, as its `logging-bridge.properties` sets them up.
struct Jul {
    config: jul::Config,
    carbon_home: PathBuf,
    /// Each FileHandler's sink (by handler index), opened at the run's first batch, as the JVM
    /// opens its handlers once per start; `None` when the JDK's handler could not start either.
    sinks: Option<Vec<(usize, Option<FileSink>)>>,
}

/// The JVM's system properties a log configuration may name (`${carbon.home}`, `%h`, `%t`), as
/// the product's launch script sets them.
pub fn system_properties(carbon_home: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| match name {
        "carbon.home" | "user.dir" => Some(carbon_home.display().to_string()),
        // The launch scripts pass -Djava.io.tmpdir=$CARBON_HOME/tmp.
        "java.io.tmpdir" => Some(carbon_home.join("tmp").display().to_string()),
        "user.home" => std::env::var("HOME").ok(),
        _ => None,
    }
}

/// The file layer's fault points on the log files too, so the disk-full and kill tests reach
/// them; and new log files owned like their directory.
struct FaultHooks;

impl Hooks for FaultHooks {
    fn before_write(&self, path: &Path) -> std::io::Result<()> {
        fsops::fault::point(path, fsops::fault::Space::Takes)
    }
    fn created(&self, path: &Path) -> Result<()> {
        fsops::own_like_parent(path)
    }
}

/// A line's level in `java.util.logging`.
fn jul_level(l: Level) -> jul::Level {
    match l {
        Level::Fine => jul::Level::FINE,
        Level::Info => jul::Level::INFO,
        Level::Warning => jul::Level::WARNING,
    }
}

impl CarbonLog {
    /// The product's `patches.log` as its launcher writes it; `console` prints the launcher's
    /// console lines too.
    pub fn open(layout: &Layout, console: bool) -> CarbonLog {
        let jul = (layout.launcher.line() == Line::Jul).then(|| Jul {
            // Not read (a layout made by hand): the launcher's stock configuration.
            config: layout
                .jul
                .clone()
                .unwrap_or_else(|| match layout.launcher.family {
                    Family::Carbon => jul::Config::stock(),
                    Family::MicroIntegrator => jul::Config::stock_micro_integrator(),
                }),
            carbon_home: layout.carbon_home.clone(),
            sinks: None,
        });
        CarbonLog {
            path: layout.patches_log.clone(),
            console,
            launcher: layout.launcher,
            jul,
        }
    }

    /// Where the product's launcher sends `line`: (its log files, the console).
    pub fn routes(&self, line: &LogLine) -> (bool, bool) {
        let Some(j) = &self.jul else {
            return (line.logger.log4j_to_file(), line.logger.log4j_to_console());
        };
        let name = line.logger.name(&self.launcher);
        let handlers = j.config.route(&name, jul_level(line.level));
        let kind = |file: bool| {
            handlers
                .iter()
                .any(|&h| matches!(j.config.handlers[h].kind, jul::config::Kind::File(_)) == file)
        };
        (kind(true), kind(false))
    }

    /// `java.util.logging`: formats `lines` for every handler and writes each FileHandler's
    /// share, each whole or not at all; returns the console's bytes.
    fn publish_jul(&mut self, lines: &[LogLine]) -> Result<Vec<u8>> {
        let launcher = self.launcher;
        let j = self.jul.as_mut().expect("a java.util.logging launcher");
        let now = chrono::Local::now();
        let names: Vec<String> = lines.iter().map(|l| l.logger.name(&launcher)).collect();
        let records: Vec<jul::Record> = lines
            .iter()
            .zip(&names)
            .map(|(l, name)| jul::Record {
                time: now,
                logger: name,
                level: jul_level(l.level),
                // The logging class is the logger's name: both loggers are named after theirs.
                class: Some(name),
                method: Some(l.method),
                message: &l.message,
                thrown: None,
            })
            .collect();
        let rendered = j.config.render(&records);
        if j.sinks.is_none() {
            // Every FileHandler listed starts with the JVM, reached or not.
            let system = system_properties(&j.carbon_home);
            let mut sinks = Vec::new();
            for (i, h) in j.config.handlers.iter().enumerate() {
                if let jul::config::Kind::File(settings) = &h.kind {
                    let sink = match FileSink::open(
                        settings,
                        &j.carbon_home,
                        &system,
                        Box::new(FaultHooks),
                    )? {
                        Opened::Ready(sink) => Some(sink),
                        Opened::Unavailable(why) => {
                            tracing::warn!("{why}");
                            None
                        }
                    };
                    sinks.push((i, sink));
                }
            }
            j.sinks = Some(sinks);
        }
        for (i, sink) in j.sinks.iter_mut().flatten() {
            let Some(sink) = sink else { continue };
            let lines = rendered
                .files
                .iter()
                .find(|(h, _)| h == i)
                .map(|(_, l)| l.as_slice())
                .unwrap_or_default();
            sink.append_batch(lines)?;
        }
        Ok(rendered.console)
    }

    /// Splits `lines` into the `patches.log` text and the console text (log4j).
    fn render(&self, lines: &[LogLine]) -> (String, String) {
        let now = chrono::Local::now();
        let (mut file_text, mut console_text) = (String::new(), String::new());
        for l in lines {
            let text = l.log4j_render(&self.launcher, now);
            let (to_file, to_console) = self.routes(l);
            if to_file {
                file_text.push_str(&text);
            }
            if to_console {
                console_text.push_str(&text);
            }
        }
        (file_text, console_text)
    }

    fn print(&self, console_text: &str) {
        if self.console && !console_text.is_empty() {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not fail the run after the work is done.
            let _ = out.write_all(console_text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Writes `lines`, or nothing: a failed append (a full disk) is cut back to where the file
    /// ended, so no half line is left. For the lines written before a run changes anything.
    pub fn emit_all_or_nothing(&mut self, lines: &[LogLine]) -> Result<()> {
        if self.jul.is_some() {
            let console = self.publish_jul(lines)?;
            self.print_stderr(&console);
            return Ok(());
        }
        let (file_text, console_text) = self.render(lines);
        if !file_text.is_empty() {
            self.append(&file_text)?;
        }
        self.print(&console_text);
        Ok(())
    }

    /// Writes `lines` after the run's changes are made: `patches.log` is a record, not state,
    /// so a failure to append is reported on standard error and does not fail the run.
    pub fn emit(&mut self, lines: &[LogLine]) {
        if self.jul.is_some() {
            match self.publish_jul(lines) {
                Ok(console) => self.print_stderr(&console),
                Err(e) => {
                    tracing::warn!("{e:#}; the launcher's lines of this run are missing from it");
                    eprintln!("carbon-patcher: warning: {e:#}");
                }
            }
            return;
        }
        let (file_text, console_text) = self.render(lines);
        if !file_text.is_empty() {
            if let Err(e) = self.append(&file_text) {
                tracing::warn!("{e:#}; these lines are missing from it:\n{file_text}");
                eprintln!("carbon-patcher: warning: {e:#}");
            }
        }
        self.print(&console_text);
    }

    /// The console of a `java.util.logging` launcher: `ConsoleHandler` writes standard error.
    fn print_stderr(&self, bytes: &[u8]) {
        if self.console && !bytes.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(bytes);
            let _ = err.flush();
        }
    }

    fn append(&self, text: &str) -> Result<()> {
        // The dirs this append creates, removed again if it fails.
        let created = match self.path.parent() {
            Some(dir) => fsops::create_missing_dirs(dir)?,
            None => Vec::new(),
        };
        let result = self.append_in_place(text);
        if result.is_err() {
            fsops::remove_created(&created);
        }
        result
    }

    fn append_in_place(&self, text: &str) -> Result<()> {
        let existed = self.path.exists();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("{}: cannot open", self.path.display()))?;
        if !existed {
            // log4j in the server appends to it later, as the product's user.
            fsops::own_like_parent(&self.path)?;
        }
        let before = f
            .metadata()
            .with_context(|| format!("{}: cannot read", self.path.display()))?
            .len();
        let written = fsops::fault::point(&self.path, fsops::fault::Space::Takes)
            .and_then(|()| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            let _ = f.set_len(before);
            if !existed {
                let _ = std::fs::remove_file(&self.path);
            }
            return Err(e).with_context(|| format!("{}: cannot write", self.path.display()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::layout::PathSettings;
    use crate::launcher::log::{Level, LogLine, Logger};

    #[test]
    fn appends_whole_lines_and_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::resolve(&PathSettings {
            carbon_home: Some(dir.path().to_path_buf()),
            patches_log: Some(dir.path().join("logs/patches.log")),
            ..Default::default()
        })
        .unwrap();
        let path = layout.patches_log.clone();
        let mut log = CarbonLog::open(&layout, false);
        let line = |logger, m| LogLine::new(Level::Info, logger, "m", m);
        log.emit(&[
            line(Logger::PatchUtils, "a"),
            line(Logger::Console, "console only"),
            line(Logger::PatchInstaller, "b"),
        ]);
        log.emit(&[line(Logger::PatchUtils, "c")]);
        let text = std::fs::read_to_string(&path).unwrap();
        let bodies: Vec<_> = text.lines().map(|l| &l[26..]).collect();
        assert_eq!(
            bodies,
            vec![
                " INFO {org.wso2.carbon.server.util.PatchUtils} -  a",
                " INFO {org.wso2.carbon.server.extensions.PatchInstaller} -  b",
                " INFO {org.wso2.carbon.server.util.PatchUtils} -  c",
            ]
        );
    }
}
