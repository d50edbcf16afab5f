//! Progress on a terminal for long applies and verifies (`indicatif`). Drawn on standard error
//! only when it is a terminal and the work has already taken a moment, so short runs, pipes,
//! journald and tests see nothing at all.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work shorter than this never shows a bar; `CARBON_PATCHER_PROGRESS_AFTER_MS` changes it
/// (0: at once, as the tests of the bar want).
fn show_after() -> Duration {
    std::env::var("CARBON_PATCHER_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(400), Duration::from_millis)
}

/// A counter of files done; a no-op unless built with [`Progress::on_terminal`].
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    show_after: Duration,
}

impl Progress {
    /// Never draws: for the watcher, and whenever output is not for a person.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            started: Instant::now(),
            show_after: Duration::ZERO,
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
            show_after: show_after(),
        }
    }

    /// Starts a stage of `total` files named `what`.
    pub fn stage(&self, what: &'static str, total: usize) {
        if let Some(bar) = &self.bar {
            // Each of these redraws: the new counts first, so no frame mixes two stages.
            bar.set_position(0);
            bar.set_length(total as u64);
            bar.set_message(what);
        }
    }

    /// One more file done.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && self.started.elapsed() >= self.show_after {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.inc(1);
        }
    }

    /// Runs `f` (which prints) with the bar out of the way, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
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
