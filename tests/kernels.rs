//! Every launcher, byte for byte (spec section 10): a kernel 4.5+ product logs its patch step
//! through `java.util.logging` as its `logging-bridge.properties` says, Micro Integrator with its
//! own dirs and loggers, a 4.4 kernel before 4.4.12 ignores the dir properties; each found from
//! the product's own files, with no switch.

mod common;

use std::fs;
use std::path::Path;

use common::*;

const STOCK_BRIDGE: &str = "\
handlers=java.util.logging.FileHandler, java.util.logging.ConsoleHandler
.level= INFO
java.util.logging.FileHandler.level = FINE
java.util.logging.FileHandler.pattern = repository/logs/patches.log
java.util.logging.FileHandler.limit = 50000
java.util.logging.FileHandler.count = 1
java.util.logging.FileHandler.append = true
java.util.logging.FileHandler.filter = org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter
java.util.logging.FileHandler.formatter = java.util.logging.SimpleFormatter
java.util.logging.SimpleFormatter.format = [%1$tY-%1$tm-%1$td %1$tk:%1$tM:%1$tS,%1$tL]  %4$s {%2$s} - %5$s %6$s %n
java.util.logging.ConsoleHandler.level = INFO
java.util.logging.ConsoleHandler.filter = org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter
org.wso2.carbon.server.util.PatchUtils.level = FINE
";

/// A product on kernel `version` with the launcher's jar in `lib/`, its stock
/// `logging-bridge.properties` (or `bridge`), two bundles and `patch0001` replacing one.
fn product(root: &Path, version: &str, bridge: Option<&str>) -> Product {
    let p = Product::new(root, &[("a", "1"), ("b", "1")]);
    write(
        &p.home
            .join(format!("lib/org.wso2.carbon.server-{version}.jar")),
        &bundle_jar("org.wso2.carbon.server", version, "launcher"),
    );
    write(
        &p.home.join("repository/conf/etc/logging-bridge.properties"),
        bridge.unwrap_or(STOCK_BRIDGE).as_bytes(),
    );
    fs::create_dir_all(p.home.join("repository/logs")).unwrap();
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    p
}

const UTILS: &str = "org.wso2.carbon.server.util.PatchUtils";
const INSTALLER: &str = "org.wso2.carbon.server.extensions.PatchInstaller";

fn md5_of_patch(p: &Product) -> String {
    md5_hex(&fs::read(p.patches().join("patch0001/a_1.jar")).unwrap())
}

/// The lines of a first apply on a 4.5+ kernel, as its stock configuration writes them.
fn first_apply_lines(p: &Product, utils: &str, installer: &str) -> Vec<String> {
    let md5 = md5_of_patch(p);
    [
        format!(" FINE {{{utils} processPatches}} - Checking for patch changes ...  "),
        format!(" FINE {{{utils} processPatches}} - New patch available - patch0001  "),
        format!(" INFO {{{installer} perform}} - Patch changes detected  "),
        format!(" INFO {{{utils} applyServicepacksAndPatches}} - Backed up plugins to patch0000  "),
        format!(" FINE {{{utils} applyServicepacksAndPatches}} - Applying patches ...  "),
        format!(" FINE {{{utils} copyServicepacksAndPatches}} - Applying - patch0001  "),
        format!(" FINE {{{utils} copyServicepacksAndPatches}} - Patched a_1.jar(MD5:{md5})  "),
        format!(" INFO {{{utils} checkMD5Checksum}} - Patch verification started  "),
        format!(" INFO {{{utils} checkMD5Checksum}} - Patch verification successfully completed  "),
    ]
    .into_iter()
    .collect()
}

#[test]
fn kernel_4_9_logs_through_java_util_logging_as_its_stock_configuration_says() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path(), "4.9.30", None);
    let out = p.apply(&[]);
    assert_ok(&out);
    let log = fs::read_to_string(p.patches_log()).unwrap();
    assert_eq!(strip_times(&log), first_apply_lines(&p, UTILS, INSTALLER));
    // `%tk`: the hour unpadded; `,%tL`: milliseconds.
    let first = log.lines().next().unwrap();
    let stamp = &first[1..first.find(']').unwrap()];
    let (date, time) = stamp.split_once(' ').unwrap();
    assert_eq!(date.len(), 10, "{stamp}");
    let hour = time.split(':').next().unwrap();
    assert!(!hour.starts_with('0') || hour == "0", "{stamp}");
    assert!(time.contains(','), "{stamp}");
    // The console handler: INFO and above, on standard error; nothing on standard output.
    assert_eq!(stdout(&out), "");
    let console: Vec<String> = strip_times(&stderr(&out))
        .into_iter()
        .filter(|l| l.contains('{'))
        .collect();
    assert_eq!(
        console,
        first_apply_lines(&p, UTILS, INSTALLER)
            .into_iter()
            .filter(|l| l.starts_with(" INFO"))
            .collect::<Vec<_>>()
    );
    // The metadata is the launcher's, whatever the log: a second run finds nothing to do.
    let before = log_len(&p);
    assert_ok(&p.apply(&[]));
    assert_eq!(
        new_log_lines(&p, before),
        vec![
            format!(" FINE {{{UTILS} processPatches}} - Checking for patch changes ...  "),
            format!(" FINE {{{UTILS} processPatches}} - No new patch or service pack detected, server will start without applying patches   "),
            format!(" FINE {{{UTILS} checkMD5Checksum}} - Patch verification started  "),
            format!(" FINE {{{UTILS} checkMD5Checksum}} - Patch verification successfully completed  "),
        ]
    );
}

#[test]
fn verification_warnings_are_one_line_on_the_4_5_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path(), "4.6.0", None);
    assert_ok(&p.apply(&[]));
    write(&p.plugins().join("a_1.jar"), b"changed by hand");
    let before = log_len(&p);
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let shown = p.home.join("repository/logs/patches.log");
    assert_eq!(
        new_log_lines(&p, before),
        vec![
            format!(" FINE {{{UTILS} processPatches}} - Checking for patch changes ...  "),
            format!(" FINE {{{UTILS} processPatches}} - No new patch or service pack detected, server will start without applying patches   "),
            format!(" FINE {{{UTILS} checkMD5Checksum}} - Patch verification started  "),
            format!(" WARNING {{{UTILS} checkMD5Checksum}} - Problems found during patch verification. See below for details:  "),
            format!(" WARNING {{{UTILS} checkMD5Checksum}} - a_1.jar(MD5: {}) has been patched with patch0001, but not applied  ", md5_of_patch(&p)),
            format!(" WARNING {{{UTILS} checkMD5Checksum}} - Patch verification completed with warnings. Please see  {} for more details  ", shown.display()),
        ]
    );
}

#[test]
fn a_customised_configuration_is_followed_format_level_and_three_generations() {
    let bridge = STOCK_BRIDGE
        .replace(
            "java.util.logging.SimpleFormatter.format = [%1$tY-%1$tm-%1$td %1$tk:%1$tM:%1$tS,%1$tL]  %4$s {%2$s} - %5$s %6$s %n",
            "java.util.logging.SimpleFormatter.format = %4$-7s|%3$s|%5$s%n",
        )
        .replace(
            "org.wso2.carbon.server.util.PatchUtils.level = FINE",
            "org.wso2.carbon.server.util.PatchUtils.level = INFO",
        )
        .replace("limit = 50000", "limit = 200")
        .replace("count = 1", "count = 3");
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path(), "4.9.30", Some(&bridge));
    assert_ok(&p.apply(&[]));
    let logs = p.home.join("repository/logs");
    // count 3 and no %g: the generations are patches.log.0, .1, .2.
    let gen =
        |g: u32| fs::read_to_string(logs.join(format!("patches.log.{g}"))).unwrap_or_default();
    assert!(!p.patches_log().exists());
    let all: String = (0..3).rev().map(gen).collect();
    assert_eq!(
        all.lines().collect::<Vec<_>>(),
        vec![
            format!("INFO   |{INSTALLER}|Patch changes detected"),
            format!("INFO   |{UTILS}|Backed up plugins to patch0000"),
            format!("INFO   |{UTILS}|Patch verification started"),
            format!("INFO   |{UTILS}|Patch verification successfully completed"),
        ]
    );
    // Each generation was rotated once it reached 200 bytes, as FileHandler does.
    assert!(gen(1).len() + gen(2).len() > 0, "rotated at least once");
}

#[test]
fn a_patches_log_that_crosses_the_limit_during_a_run_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path(), "4.9.30", None);
    // 49,800 bytes: the limit (50,000) is reached a few records into the run.
    let old = "x".repeat(99) + "\n";
    write(&p.patches_log(), old.repeat(498).as_bytes());
    assert_ok(&p.apply(&[]));
    let log = fs::read_to_string(p.patches_log()).unwrap();
    let expected = first_apply_lines(&p, UTILS, INSTALLER);
    let got = strip_times(&log);
    assert!(!log.contains("xxx"), "count = 1: the file started over");
    assert!(!got.is_empty() && got.len() < expected.len(), "{got:?}");
    // What is left is the tail of the run's lines, after the record that reached the limit.
    assert_eq!(got[..], expected[expected.len() - got.len()..]);
    let mut bytes = 49_800usize;
    let mut kept_from = None;
    for (i, line) in log_lines_as_java_writes(&p).iter().enumerate() {
        bytes += line.len();
        if bytes >= 50_000 {
            kept_from = Some(i + 1);
            break;
        }
    }
    assert_eq!(kept_from, Some(expected.len() - got.len()));
}

/// The run's lines with a timestamp as long as the real ones (for byte counting).
fn log_lines_as_java_writes(p: &Product) -> Vec<String> {
    let log = fs::read_to_string(p.patches_log()).unwrap();
    let stamp_len = log.lines().next().map_or(0, |l| l.find("] ").unwrap() + 2);
    first_apply_lines(p, UTILS, INSTALLER)
        .into_iter()
        .map(|l| format!("{}{l}\n", "s".repeat(stamp_len)))
        .collect()
}

#[test]
fn micro_integrator_dirs_loggers_and_log() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("mi");
    write(
        &home.join("bin/micro-integrator.sh"),
        b"#!/bin/sh\n$JAVACMD \\\n  -Dcarbon.components.dir.path=\"$CARBON_HOME/wso2/components\" \\\n  -Dcarbon.patches.dir.path=\"$CARBON_HOME/patches\" \\\n  -Djava.util.logging.config.file=\"$CARBON_HOME/conf/etc/logging-bridge.properties\" \\\n  org.wso2.micro.integrator.bootstrap.Bootstrap $*\n",
    );
    let bridge = STOCK_BRIDGE
        .replace(
            "org.wso2.carbon.server.util.PatchUtils.level",
            "org.wso2.micro.integrator.server.util.PatchUtils.level",
        )
        .replace(
            "org.wso2.carbon.bootstrap.logging.filters.CarbonLogFilter",
            "org.wso2.micro.integrator.bootstrap.logging.filters.MicroIntegratorLogFilter",
        );
    write(
        &home.join("conf/etc/logging-bridge.properties"),
        bridge.as_bytes(),
    );
    fs::create_dir_all(home.join("repository/logs")).unwrap();
    for b in ["a", "b"] {
        write(
            &home.join(format!("wso2/components/plugins/{b}_1.jar")),
            &bundle_jar(b, "1", "original"),
        );
    }
    let jar = bundle_jar("a", "1", "patched");
    write(&home.join("patches/patch0001/a_1.jar"), &jar);
    let out = run(&["apply", "--carbon-home", home.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(
        fs::read(home.join("wso2/components/plugins/a_1.jar")).unwrap(),
        jar
    );
    assert!(home.join("patches/patch0000/a_1.jar").is_file());
    assert_eq!(
        fs::read_to_string(home.join("patches/.metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\n"
    );
    let log = fs::read_to_string(home.join("repository/logs/patches.log")).unwrap();
    let lines = strip_times(&log);
    assert_eq!(
        lines[0],
        " FINE {org.wso2.micro.integrator.server.util.PatchUtils processPatches} - Checking for patch changes ...  "
    );
    assert!(lines.contains(&" INFO {org.wso2.micro.integrator.server.extensions.PatchInstaller perform} - Patch changes detected  ".to_string()), "{lines:?}");
    // status names the product, its dirs and the file that said each.
    let out = run(&["status", "--json", "--carbon-home", home.to_str().unwrap()]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["product"]["family"], "micro-integrator");
    assert_eq!(status["product"]["log_line"], "java.util.logging");
    assert_eq!(status["product"]["plugins"], "wso2/components/plugins");
    assert_eq!(status["product"]["patches"], "patches");
    let decided = status["product"]["decided_by"].to_string();
    assert!(decided.contains("bin/micro-integrator.sh"), "{decided}");
}

#[test]
fn a_kernel_before_4_4_12_ignores_the_dir_properties_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[("a", "1")]);
    write(
        &p.home.join("lib/org.wso2.carbon.server-4.4.9.jar"),
        &bundle_jar("org.wso2.carbon.server", "4.4.9", "launcher"),
    );
    p.add_patch_jar("patch0001", "a_1.jar", "a", "1", "patched");
    let elsewhere = tmp.path().join("elsewhere");
    let prop = format!("-Dcarbon.patches.dir.path={}", elsewhere.display());
    let out = p.apply(&[&prop]);
    assert_ok(&out);
    assert!(stderr(&out).contains("4.4.12"), "{}", describe(&out));
    assert!(!elsewhere.exists());
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\n"
    );
    // The log4j line, as before: `Patch changes detected ` with its trailing space.
    let log = fs::read_to_string(p.patches_log()).unwrap();
    assert!(log.contains(&format!(
        " INFO {{{INSTALLER}}} -  Patch changes detected \n"
    )));
}
