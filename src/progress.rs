//! Progress on a terminal for long applies and verifies (`indicatif`). Drawn on standard error
//! only when it is a terminal and the work has already taken a moment, so short runs, pipes,
//! journald and tests see nothing at all.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work shorter than this never shows a bar.
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// A counter of files done; a no-op unless built with [`Progress::on_terminal`].
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    /// Never draws: for the watcher, and whenever output is not for a person.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            started: Instant::now(),
        }
    }

    /// Draws on standard error when it is a terminal.
    pub fn on_terminal() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} files, {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        Progress {
            bar: Some(bar),
            started: Instant::now(),
        }
    }

    /// Starts a stage of `total` files named `what`.
    pub fn stage(&self, what: &'static str, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(what);
            bar.set_length(total as u64);
            bar.set_position(0);
        }
    }

    /// One more file done.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.started.elapsed() >= SHOW_AFTER {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.inc(1);
        }
    }

    /// Clears the bar, so what follows starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
