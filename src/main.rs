//! Entry point: parses the command line, dispatches, and turns the outcome into an exit code.
//! Errors travel up with their context and are printed here, once.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use carbon_patcher::cli::{exit, ApplyArgs, Cli, Command, DemoArgs};
use carbon_patcher::layout::Layout;
use carbon_patcher::{demo, run_apply, Outcome};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARBON_PATCHER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let cli = Cli::parse();
    let code = match cli.command {
        Command::Apply(args) => apply(&args),
        Command::Demo(args) => run_demo(&args),
    };
    ExitCode::from(code as u8)
}

fn report_error(e: &anyhow::Error) {
    eprintln!("carbon-patcher: error: {e:#}");
}

fn outcome_code(o: &Outcome) -> i32 {
    tracing::info!(
        applied = o.applied,
        backed_up = o.written.backed_up,
        written = o.written.written,
        unchanged = o.written.unchanged,
        warnings = o.warnings.len(),
        "apply finished"
    );
    if o.warnings.is_empty() {
        exit::OK
    } else {
        exit::VERIFY_WARNINGS
    }
}

fn apply(args: &ApplyArgs) -> i32 {
    let layout = match Layout::resolve(&args.paths.settings()) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            return exit::USAGE;
        }
    };
    match run_apply(&layout, !args.quiet) {
        Ok(o) => outcome_code(&o),
        Err(e) => {
            report_error(&e);
            exit::ERROR
        }
    }
}

fn run_demo(args: &DemoArgs) -> i32 {
    match demo_inner(args) {
        Ok(code) => code,
        Err(e) => {
            report_error(&e);
            exit::ERROR
        }
    }
}

fn demo_inner(args: &DemoArgs) -> Result<i32> {
    let scratch = tempfile::tempdir()?;
    let home = match &args.into {
        Some(dir) => dir.clone(),
        None => scratch.path().join("sample-product"),
    };
    demo::extract_sample(&home)?;
    let layout = demo::layout(&home)?;
    println!("== sample product extracted to {}", home.display());
    println!("== first apply (console lines as the launcher prints them):");
    let first = run_apply(&layout, true)?;
    println!("== second apply (nothing changed):");
    let second = run_apply(&layout, true)?;
    for file in [
        layout.pre_patched_dir_file(),
        layout.pre_patched_jars_file(),
        layout.patches_log.clone(),
    ] {
        println!("== {}:", layout.show(&file));
        print!("{}", std::fs::read_to_string(&file)?);
    }
    println!(
        "== first run wrote {} plugin files and backed up {}; second run wrote {}",
        first.written.written, first.written.backed_up, second.written.written
    );
    if args.into.is_some() {
        println!("== kept in {}", home.display());
    }
    Ok(outcome_code(&second).max(outcome_code(&first)))
}
