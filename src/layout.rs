//! Where things are: resolves the product's directories from flags, Carbon's `-D` system
//! properties and environment, with the precedence the launcher uses (spec section 1).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Carbon's system-property names, as a launch script passes them to the JVM.
pub const PROP_CARBON_HOME: &str = "carbon.home";
pub const PROP_REPOSITORY: &str = "carbon.repository";
pub const PROP_COMPONENTS: &str = "carbon.components.dir.path";
pub const PROP_PATCHES: &str = "carbon.patches.dir.path";
pub const PROP_SERVICEPACKS: &str = "carbon.servicepacks.dir.path";

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
}

impl PathSettings {
    fn property(&self, name: &str) -> Option<PathBuf> {
        self.properties
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| PathBuf::from(v))
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
        let Some(home) = s
            .carbon_home
            .clone()
            .or_else(|| s.property(PROP_CARBON_HOME))
            .or_else(|| s.env_carbon_home.clone())
            .filter(|p| !p.as_os_str().is_empty())
        else {
            bail!("no carbon home: pass --carbon-home DIR, -D carbon.home=DIR or set CARBON_HOME");
        };
        let carbon_home = absolute(&home)?;
        // The launcher: $CARBON_REPOSITORY, then -Dcarbon.repository, then <home>/repository.
        let repository = match s
            .repository
            .clone()
            .or_else(|| s.env_repository.clone())
            .or_else(|| s.property(PROP_REPOSITORY))
        {
            Some(r) => absolute(&r)?,
            None => carbon_home.join("repository"),
        };
        let components = match s.components.clone().or_else(|| s.property(PROP_COMPONENTS)) {
            Some(c) => absolute(&c)?,
            None => repository.join("components"),
        };
        let servicepacks = match s
            .servicepacks
            .clone()
            .or_else(|| s.property(PROP_SERVICEPACKS))
        {
            Some(p) => absolute(&p)?,
            None => components.join("servicepacks"),
        };
        let patches_override = s.patches.clone().or_else(|| s.property(PROP_PATCHES));
        let (patches, metadata) = match patches_override {
            Some(p) => {
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
            Some(l) => absolute(l)?,
            None => carbon_home.join("repository/logs/patches.log"),
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
