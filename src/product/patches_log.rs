//! Writing the launcher's lines: appended to `patches.log` whole or not at all, and printed on
//! the console, as the product's launcher routes them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::fsops;
use crate::launcher::kernel::{Launcher, Line};
use crate::launcher::layout::Layout;
use crate::launcher::log::LogLine;

/// Sends lines to `patches.log` (appended, created with its directory when missing, as log4j
/// does) and to standard output. Lines are written batch by batch, each batch in one `write`, so
/// the file only ever holds whole lines.
pub struct CarbonLog {
    path: PathBuf,
    console: bool,
    launcher: Launcher,
}

impl CarbonLog {
    /// The product's `patches.log` as its launcher writes it; `console` prints the launcher's
    /// console lines too.
    pub fn open(layout: &Layout, console: bool) -> CarbonLog {
        CarbonLog {
            path: layout.patches_log.clone(),
            console,
            launcher: layout.launcher,
        }
    }

    /// Where the product's launcher sends `line`: (`patches.log`, the console).
    pub fn routes(&self, line: &LogLine) -> (bool, bool) {
        match self.launcher.line() {
            Line::Log4j | Line::Jul => {
                (line.logger.log4j_to_file(), line.logger.log4j_to_console())
            }
        }
    }

    /// Splits `lines` into the `patches.log` text and the console text.
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
        let (file_text, console_text) = self.render(lines);
        if !file_text.is_empty() {
            if let Err(e) = self.append(&file_text) {
                tracing::warn!("{e:#}; these lines are missing from it:\n{file_text}");
                eprintln!("carbon-patcher: warning: {e:#}");
            }
        }
        self.print(&console_text);
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
