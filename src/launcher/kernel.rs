//! Which launcher a product has, and every difference between the launchers in one place: the
//! kernel line (4.3–4.4.x logs through log4j 1.2; 4.5.0–4.12.x through `java.util.logging`),
//! the family (Carbon products, or WSO2 Micro Integrator's own copy of the launcher, with its
//! own logger names), and whether the dir properties count (kernels before 4.4.12 ignore
//! `carbon.components.dir.path`, `carbon.patches.dir.path` and `carbon.servicepacks.dir.path`).

use std::fmt;

use anyhow::{bail, Result};

/// How the launcher logs its patch step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Line {
    /// Kernels 4.3.0–4.4.x: log4j 1.2, `[%d] %5p {%c} - %x %m%n`, a `.console` logger.
    Log4j,
    /// Kernels 4.5.0–4.12.x and Micro Integrator: `java.util.logging`, driven by the product's
    /// `logging-bridge.properties`.
    Jul,
}

/// Whose copy of the launcher it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `org.wso2.carbon.server` (API Manager, Identity Server, Enterprise Integrator, ...).
    Carbon,
    /// `org.wso2.micro.integrator.server`.
    MicroIntegrator,
}

/// A kernel version, `4.9.30` (missing parts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses `4.4.9`, `4.9.30`, `4.6.0-m1`, `v4.10.2`: the leading numbers.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches(['v', 'V']);
        let mut parts = text
            .split(['.', '-', '_'])
            .map_while(|p| p.parse::<u32>().ok());
        let major = parts.next()?;
        let minor = parts.next().unwrap_or(0);
        let patch = parts.next().unwrap_or(0);
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The first kernel that logs through `java.util.logging`.
const FIRST_JUL: Version = Version(4, 5, 0);
/// The first kernel that reads the dir properties.
const FIRST_DIR_PROPERTIES: Version = Version(4, 4, 12);

/// A product's launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Launcher {
    pub family: Family,
    /// `None` when nothing in the product said (taken as a 4.4.x kernel, the line the
    /// defaults always matched).
    pub kernel: Option<Version>,
}

impl Default for Launcher {
    fn default() -> Launcher {
        Launcher {
            family: Family::Carbon,
            kernel: None,
        }
    }
}

impl Launcher {
    pub fn carbon(kernel: Version) -> Launcher {
        Launcher {
            family: Family::Carbon,
            kernel: Some(kernel),
        }
    }

    pub const MICRO_INTEGRATOR: Launcher = Launcher {
        family: Family::MicroIntegrator,
        kernel: None,
    };

    /// `--kernel` and the config key `kernel`: a kernel version (`4.4.9`, `4.9.30`), or
    /// `micro-integrator` (also `mi`).
    pub fn parse(text: &str) -> Result<Launcher> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("micro-integrator") || t.eq_ignore_ascii_case("mi") {
            return Ok(Launcher::MICRO_INTEGRATOR);
        }
        match Version::parse(t) {
            Some(v) if v.0 == 4 && (3..=12).contains(&v.1) => Ok(Launcher::carbon(v)),
            Some(v) => bail!("{v}: not a Carbon 4.x kernel this tool knows (4.3.0 to 4.12.x)"),
            None => {
                bail!("{t:?}: not a kernel version (such as 4.4.9 or 4.9.30) or micro-integrator")
            }
        }
    }

    pub fn line(&self) -> Line {
        match (self.family, self.kernel) {
            (Family::MicroIntegrator, _) => Line::Jul,
            (Family::Carbon, Some(v)) if v >= FIRST_JUL => Line::Jul,
            (Family::Carbon, _) => Line::Log4j,
        }
    }

    /// Whether `carbon.components.dir.path`, `carbon.patches.dir.path` and
    /// `carbon.servicepacks.dir.path` count (spec section 10). Unknown kernels are given the
    /// benefit of the doubt: every product that passes them runs a kernel that reads them.
    pub fn reads_dir_properties(&self) -> bool {
        match (self.family, self.kernel) {
            (Family::MicroIntegrator, _) => true,
            (Family::Carbon, Some(v)) => v >= FIRST_DIR_PROPERTIES,
            (Family::Carbon, None) => true,
        }
    }

    /// The class that logs as `PatchUtils` (and names its logger).
    pub fn patch_utils(&self) -> &'static str {
        match self.family {
            Family::Carbon => "org.wso2.carbon.server.util.PatchUtils",
            Family::MicroIntegrator => "org.wso2.micro.integrator.server.util.PatchUtils",
        }
    }

    /// The class that logs as `PatchInstaller`.
    pub fn patch_installer(&self) -> &'static str {
        match self.family {
            Family::Carbon => "org.wso2.carbon.server.extensions.PatchInstaller",
            Family::MicroIntegrator => "org.wso2.micro.integrator.server.extensions.PatchInstaller",
        }
    }

    /// How operators name it: `Carbon kernel 4.9.30 (java.util.logging)`.
    pub fn describe(&self) -> String {
        let line = match self.line() {
            Line::Log4j => "log4j",
            Line::Jul => "java.util.logging",
        };
        match (self.family, self.kernel) {
            (Family::MicroIntegrator, _) => format!("WSO2 Micro Integrator launcher ({line})"),
            (Family::Carbon, Some(v)) => format!("Carbon kernel {v} ({line})"),
            (Family::Carbon, None) => format!("Carbon kernel 4.4.x, assumed ({line})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_properties_by_kernel() {
        let k = |s: &str| Launcher::parse(s).unwrap();
        assert_eq!(k("4.4.9").line(), Line::Log4j);
        assert!(!k("4.4.9").reads_dir_properties());
        assert!(k("4.4.12").reads_dir_properties());
        assert_eq!(k("4.4.40").line(), Line::Log4j);
        assert_eq!(k("4.5.0").line(), Line::Jul);
        assert_eq!(k("v4.9.30").line(), Line::Jul);
        assert_eq!(k("4.12.1").line(), Line::Jul);
        assert_eq!(k("mi").line(), Line::Jul);
        assert_eq!(
            k("micro-integrator").patch_utils(),
            "org.wso2.micro.integrator.server.util.PatchUtils"
        );
        assert_eq!(Launcher::default().line(), Line::Log4j);
        assert!(Launcher::parse("5.1.0").is_err());
        assert!(Launcher::parse("new").is_err());
        assert_eq!(Version::parse("4.6.0-m1"), Some(Version(4, 6, 0)));
    }
}
