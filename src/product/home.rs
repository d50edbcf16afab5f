//! Knowing the product from its home alone, as its own launch script tells the JVM: which
//! launcher it has (the launcher's jar, the bootstrap jar, `bin/wso2carbon-version.txt`, or
//! Micro Integrator's script), which launch script starts it, and the `-Dcarbon.*` switches
//! that script passes (where its dirs really are). Every command finds its product here.

use std::fs;
use std::path::Path;

use anyhow::Result;

use crate::launcher::jul;
use crate::launcher::kernel::{Launcher, Version};
use crate::launcher::layout::{Layout, PathSettings, ProductFacts, SCRIPT_PROPERTIES};

/// The launch scripts of every product family, most specific first: Micro Integrator, EI 6.x,
/// API Manager (3.x/4.x and the 4.5+ per-distribution scripts), then the generic one (Identity
/// Server, EI profiles' `wso2/<profile>/bin`, most others).
pub const LAUNCH_SCRIPTS: [&str; 8] = [
    "micro-integrator.sh",
    "integrator.sh",
    "api-manager.sh",
    "gateway.sh",
    "traffic-manager.sh",
    "api-cp.sh",
    "key-manager.sh",
    "wso2server.sh",
];

/// Resolves where everything is for the product the settings name, reading its files for
/// what they say (unless `settings.facts` was filled already).
pub fn resolve(settings: &PathSettings) -> Result<Layout> {
    let home = settings.home()?;
    let mut s = settings.clone();
    s.facts = facts(&home);
    let mut layout = Layout::resolve(&s)?;
    if let Some(path) = &layout.logging_config {
        let l = layout.launcher;
        let loggers = [l.patch_utils(), l.patch_installer()];
        let system = crate::product::patches_log::system_properties(&layout.carbon_home);
        let (config, warnings) = jul::Config::load(path, &loggers, &system);
        layout.warnings.extend(warnings);
        layout.jul = Some(config);
    }
    Ok(layout)
}

/// What the product's files at `home` say about it. Never fails: what cannot be read is a
/// warning, and the defaults stand.
pub fn facts(home: &Path) -> ProductFacts {
    let mut f = ProductFacts {
        launcher: launcher(home),
        ..Default::default()
    };
    if let Some(script) = LAUNCH_SCRIPTS
        .iter()
        .map(|s| Path::new("bin").join(s))
        .find(|p| home.join(p).is_file())
    {
        match fs::read(home.join(&script)) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let (props, warnings) = script_switches(&text, home);
                f.script_properties = props;
                f.warnings.extend(
                    warnings
                        .into_iter()
                        .map(|w| format!("{}: {w}", script.display())),
                );
            }
            Err(e) => f.warnings.push(format!(
                "{}: cannot read: {e}",
                home.join(&script).display()
            )),
        }
        f.script = Some(script.display().to_string());
    }
    f
}

/// The launcher, and the file that told.
fn launcher(home: &Path) -> Option<(Launcher, String)> {
    if home.join("bin/micro-integrator.sh").is_file() {
        return Some((Launcher::MICRO_INTEGRATOR, "bin/micro-integrator.sh".into()));
    }
    // The launcher's own jar: in lib/ (EI 6.x keeps it under wso2/lib/).
    for (dir, prefix) in [
        ("lib", "org.wso2.carbon.server-"),
        ("wso2/lib", "org.wso2.carbon.server-"),
        ("bin", "org.wso2.carbon.bootstrap-"),
    ] {
        let Ok(entries) = fs::read_dir(home.join(dir)) else {
            continue;
        };
        let mut found: Vec<(Version, String)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let version = name.strip_prefix(prefix)?.strip_suffix(".jar")?;
                Some((Version::parse(version)?, format!("{dir}/{name}")))
            })
            .collect();
        // Two versions side by side (a botched update): the newest is what the script loads
        // last on the class path; say which one counted.
        found.sort();
        if let Some((v, file)) = found.pop() {
            return Some((Launcher::carbon(v), file));
        }
    }
    let text = fs::read_to_string(home.join("bin/wso2carbon-version.txt")).ok()?;
    // `WSO2 Carbon Framework v4.9.30`
    let version = text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(['v', 'V']))
        .find_map(Version::parse)?;
    Some((
        Launcher::carbon(version),
        "bin/wso2carbon-version.txt".into(),
    ))
}

/// The `-D<name>=<value>` switches a launch script passes for [`SCRIPT_PROPERTIES`], with
/// `$CARBON_HOME` (and `${CARBON_HOME}`) expanded to `home` and shell quotes removed, in the
/// script's order; comment lines are skipped. A value naming another variable cannot be known
/// from outside the shell: left out, with a warning.
pub fn script_switches(text: &str, home: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let (mut props, mut warnings) = (Vec::new(), Vec::new());
    let home = home.display().to_string();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with('#') {
            continue;
        }
        for word in shell_words(code) {
            let Some(rest) = word.strip_prefix("-D") else {
                continue;
            };
            let Some((name, value)) = rest.split_once('=') else {
                continue;
            };
            if !SCRIPT_PROPERTIES.contains(&name) {
                continue;
            }
            let value = value
                .replace("${CARBON_HOME}", &home)
                .replace("$CARBON_HOME", &home);
            if value.contains('$') || value.contains('`') {
                warnings.push(format!(
                    "-D{name}={value}: names a shell variable other than CARBON_HOME; not followed"
                ));
                continue;
            }
            props.push((name.to_string(), value));
        }
    }
    (props, warnings)
}

/// A line split into words as the shell would for plain words: quotes (`"…"`, `'…'`) join and
/// are removed, a backslash-newline continuation is whitespace. Enough for the `-D` switches
/// of launch scripts, which are literal words with `$CARBON_HOME` inside.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::kernel::{Family, Line};

    #[test]
    fn switches_as_the_shell_passes_them() {
        let script = r#"
# -Dcarbon.patches.dir.path="$CARBON_HOME/commented"
    -Dcarbon.components.dir.path="$CARBON_HOME/wso2/components" \
    -Dcarbon.patches.dir.path="${CARBON_HOME}/patches" -Dcarbon.home="$CARBON_HOME" \
    -Djava.util.logging.config.file="$CARBON_HOME/conf/etc/logging-bridge.properties" \
    -Dcarbon.servicepacks.dir.path=$OTHER/sp \
"#;
        let (props, warnings) = script_switches(script, Path::new("/opt/mi"));
        assert_eq!(
            props,
            vec![
                (
                    "carbon.components.dir.path".to_string(),
                    "/opt/mi/wso2/components".to_string()
                ),
                ("carbon.patches.dir.path".into(), "/opt/mi/patches".into()),
                (
                    "java.util.logging.config.file".into(),
                    "/opt/mi/conf/etc/logging-bridge.properties".into()
                ),
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("$OTHER/sp"));
    }

    #[test]
    fn the_launcher_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        assert_eq!(launcher(home), None);
        fs::create_dir_all(home.join("bin")).unwrap();
        fs::write(
            home.join("bin/wso2carbon-version.txt"),
            "WSO2 Carbon Framework v4.9.30\n",
        )
        .unwrap();
        let (l, by) = launcher(home).unwrap();
        assert_eq!(
            (l.kernel, by.as_str()),
            (Some(Version(4, 9, 30)), "bin/wso2carbon-version.txt")
        );
        fs::create_dir_all(home.join("lib")).unwrap();
        fs::write(home.join("lib/org.wso2.carbon.server-4.4.9.jar"), b"jar").unwrap();
        let (l, by) = launcher(home).unwrap();
        assert_eq!(l.line(), Line::Log4j);
        assert_eq!(by, "lib/org.wso2.carbon.server-4.4.9.jar");
        fs::write(home.join("bin/micro-integrator.sh"), b"#!/bin/sh\n").unwrap();
        assert_eq!(launcher(home).unwrap().0.family, Family::MicroIntegrator);
    }

    #[test]
    fn micro_integrator_dirs_come_from_its_script() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        fs::create_dir_all(home.join("bin")).unwrap();
        fs::write(
            home.join("bin/micro-integrator.sh"),
            "$JAVACMD \\\n  -Dcarbon.components.dir.path=\"$CARBON_HOME/wso2/components\" \\\n  -Dcarbon.patches.dir.path=\"$CARBON_HOME/patches\" \\\n  -Djava.util.logging.config.file=\"$CARBON_HOME/conf/etc/logging-bridge.properties\" \\\n  Bootstrap\n",
        )
        .unwrap();
        let l = resolve(&PathSettings {
            carbon_home: Some(home.to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(l.plugins, home.join("wso2/components/plugins"));
        assert_eq!(l.servicepacks, home.join("wso2/components/servicepacks"));
        assert_eq!(l.patches, home.join("patches"));
        assert_eq!(l.metadata, home.join("patches/.metadata"));
        assert_eq!(
            l.logging_config.as_deref(),
            Some(home.join("conf/etc/logging-bridge.properties").as_path())
        );
        assert!(l
            .origins
            .iter()
            .any(|(what, who)| what == "patches" && who.contains("bin/micro-integrator.sh")));
    }

    #[test]
    fn kernels_before_4_4_12_ignore_the_dir_properties() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        fs::create_dir_all(home.join("lib")).unwrap();
        fs::write(home.join("lib/org.wso2.carbon.server-4.4.9.jar"), b"jar").unwrap();
        let mut s = PathSettings {
            carbon_home: Some(home.to_path_buf()),
            properties: vec![("carbon.patches.dir.path".into(), "/elsewhere".into())],
            ..Default::default()
        };
        let l = resolve(&s).unwrap();
        assert_eq!(l.patches, home.join("repository/components/patches"));
        assert!(
            l.warnings.iter().any(|w| w.contains("4.4.12")),
            "{:?}",
            l.warnings
        );
        fs::remove_file(home.join("lib/org.wso2.carbon.server-4.4.9.jar")).unwrap();
        fs::write(home.join("lib/org.wso2.carbon.server-4.4.12.jar"), b"jar").unwrap();
        assert_eq!(resolve(&s).unwrap().patches, Path::new("/elsewhere"));
        // --kernel wins over the product's files.
        s.kernel = Some("4.4.1".into());
        assert_eq!(
            resolve(&s).unwrap().patches,
            home.join("repository/components/patches")
        );
    }
}
