//! Entry point: parses the command line, sets up logging, dispatches, and turns the outcome into
//! an exit code. Errors travel up with their context and are printed here, once.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use carbon_patcher::cli::{exit, Cli, Command, ReportArgs, WatchArgs};
use carbon_patcher::commands::apply::report_error;
use carbon_patcher::commands::conflicts::Conflicts;
use carbon_patcher::commands::plan::Preview;
use carbon_patcher::commands::status::Status;
use carbon_patcher::commands::verify::VerifyReport;
use carbon_patcher::commands::{self, demo, install, man, revert, watch};
use carbon_patcher::launcher::layout::Layout;
use carbon_patcher::product::progress::Progress;
use carbon_patcher::product::Prepared;

/// Operational logging through `tracing`: to standard error (journald keeps it), and to a daily
/// rolling file in `log_dir` when given. `CARBON_PATCHER_LOG` takes any `tracing` filter.
fn init_logging(
    default: &str,
    log_dir: Option<&std::path::Path>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || {
        EnvFilter::try_from_env("CARBON_PATCHER_LOG").unwrap_or_else(|_| EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let (file, guard) = match log_dir {
        Some(dir) => {
            let (writer, guard) = tracing_appender::non_blocking(tracing_appender::rolling::daily(
                dir,
                "carbon-patcher.log",
            ));
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    guard
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Apply(args) => {
            init_logging("warn", None);
            commands::apply::run(&args)
        }
        Command::Watch(args) => run_watch(&args),
        Command::Demo(args) => {
            init_logging("warn", None);
            demo::run(&args)
        }
        Command::Install(args) => {
            init_logging("warn", None);
            install::run(&args)
        }
        Command::Revert(args) => {
            init_logging("warn", None);
            revert::revert(&args)
        }
        Command::Restore(args) => {
            init_logging("warn", None);
            revert::restore(&args)
        }
        Command::Rebase(args) => {
            init_logging("warn", None);
            commands::rebase::run(&args)
        }
        Command::Status(args) => report(&args, |layout| {
            let s = Status::gather(layout, &Progress::on_terminal())?;
            if let Some(why) = &s.refused {
                eprintln!("carbon-patcher: error: {why}");
            }
            Ok((s.render(layout), json(&s)?, s.exit_code()))
        }),
        Command::Plan(args) => report(&args, |layout| {
            let prepared = Prepared::new(layout)?;
            let p = Preview::new(layout, &prepared)?;
            let code = if p.outside_changes.refuses {
                exit::OUTSIDE_CHANGES
            } else if p.writes_anything {
                exit::PENDING
            } else {
                exit::OK
            };
            Ok((p.render(), json(&p)?, code))
        }),
        Command::Verify(args) => report(&args, |layout| {
            let v = VerifyReport::gather(layout, &Progress::on_terminal())?;
            Ok((v.render(), json(&v)?, v.exit_code()))
        }),
        Command::Conflicts(args) => report(&args, |layout| {
            // Planned, not only scanned: what apply would refuse is refused here too.
            let prepared = Prepared::new(layout)?;
            let c = Conflicts::find(layout, &prepared.scan);
            Ok((c.render(), json(&c)?, exit::OK))
        }),
        Command::Completions(args) => {
            let mut script = Vec::new();
            finish(man::write_completions(args.shell, &mut script).map(|()| {
                print_out(&String::from_utf8_lossy(&script));
                exit::OK
            }))
        }
        Command::Man(args) => finish(man::write_man_pages(&args.dir).map(|pages| {
            for p in pages {
                println!("{}", args.dir.join(p).display());
            }
            exit::OK
        })),
    };
    carbon_patcher::fsops::fault::report();
    ExitCode::from(code as u8)
}

/// Prints on standard output; a reader that went away (`| head`) is not an error.
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn json(v: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// An error becomes exit 1, printed once.
fn finish(r: Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        report_error(&e);
        exit::ERROR
    })
}

/// The read-only commands: resolve the layout, build the report (text, JSON, exit code), print
/// the form asked for.
fn report(args: &ReportArgs, build: impl FnOnce(&Layout) -> Result<(String, String, i32)>) -> i32 {
    init_logging("warn", None);
    let layout = match carbon_patcher::product::home::resolve(&args.paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    finish(build(&layout).map(|(text, json, code)| {
        print_out(if args.json { &json } else { &text });
        code
    }))
}

fn run_watch(args: &WatchArgs) -> i32 {
    let flags = args.flags();
    let settings = match watch::load_settings(&flags, args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            init_logging("info", None);
            report_error(&e);
            return exit::USAGE;
        }
    };
    let _guard = init_logging("info", settings.log_dir.as_deref());
    match watch::run(flags, args.config.clone(), settings) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            exit::ERROR
        }
    }
}
