//! The command line: every command, flag and exit code, documented where it is defined.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::launcher::layout::PathSettings;

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
    /// Busy: another watcher watches this home, or another apply (or install, revert,
    /// restore) held the lock past `--lock-timeout`.
    pub const BUSY: i32 = 4;
    /// A Carbon server is running on this home: `apply`, `install --apply`, `revert` and
    /// `restore` refuse it unless `--while-running` (or `--no-apply`); nothing was changed.
    pub const SERVER_RUNNING: i32 = 5;
    /// `status`: not current: `apply` would change something, or the running server started
    /// before the last apply and needs a restart to load it. `plan`: `apply` would change
    /// something.
    pub const PENDING: i32 = 6;
    /// The run would undo changes made to `plugins` outside the patch process (its restore
    /// from `patch0000` puts old bytes back): refused, nothing changed, unless
    /// `--revert-outside-changes`; `carbon-patcher rebase` keeps them instead. For `status` and
    /// `plan`: `apply` would refuse so.
    pub const OUTSIDE_CHANGES: i32 = 7;
    /// Every code above, for the test that holds the README's table to this one.
    pub const ALL: [i32; 8] = [
        OK,
        ERROR,
        USAGE,
        VERIFY_WARNINGS,
        BUSY,
        SERVER_RUNNING,
        PENDING,
        OUTSIDE_CHANGES,
    ];
}

#[derive(Parser, Debug)]
#[command(
    name = "carbon-patcher",
    version,
    about = "Applies patches and service packs to WSO2 Carbon 4.x servers exactly as the launcher does, atomically",
    after_help = "Exit codes: 0 done, 1 error (nothing changed), 2 usage, 3 verification warnings, 4 busy, 5 server running, 6 pending (status and plan), 7 outside changes to plugins would be undone (nothing changed)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the launcher's patch step once: detect changes, back up, apply, verify.
    Apply(ApplyArgs),
    /// Watch the patches and service-packs dirs and apply changes when they are complete and
    /// safe (the long-running service).
    Watch(WatchArgs),
    /// Show what is applied, what `apply` would do now, whether each patched bundle verifies,
    /// whether the server runs and needs a restart, and the watcher's last cycle. Writes nothing.
    Status(ReportArgs),
    /// Print every action `apply` would take (backup, restore, copies, metadata, log lines)
    /// without taking any. Writes nothing.
    Plan(ReportArgs),
    /// The launcher's verification, read-only: does each patched bundle in plugins match its
    /// patch? Exit 3 with the list when one does not.
    Verify(ReportArgs),
    /// Bundles provided by more than one patch or service pack, which one wins, and patches
    /// whose every jar is overridden by later ones. Writes nothing.
    Conflicts(ReportArgs),
    /// Apply the bundled sample product in a temporary copy and show what happened.
    Demo(DemoArgs),
    /// Install a patch or service pack (a dir, or a .zip as WSO2 ships them) into the patches
    /// or service-packs dir: checked, staged and renamed into place in one step.
    Install(InstallArgs),
    /// Take a patch or service pack out of the product, keeping it aside for `restore`, then
    /// apply (which restores its bundles from patch0000).
    Revert(RevertArgs),
    /// Put back a patch or service pack taken out by `revert`, then apply.
    Restore(RestoreArgs),
    /// Make the current plugins the new baseline: files changed, removed or added outside the
    /// patch process (WSO2's update tool, a hand fix) go into patch0000, so no restore undoes
    /// them; then apply the pending patches on top. `--undo` takes the last rebase back.
    Rebase(RebaseArgs),
    /// Print a shell completion script for SHELL on standard output.
    Completions(CompletionsArgs),
    /// Write the man pages (carbon-patcher.1 and one page per command) into DIR.
    Man(ManArgs),
}

/// The read-only commands: where the product is, and how to print.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Print JSON (the schema is documented in the README and stays stable) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Where to write the pages (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub control: ApplyControl,
}

/// How a one-shot apply behaves; shared by every command that applies.
#[derive(Args, Debug, Clone, Default)]
pub struct ApplyControl {
    /// Do not print the launcher's console lines on standard output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Apply even though a Carbon server runs on this home (safe for the files, as every
    /// replacement is a rename; the server loads the new bundles only when restarted).
    #[arg(long)]
    pub while_running: bool,
    /// How long to wait for another apply (or the watcher's cycle) to finish [default: 60].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub lock_timeout: Option<Duration>,
    /// Apply even though the restore from patch0000 undoes changes made to plugins outside the
    /// patch process (an update tool's newer jar gets its old bytes back, a removed jar comes
    /// back), as the Carbon launcher does. Refused by default (exit 7); `rebase` keeps them.
    #[arg(long)]
    pub revert_outside_changes: bool,
}

#[derive(Args, Debug)]
pub struct RebaseArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// Take the last rebase back: patch0000 gets the files it replaced, and loses the ones it
    /// added (kept under <state dir>/rebase). Does not apply.
    #[arg(long)]
    pub undo: bool,
    /// Only rebase; do not apply the pending patches (the next apply, or server start, does).
    #[arg(long, conflicts_with = "undo")]
    pub no_apply: bool,
    #[command(flatten)]
    pub control: ApplyControl,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub paths: PathArgs,
    /// A TOML file with any of the settings below (flags win over it); reread on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How long a patch must be quiet (no change under it) before it is applied [default: 2].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub settle: Option<Duration>,
    /// Poll every SECONDS instead of using inotify (for network and shared filesystems, where
    /// inotify does not see other nodes' writes).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub poll: Option<Duration>,
    /// Apply at once even while the server runs, instead of deferring until it stops.
    #[arg(long)]
    pub apply_while_running: bool,
    /// Apply even when the restore from patch0000 undoes changes made to plugins outside the
    /// patch process, as the launcher does (refused and reported by default).
    #[arg(long)]
    pub revert_outside_changes: bool,
    /// Write Prometheus metrics to FILE (textfile-collector format) after each cycle.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Also write the operational log to a daily rolling file in DIR.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// How long a cycle waits for a one-shot apply to finish [default: 60].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub lock_timeout: Option<Duration>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    crate::commands::watch::config::seconds(v).map_err(|e| e.to_string())
}

impl WatchArgs {
    pub fn flags(&self) -> crate::commands::watch::config::WatchFlags {
        crate::commands::watch::config::WatchFlags {
            paths: self.paths.settings(),
            settle: self.settle,
            poll: self.poll,
            apply_while_running: self.apply_while_running,
            revert_outside_changes: self.revert_outside_changes,
            metrics_file: self.metrics_file.clone(),
            log_dir: self.log_dir.clone(),
            lock_timeout: self.lock_timeout,
        }
    }
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// A patch dir (`patchNNNN`), a service pack dir (`servicepack…`, holding `lib/` and
    /// `servicepack_patches.txt`), or a .zip holding one, at its top or inside one wrapper dir
    /// (`WSO2-CARBON-PATCH-4.4.0-0001/patch0001/…`). What the launcher will ignore (a service
    /// pack sorting before the latest one, a patch the latest service pack lists) is installed
    /// with a warning. A symbolic link in a dir SOURCE (or SOURCE itself a link) is refused
    /// unless --follow-symlinks, which copies what it points to, as a run with the flag reads
    /// through it; the zip's are always refused.
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Check the .zip against FILE in `md5sum` format (`<hex>  <name>` lines, `--tag` lines and
    /// coreutils' `\`-escaped names; the line naming SOURCE's file name is used, or a single
    /// bare sum, or the single `<hex>  -` line of `md5sum < SOURCE`) before anything is
    /// extracted. FILE may hold at most 1 MiB.
    #[arg(long, value_name = "FILE", conflicts_with = "sha256")]
    pub md5: Option<PathBuf>,
    /// As --md5, with SHA-256 and a FILE in `sha256sum` format.
    #[arg(long, value_name = "FILE")]
    pub sha256: Option<PathBuf>,
    /// When a patch or service pack of the same name is installed with other content, swap it
    /// for SOURCE atomically (otherwise refused); the old copy is removed.
    #[arg(long)]
    pub replace: bool,
    /// Apply once installed (refused at once, before installing, while a server runs unless
    /// --while-running). When SOURCE was already installed, applies only if the product is not
    /// already up to date.
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub control: ApplyControl,
}

#[derive(Args, Debug)]
pub struct RevertArgs {
    /// The patch (`patch…`, from the patches dir; never patch0000) or service pack
    /// (`servicepack…`, from the service-packs dir) to take out. A trailing `/` is ignored.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Keep reverted patches in DIR [default: the last --backup given, else
    /// <state dir>/reverted]; remembered in the state dir for later revert and restore. DIR
    /// must be outside the patches, service-packs, plugins and metadata dirs (else exit 2).
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
    /// Only move NAME out; do not apply (the next apply, or server start, does).
    #[arg(long)]
    pub no_apply: bool,
    #[command(flatten)]
    pub control: ApplyControl,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The patch or service pack, as `revert` took it out, to put back. A trailing `/` is
    /// ignored.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Take NAME from DIR, and only from there [default: where its revert put it, else the
    /// last --backup given, else <state dir>/reverted].
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
    /// Only move NAME back; do not apply (the next apply, or server start, does).
    #[arg(long)]
    pub no_apply: bool,
    #[command(flatten)]
    pub control: ApplyControl,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Extract the sample product into DIR (which must not exist) and keep it, instead of a
    /// temporary dir removed at the end.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Which sample: a kernel 4.4 product (log4j), a kernel 4.9 product (java.util.logging), or
    /// a Micro Integrator home.
    #[arg(long, value_enum, default_value = "carbon-4.4")]
    pub product: DemoProduct,
}

/// The bundled sample products.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoProduct {
    #[value(name = "carbon-4.4")]
    Carbon44,
    #[value(name = "carbon-4.9")]
    Carbon49,
    #[value(name = "micro-integrator")]
    MicroIntegrator,
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
    /// carbon-patcher's own state dir: digest cache, watcher status, lock files where a
    /// directory cannot be locked [default: <repository>/.carbon-patcher].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Follow symbolic links in the patches and service-packs dirs that point outside the
    /// product (refused by default: a patch should not pull in files from elsewhere).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// A Carbon system property as the launch script passes it to the JVM, e.g.
    /// `-Dcarbon.patches.dir.path=/x`. Properties carbon-patcher does not use are ignored.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// The product's launcher, when its files do not say or say wrong: a kernel version
    /// (`4.4.9`, `4.9.30`) or `micro-integrator` [default: read from
    /// lib/org.wso2.carbon.server-<version>.jar, bin/org.wso2.carbon.bootstrap-<version>.jar,
    /// bin/wso2carbon-version.txt, or bin/micro-integrator.sh]. Decides how patches.log is
    /// written and whether the dir properties count (kernels before 4.4.12 ignore them).
    #[arg(long, value_name = "VERSION")]
    pub kernel: Option<String>,
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
            follow_symlinks: self.follow_symlinks,
            state_dir: self.state_dir.clone(),
            env_carbon_home: env("CARBON_HOME"),
            env_repository: env("CARBON_REPOSITORY"),
            kernel: self.kernel.clone(),
            facts: Default::default(),
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
