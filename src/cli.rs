//! The command line: every command, flag and exit code, documented where it is defined.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::layout::PathSettings;

/// Exit codes, one table for every command.
pub mod exit {
    /// Done: applied, or nothing to do, and verification clean.
    pub const OK: i32 = 0;
    /// Error: bad input refused or an I/O failure; the tree is as it was (or, for an I/O failure
    /// mid-run, converges on the next run).
    pub const ERROR: i32 = 1;
    /// Usage: unknown command or flag, missing carbon home.
    pub const USAGE: i32 = 2;
    /// Applied or checked, but verification found plugins that differ from their patch.
    pub const VERIFY_WARNINGS: i32 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "carbon-patcher",
    version,
    about = "Applies patches and service packs to WSO2 Carbon 4.x servers exactly as the launcher does, atomically",
    after_help = "Exit codes: 0 done, 1 error (nothing changed), 2 usage, 3 verification warnings."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the launcher's patch step once: detect changes, back up, apply, verify.
    Apply(ApplyArgs),
    /// Apply the bundled sample product in a temporary copy and show what happened.
    Demo(DemoArgs),
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Do not print the launcher's console lines on standard output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Extract the sample product into DIR (which must not exist) and keep it, instead of a
    /// temporary dir removed at the end.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
}

/// Where the product is. Flags win over `-D` properties, which win over the environment
/// (except `CARBON_REPOSITORY`, which, as in the launcher, wins over `-D carbon.repository`).
#[derive(Args, Debug, Default)]
pub struct PathArgs {
    /// Product home (Carbon's `carbon.home`) [default: $CARBON_HOME].
    #[arg(long, value_name = "DIR")]
    pub carbon_home: Option<PathBuf>,
    /// Repository dir [default: $CARBON_REPOSITORY, -D carbon.repository, <home>/repository].
    #[arg(long, value_name = "DIR")]
    pub repository: Option<PathBuf>,
    /// Components dir [default: -D carbon.components.dir.path, <repository>/components].
    #[arg(long, value_name = "DIR")]
    pub components_dir: Option<PathBuf>,
    /// Patches dir [default: -D carbon.patches.dir.path, <components>/patches]; when set, the
    /// metadata dir moves to <patches>/.metadata.
    #[arg(long, value_name = "DIR")]
    pub patches_dir: Option<PathBuf>,
    /// Service-packs dir [default: -D carbon.servicepacks.dir.path, <components>/servicepacks].
    #[arg(long, value_name = "DIR")]
    pub servicepacks_dir: Option<PathBuf>,
    /// The file patches.log lines are appended to [default: <home>/repository/logs/patches.log].
    #[arg(long, value_name = "FILE")]
    pub patches_log: Option<PathBuf>,
    /// A Carbon system property as the launch script passes it to the JVM, e.g.
    /// `-Dcarbon.patches.dir.path=/x`. Properties carbon-patcher does not use are ignored.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

/// `-Dname=value`; `-Dname` alone sets the empty string, as Java does.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').unwrap_or((s, ""));
    if name.is_empty() {
        return Err(format!("{s:?}: expected NAME=VALUE"));
    }
    Ok((name.to_string(), value.to_string()))
}

impl PathArgs {
    /// The settings with the environment read in.
    pub fn settings(&self) -> PathSettings {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        PathSettings {
            carbon_home: self.carbon_home.clone(),
            repository: self.repository.clone(),
            components: self.components_dir.clone(),
            patches: self.patches_dir.clone(),
            servicepacks: self.servicepacks_dir.clone(),
            patches_log: self.patches_log.clone(),
            properties: self.properties.clone(),
            env_carbon_home: env("CARBON_HOME"),
            env_repository: env("CARBON_REPOSITORY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn properties_attached_and_separate() {
        let cli = Cli::try_parse_from([
            "carbon-patcher",
            "apply",
            "-Dcarbon.home=/h",
            "-D",
            "carbon.patches.dir.path=/p",
            "-DapplyPatches",
        ])
        .unwrap();
        let Command::Apply(a) = cli.command else {
            panic!("apply expected")
        };
        assert_eq!(
            a.paths.properties,
            vec![
                ("carbon.home".into(), "/h".into()),
                ("carbon.patches.dir.path".into(), "/p".into()),
                ("applyPatches".into(), "".into()),
            ]
        );
    }
}
