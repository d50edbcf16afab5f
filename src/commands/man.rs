//! Documentation generated from the command-line definition itself, so it cannot drift from
//! the flags: man pages (`clap_mangen`) and shell completion scripts (`clap_complete`). Packaging
//! runs `carbon-patcher man --dir` and `carbon-patcher completions SHELL` to install them.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Writes `carbon-patcher.1` and `carbon-patcher-<command>.1` for every command into `dir`.
/// Returns the names written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    let mut pages = vec![(cmd.get_name().to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        // The page of `carbon-patcher apply` is carbon-patcher-apply(1), as git and cargo do.
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(format!(
            "{} {}",
            cmd.get_name(),
            sub.get_name()
        ));
        pages.push((name, sub));
    }
    for (name, page) in pages {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut roff)
            .with_context(|| format!("rendering the man page {name}"))?;
        let file = dir.join(format!("{name}.1"));
        crate::fsops::write_atomic(&file, &roff)
            .with_context(|| format!("{}: cannot write", file.display()))?;
        written.push(format!("{name}.1"));
    }
    Ok(written)
}

/// Prints the completion script for `shell`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut impl Write) -> Result<()> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    out.flush().context("writing the completion script")
}
