//! The watcher's configuration: a TOML file for everything the flags set, merged with the flags
//! (flags win). Unknown keys and bad values are errors that name the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::launcher::layout::PathSettings;

/// The file as written. Every key is optional.
#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub carbon_home: Option<PathBuf>,
    pub repository: Option<PathBuf>,
    pub components_dir: Option<PathBuf>,
    pub patches_dir: Option<PathBuf>,
    pub servicepacks_dir: Option<PathBuf>,
    pub patches_log: Option<PathBuf>,
    /// Carbon system properties, as `-D` would give them.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    pub settle_seconds: Option<f64>,
    pub poll_seconds: Option<f64>,
    pub apply_while_running: Option<bool>,
    pub revert_outside_changes: Option<bool>,
    pub metrics_file: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub lock_timeout_seconds: Option<f64>,
    pub follow_symlinks: Option<bool>,
    /// As `--kernel`.
    pub kernel: Option<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let cfg: ConfigFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (key, value) in [
            ("settle_seconds", cfg.settle_seconds),
            ("poll_seconds", cfg.poll_seconds),
            ("lock_timeout_seconds", cfg.lock_timeout_seconds),
        ] {
            if let Some(v) = value {
                seconds(v).with_context(|| format!("{}: key {key}", path.display()))?;
            }
        }
        Ok(cfg)
    }
}

/// A number of seconds as a duration: finite, not negative, at most a day.
pub fn seconds(v: f64) -> Result<Duration> {
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        bail!("{v} is not a number of seconds between 0 and 86400");
    }
    Ok(Duration::from_secs_f64(v))
}

/// What the watcher runs with, after merging flags over the file over the defaults.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub paths: PathSettings,
    /// A patch must be quiet this long before it is applied.
    pub settle: Duration,
    /// `Some(interval)`: poll instead of inotify.
    pub poll: Option<Duration>,
    pub apply_while_running: bool,
    /// Apply even when the restore undoes changes made outside the patch process.
    pub revert_outside_changes: bool,
    pub metrics_file: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
    pub lock_timeout: Duration,
}

pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What the command line gave, for merging over a file.
#[derive(Debug, Clone, Default)]
pub struct WatchFlags {
    pub paths: PathSettings,
    pub settle: Option<Duration>,
    pub poll: Option<Duration>,
    pub apply_while_running: bool,
    pub revert_outside_changes: bool,
    pub metrics_file: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
    pub lock_timeout: Option<Duration>,
}

impl WatchSettings {
    pub fn merge(flags: &WatchFlags, file: &ConfigFile) -> Result<WatchSettings> {
        let f = &flags.paths;
        let mut properties: Vec<(String, String)> = file
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        properties.extend(f.properties.iter().cloned());
        let paths = PathSettings {
            carbon_home: f.carbon_home.clone().or(file.carbon_home.clone()),
            repository: f.repository.clone().or(file.repository.clone()),
            components: f.components.clone().or(file.components_dir.clone()),
            patches: f.patches.clone().or(file.patches_dir.clone()),
            servicepacks: f.servicepacks.clone().or(file.servicepacks_dir.clone()),
            patches_log: f.patches_log.clone().or(file.patches_log.clone()),
            properties,
            follow_symlinks: f.follow_symlinks || file.follow_symlinks.unwrap_or(false),
            state_dir: f.state_dir.clone().or(file.state_dir.clone()),
            env_carbon_home: f.env_carbon_home.clone(),
            env_repository: f.env_repository.clone(),
            kernel: f.kernel.clone().or(file.kernel.clone()),
            facts: Default::default(),
        };
        let opt_secs = |v: Option<f64>| v.map(seconds).transpose();
        Ok(WatchSettings {
            paths,
            settle: flags
                .settle
                .or(opt_secs(file.settle_seconds)?)
                .unwrap_or(DEFAULT_SETTLE),
            poll: flags.poll.or(opt_secs(file.poll_seconds)?),
            apply_while_running: flags.apply_while_running
                || file.apply_while_running.unwrap_or(false),
            revert_outside_changes: flags.revert_outside_changes
                || file.revert_outside_changes.unwrap_or(false),
            metrics_file: flags.metrics_file.clone().or(file.metrics_file.clone()),
            log_dir: flags.log_dir.clone().or(file.log_dir.clone()),
            lock_timeout: flags
                .lock_timeout
                .or(opt_secs(file.lock_timeout_seconds)?)
                .unwrap_or(DEFAULT_LOCK_TIMEOUT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ConfigFile> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        ConfigFile::load(&p)
    }

    #[test]
    fn full_file_and_flags_win() {
        let cfg = load(
            r#"
carbon_home = "/opt/wso2am"
settle_seconds = 5
poll_seconds = 1.5
apply_while_running = true
revert_outside_changes = true
metrics_file = "/m.prom"
lock_timeout_seconds = 3
[properties]
"carbon.patches.dir.path" = "/p"
"#,
        )
        .unwrap();
        let mut flags = WatchFlags::default();
        flags
            .paths
            .properties
            .push(("carbon.patches.dir.path".into(), "/q".into()));
        flags.settle = Some(Duration::from_millis(500));
        let s = WatchSettings::merge(&flags, &cfg).unwrap();
        assert_eq!(
            s.paths.carbon_home.as_deref(),
            Some(Path::new("/opt/wso2am"))
        );
        assert_eq!(s.settle, Duration::from_millis(500));
        assert_eq!(s.poll, Some(Duration::from_millis(1500)));
        assert!(s.apply_while_running);
        assert!(s.revert_outside_changes);
        assert_eq!(s.lock_timeout, Duration::from_secs(3));
        // The flag's -D comes last, so it wins.
        assert_eq!(s.paths.properties.last().unwrap().1, "/q");
        let d = WatchSettings::merge(&WatchFlags::default(), &ConfigFile::default()).unwrap();
        assert_eq!(d.settle, DEFAULT_SETTLE);
        assert_eq!(d.poll, None);
        assert!(!d.revert_outside_changes, "refused by default");
    }

    #[test]
    fn unknown_key_and_bad_value_name_the_key() {
        let e = format!("{:#}", load("settle_secs = 2\n").unwrap_err());
        assert!(e.contains("settle_secs"), "{e}");
        let e = format!("{:#}", load("settle_seconds = \"two\"\n").unwrap_err());
        assert!(e.contains("settle_seconds"), "{e}");
        let e = format!("{:#}", load("settle_seconds = -1\n").unwrap_err());
        assert!(e.contains("settle_seconds"), "{e}");
        let e = format!("{:#}", load("apply_while_running = 1\n").unwrap_err());
        assert!(e.contains("apply_while_running"), "{e}");
    }
}
