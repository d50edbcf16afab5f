//! Where things are: resolves the product's directories from flags, Carbon's `-D` system
//! properties and environment, with the precedence the launcher uses (spec section 1).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::launcher::kernel::{Family, Launcher, Line};

/// Carbon's system-property names, as a launch script passes them to the JVM.
pub const PROP_CARBON_HOME: &str = "carbon.home";
pub const PROP_REPOSITORY: &str = "carbon.repository";
pub const PROP_COMPONENTS: &str = "carbon.components.dir.path";
pub const PROP_PATCHES: &str = "carbon.patches.dir.path";
pub const PROP_SERVICEPACKS: &str = "carbon.servicepacks.dir.path";
/// Where a `java.util.logging` launcher reads its log configuration.
pub const PROP_LOGGING_CONFIG: &str = "java.util.logging.config.file";
/// The properties a launch script's switches are read for.
pub const SCRIPT_PROPERTIES: [&str; 5] = [
    PROP_REPOSITORY,
    PROP_COMPONENTS,
    PROP_PATCHES,
    PROP_SERVICEPACKS,
    PROP_LOGGING_CONFIG,
];

/// What the product's own files say about it, read by [`crate::product::home`].
#[derive(Debug, Default, Clone)]
pub struct ProductFacts {
    /// The launcher, and the file that told.
    pub launcher: Option<(Launcher, String)>,
    /// The launch script whose switches were read, as shown to operators.
    pub script: Option<String>,
    /// Its `-D` switches for [`SCRIPT_PROPERTIES`], `$CARBON_HOME` expanded, in its order.
    pub script_properties: Vec<(String, String)>,
    /// What could not be read or followed.
    pub warnings: Vec<String>,
}

/// What the caller gave: flags (highest), `-D` properties, and the two environment variables.
#[derive(Debug, Default, Clone)]
pub struct PathSettings {
    pub carbon_home: Option<PathBuf>,
    pub repository: Option<PathBuf>,
    pub components: Option<PathBuf>,
    pub patches: Option<PathBuf>,
    pub servicepacks: Option<PathBuf>,
    pub patches_log: Option<PathBuf>,
    /// `-D name=value` pairs in command-line order; a later one wins.
    pub properties: Vec<(String, String)>,
    /// Follow symbolic links in the patches and service-packs dirs that lead out of the product.
    pub follow_symlinks: bool,
    /// carbon-patcher's own state dir (digest cache, watcher status, fallback locks).
    pub state_dir: Option<PathBuf>,
    /// `$CARBON_HOME`
    pub env_carbon_home: Option<PathBuf>,
    /// `$CARBON_REPOSITORY`
    pub env_repository: Option<PathBuf>,
    /// `--kernel` (or the config key `kernel`): the launcher, winning over detection.
    pub kernel: Option<String>,
    /// What the product's files say; empty when not read.
    pub facts: ProductFacts,
}

impl PathSettings {
    /// A system property as the JVM would get it: the last `-D` given to us, else the last the
    /// launch script passes; with who said it.
    fn property_from(&self, name: &str) -> Option<(PathBuf, String)> {
        let given = self.properties.iter().rev().find(|(n, _)| n == name);
        if let Some((_, v)) = given {
            return Some((PathBuf::from(v), format!("-D{name}")));
        }
        let script = self.facts.script.as_deref().unwrap_or("the launch script");
        self.facts
            .script_properties
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| (PathBuf::from(v), format!("-D{name} in {script}")))
    }

    /// The carbon home: the flag, `-Dcarbon.home`, then `$CARBON_HOME`; absolute.
    pub fn home(&self) -> Result<PathBuf> {
        let Some(home) = self
            .carbon_home
            .clone()
            .or_else(|| {
                self.properties
                    .iter()
                    .rev()
                    .find(|(n, _)| n == PROP_CARBON_HOME)
                    .map(|(_, v)| PathBuf::from(v))
            })
            .or_else(|| self.env_carbon_home.clone())
            .filter(|p| !p.as_os_str().is_empty())
        else {
            bail!("no carbon home: pass --carbon-home DIR, -D carbon.home=DIR or set CARBON_HOME");
        };
        absolute(&home)
    }
}

/// Every path the engine reads or writes, absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub carbon_home: PathBuf,
    pub repository: PathBuf,
    pub components: PathBuf,
    pub plugins: PathBuf,
    pub servicepacks: PathBuf,
    pub patches: PathBuf,
    /// Holds `prePatchedDir.txt` and `prePatchedJARs.txt`.
    pub metadata: PathBuf,
    /// The file `patches.log` lines are appended to.
    pub patches_log: PathBuf,
    /// Whether links out of the product are followed (else refused).
    pub follow_symlinks: bool,
    /// carbon-patcher's own state: `<repository>/.carbon-patcher` unless set.
    pub state_dir: PathBuf,
    /// The path the console's verification warning names (the launcher names
    /// `<repository>/logs/patches.log` whatever its log4j configuration says).
    pub patches_log_shown: PathBuf,
    /// The product's launcher.
    pub launcher: Launcher,
    /// `logging-bridge.properties`, for a `java.util.logging` launcher.
    pub logging_config: Option<PathBuf>,
    /// What that file sets up, as the launcher's log manager reads it (filled by
    /// [`crate::product::home`]; `None`: not read, the stock configuration is taken).
    pub jul: Option<crate::launcher::jul::Config>,
    /// Who decided each thing (`kernel`, `plugins`, ...): a file of the product, a flag, a
    /// switch, or the default.
    pub origins: Vec<(String, String)>,
    /// What the product's files or flags asked that the launcher does otherwise, or that could
    /// not be read.
    pub warnings: Vec<String>,
}

pub const BACKUP_DIR: &str = "patch0000";
pub const PRE_PATCHED_DIR_FILE: &str = "prePatchedDir.txt";
pub const PRE_PATCHED_JARS_FILE: &str = "prePatchedJARs.txt";
pub const SERVICEPACK_LIB_DIR: &str = "lib";
pub const SERVICEPACK_PATCHES_FILE: &str = "servicepack_patches.txt";

/// Relative paths resolve against the working directory, as Java's `File.getAbsolutePath` does.
fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()))
}

impl Layout {
    pub fn resolve(s: &PathSettings) -> Result<Layout> {
        let carbon_home = s.home()?;
        let mut origins: Vec<(String, String)> = Vec::new();
        let mut warnings = s.facts.warnings.clone();
        let launcher = match (&s.kernel, &s.facts.launcher) {
            (Some(k), _) => {
                origins.push(("kernel".into(), "--kernel".into()));
                Launcher::parse(k)?
            }
            (None, Some((l, said_by))) => {
                origins.push(("kernel".into(), said_by.clone()));
                *l
            }
            (None, None) => {
                origins.push((
                    "kernel".into(),
                    "nothing in the product names it (no lib/org.wso2.carbon.server-*.jar)".into(),
                ));
                Launcher::default()
            }
        };
        let mut origin = |what: &str, who: String| origins.push((what.to_string(), who));
        // The launcher: $CARBON_REPOSITORY, then -Dcarbon.repository, then <home>/repository.
        let repository = if let Some(r) = &s.repository {
            origin("repository", "--repository".into());
            absolute(r)?
        } else if let Some(r) = &s.env_repository {
            origin("repository", "$CARBON_REPOSITORY".into());
            absolute(r)?
        } else if let Some((r, who)) = s.property_from(PROP_REPOSITORY) {
            origin("repository", who);
            absolute(&r)?
        } else {
            carbon_home.join("repository")
        };
        // A dir property, unless this kernel ignores it (before 4.4.12): then said, not used.
        let mut dir_property = |name: &str| -> Option<(PathBuf, String)> {
            let (value, who) = s.property_from(name)?;
            if launcher.reads_dir_properties() {
                return Some((value, who));
            }
            warnings.push(format!(
                "{who} = {} is ignored: {} reads no {name} (only kernels from 4.4.12 on do), \
                 so carbon-patcher ignores it too",
                value.display(),
                launcher.describe()
            ));
            None
        };
        let flag_or = |flag: &Option<PathBuf>,
                       name: &str,
                       dir_property: &mut dyn FnMut(&str) -> Option<(PathBuf, String)>,
                       flag_name: &str|
         -> Option<(PathBuf, String)> {
            match flag {
                Some(f) => Some((f.clone(), flag_name.to_string())),
                None => dir_property(name),
            }
        };
        let components = match flag_or(
            &s.components,
            PROP_COMPONENTS,
            &mut dir_property,
            "--components-dir",
        ) {
            Some((c, who)) => {
                origin("components", who);
                absolute(&c)?
            }
            None => repository.join("components"),
        };
        let servicepacks = match flag_or(
            &s.servicepacks,
            PROP_SERVICEPACKS,
            &mut dir_property,
            "--servicepacks-dir",
        ) {
            Some((p, who)) => {
                origin("servicepacks", who);
                absolute(&p)?
            }
            None => components.join("servicepacks"),
        };
        let (patches, metadata) =
            match flag_or(&s.patches, PROP_PATCHES, &mut dir_property, "--patches-dir") {
                Some((p, who)) => {
                    origin("patches", who);
                    let p = absolute(&p)?;
                    let meta = p.join(".metadata");
                    (p, meta)
                }
                // Note: the repository path, not the components override (spec section 1).
                None => (
                    components.join("patches"),
                    repository.join("components/patches/.metadata"),
                ),
            };
        let patches_log = match &s.patches_log {
            Some(l) => {
                origin("patches.log", "--patches-log".into());
                absolute(l)?
            }
            None => carbon_home.join("repository/logs/patches.log"),
        };
        let logging_config = match launcher.line() {
            Line::Log4j => None,
            Line::Jul => Some(match s.property_from(PROP_LOGGING_CONFIG) {
                Some((f, who)) => {
                    origin("logging config", who);
                    // Relative to the launch script's working dir: the carbon home.
                    carbon_home.join(f)
                }
                None => carbon_home.join(match launcher.family {
                    Family::Carbon => "repository/conf/etc/logging-bridge.properties",
                    Family::MicroIntegrator => "conf/etc/logging-bridge.properties",
                }),
            }),
        };
        let patches_log_shown = repository.join("logs/patches.log");
        let state_dir = match &s.state_dir {
            Some(d) => absolute(d)?,
            None => repository.join(".carbon-patcher"),
        };
        Ok(Layout {
            follow_symlinks: s.follow_symlinks,
            state_dir,
            plugins: components.join("plugins"),
            carbon_home,
            repository,
            components,
            servicepacks,
            patches,
            metadata,
            patches_log,
            patches_log_shown,
            launcher,
            logging_config,
            jul: None,
            origins,
            warnings,
        })
    }

    pub fn backup(&self) -> PathBuf {
        self.patches.join(BACKUP_DIR)
    }

    /// The marker older versions left while a run committed (now `prePatchedDir.txt` itself
    /// records it): still honoured and removed. Beside the metadata it qualifies, so every
    /// run on this product sees it, whatever its state dir.
    pub fn apply_marker(&self) -> PathBuf {
        self.metadata.join(".carbon-patcher-apply-in-progress")
    }

    /// Where a lock named `name` lives on filesystems that cannot lock a directory.
    pub fn lock_file(&self, name: &str) -> PathBuf {
        self.state_dir.join(format!("{name}.lock"))
    }

    /// When an apply of ours last changed `plugins` (seconds since the epoch), so `status` can
    /// tell whether the running server started before it.
    pub fn last_apply_file(&self) -> PathBuf {
        self.state_dir.join("last-apply")
    }

    pub fn pre_patched_dir_file(&self) -> PathBuf {
        self.metadata.join(PRE_PATCHED_DIR_FILE)
    }

    pub fn pre_patched_jars_file(&self) -> PathBuf {
        self.metadata.join(PRE_PATCHED_JARS_FILE)
    }

    /// A path as operators see it in messages: relative to the carbon home when inside it.
    pub fn show(&self, p: &Path) -> String {
        p.strip_prefix(&self.carbon_home)
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(home: &str) -> PathSettings {
        PathSettings {
            carbon_home: Some(home.into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults() {
        let l = Layout::resolve(&settings("/opt/wso2")).unwrap();
        assert_eq!(
            l.plugins,
            Path::new("/opt/wso2/repository/components/plugins")
        );
        assert_eq!(
            l.patches,
            Path::new("/opt/wso2/repository/components/patches")
        );
        assert_eq!(
            l.servicepacks,
            Path::new("/opt/wso2/repository/components/servicepacks")
        );
        assert_eq!(
            l.metadata,
            Path::new("/opt/wso2/repository/components/patches/.metadata")
        );
        assert_eq!(
            l.patches_log,
            Path::new("/opt/wso2/repository/logs/patches.log")
        );
        assert_eq!(l.patches_log_shown, l.patches_log);
    }

    #[test]
    fn environment_repository_beats_property_and_flag_beats_both() {
        let mut s = settings("/h");
        s.properties.push((PROP_REPOSITORY.into(), "/prop".into()));
        s.env_repository = Some("/env".into());
        assert_eq!(Layout::resolve(&s).unwrap().repository, Path::new("/env"));
        s.repository = Some("/flag".into());
        let l = Layout::resolve(&s).unwrap();
        assert_eq!(l.repository, Path::new("/flag"));
        assert_eq!(l.plugins, Path::new("/flag/components/plugins"));
        // patches.log stays under the home; the console names the repository's.
        assert_eq!(l.patches_log, Path::new("/h/repository/logs/patches.log"));
        assert_eq!(l.patches_log_shown, Path::new("/flag/logs/patches.log"));
    }

    #[test]
    fn components_override_keeps_metadata_under_repository() {
        let mut s = settings("/h");
        s.properties.push((PROP_COMPONENTS.into(), "/c".into()));
        let l = Layout::resolve(&s).unwrap();
        assert_eq!(l.plugins, Path::new("/c/plugins"));
        assert_eq!(l.patches, Path::new("/c/patches"));
        assert_eq!(
            l.metadata,
            Path::new("/h/repository/components/patches/.metadata")
        );
    }

    #[test]
    fn patches_override_moves_metadata() {
        let mut s = settings("/h");
        s.properties.push((PROP_PATCHES.into(), "/p".into()));
        s.properties.push((PROP_SERVICEPACKS.into(), "/sp".into()));
        let l = Layout::resolve(&s).unwrap();
        assert_eq!(l.patches, Path::new("/p"));
        assert_eq!(l.metadata, Path::new("/p/.metadata"));
        assert_eq!(l.servicepacks, Path::new("/sp"));
    }

    #[test]
    fn home_from_property_then_environment() {
        let mut s = PathSettings {
            env_carbon_home: Some("/env".into()),
            ..Default::default()
        };
        assert_eq!(Layout::resolve(&s).unwrap().carbon_home, Path::new("/env"));
        s.properties.push((PROP_CARBON_HOME.into(), "/prop".into()));
        assert_eq!(Layout::resolve(&s).unwrap().carbon_home, Path::new("/prop"));
        assert!(Layout::resolve(&PathSettings::default()).is_err());
    }
}
