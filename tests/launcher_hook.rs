//! The launch-script hook (`packaging/launcher`): `install-hook.sh` inserts it into a script
//! shaped like a Carbon 4.4.x `bin/wso2server.sh` (no Java: its "JVM" prints `JVM STARTED` and
//! the `-D` arguments it was given), and the script then runs the real carbon-patcher before the
//! JVM start, with the Carbon properties the JVM gets. Also the hook's handling of every exit
//! status and its argument list, with a stub in place of carbon-patcher.
//!
//! Every script runs under `/bin/sh` with a cleared environment whose `PATH` holds only what the
//! test puts there, so a carbon-patcher installed on the machine is never found by accident.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A stand-in for Carbon 4.4.x's `bin/wso2server.sh`: CARBON_HOME from its own location, the
/// argument loop, `cd "$CARBON_HOME"`, and the `while` loop around the JVM command whose last
/// line holds `org.wso2.carbon.bootstrap.Bootstrap $*`.
const WSO2SERVER_SH: &str = r##"#!/bin/sh
# A stand-in for a Carbon 4.4.x bin/wso2server.sh: the same shape, no Java.
PRG="$0"
PRGDIR=${PRG%/*}

# Only set CARBON_HOME if not already set
[ -z "$CARBON_HOME" ] && CARBON_HOME=`cd "$PRGDIR/.." ; pwd`

fake_java() {
    echo "JVM STARTED"
    for a in "$@"; do
        case $a in -D*) echo "jvm arg: $a" ;; esac
    done
}
JAVACMD=fake_java

# ----- Process the input command ----------------------------------------------
args=""
for c in $*
do
    if [ "$c" = "--stop" ] || [ "$c" = "-stop" ] || [ "$c" = "stop" ]; then
          CMD="stop"
    else
        args="$args $c"
    fi
done

if [ "$CMD" = "stop" ]; then
  echo "stopping"
  exit 0
fi

cd "$CARBON_HOME"

START_EXIT_STATUS=121
status=$START_EXIT_STATUS

#To monitor a Carbon server in remote JMX mode on linux host machines, set the below system property.
#   -Djava.rmi.server.hostname="your.IP.goes.here"

while [ "$status" = "$START_EXIT_STATUS" ]
do
    $JAVACMD \
    -Xms256m -Xmx1024m \
    $JAVA_OPTS \
    -Dcarbon.registry.root=/ \
    -Dcarbon.home="$CARBON_HOME" \
    -DapplyPatches \
    org.wso2.carbon.bootstrap.Bootstrap $*
    status=$?
done
"##;

const BEGIN: &str = "# >>> carbon-patcher hook >>>";
const END: &str = "# <<< carbon-patcher hook <<<";
const BUNDLE_A: (&str, &str) = ("org.example.a", "1.0.0");
const JAR_A: &str = "org.example.a_1.0.0.jar";

fn launcher_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/launcher")
}

fn carbon_patcher() -> String {
    env!("CARGO_BIN_EXE_carbon-patcher").to_string()
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout:\n{}--- stderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_script(path: &Path, text: &str) {
    write(path, text.as_bytes());
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn install(script: &Path, extra: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg(launcher_dir().join("install-hook.sh"))
        .args(extra)
        .arg(script)
        .output()
        .unwrap()
}

fn install_ok(script: &Path, extra: &[&str]) -> String {
    let out = install(script, extra);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    stdout(&out)
}

/// Runs `sh SCRIPT ARGS` as an operator would, with only `env` in the environment; `PATH`
/// defaults to an empty dir.
fn start(script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    let mut c = Command::new("/bin/sh");
    c.arg(script).args(args).env_clear();
    c.env("PATH", empty.path());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The paths that differ between two snapshots (added, removed or changed).
fn changed(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) -> Vec<PathBuf> {
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

fn started(o: &Output) -> bool {
    stdout(o).lines().any(|l| l == "JVM STARTED")
}

/// A product with bundles a and b in `plugins` and the launch script, hook installed.
fn hooked_product(root: &Path) -> (Product, PathBuf) {
    let p = Product::new(root, &[BUNDLE_A, ("org.example.b", "1.0.0")]);
    let script = p.home.join("bin/wso2server.sh");
    write_script(&script, WSO2SERVER_SH);
    install_ok(&script, &[]);
    (p, script)
}

fn patched_a() -> Vec<u8> {
    bundle_jar(BUNDLE_A.0, BUNDLE_A.1, "patched")
}

/// A jar without a manifest: carbon-patcher refuses it.
fn broken_jar() -> Vec<u8> {
    zip_bytes(&[("payload.txt", b"no manifest here")])
}

/// The script without the lines from `BEGIN` to `END`.
fn without_block(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for l in text.split_inclusive('\n') {
        if l.starts_with(BEGIN) {
            inside = true;
        }
        if !inside {
            out.push_str(l);
        }
        if l.starts_with(END) {
            inside = false;
        }
    }
    out
}

/// The block (markers included) of a text.
fn block_of(text: &str) -> String {
    let start = text.find(BEGIN).expect("begin marker");
    let end = start + text[start..].find(END).expect("end marker");
    let eol = end + text[end..].find('\n').unwrap() + 1;
    text[start..eol].to_string()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn scripts_parse_with_sh_n() {
    for f in ["carbon-patcher-hook.sh", "install-hook.sh"] {
        assert_parses("/bin/sh", &launcher_dir().join(f));
    }
}

#[test]
fn install_is_idempotent_keeps_a_backup_and_uninstalls() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    let script = bin.join("wso2server.sh");
    write_script(&script, WSO2SERVER_SH);

    let said = install_ok(&script, &[]);
    assert!(said.contains("hook installed"), "{said}");
    let hooked = fs::read_to_string(&script).unwrap();
    // The block is the hook file's own, once, right before the while loop; nothing else changed.
    let hook_file = fs::read_to_string(launcher_dir().join("carbon-patcher-hook.sh")).unwrap();
    assert_eq!(block_of(&hooked), block_of(&hook_file));
    assert_eq!(hooked.matches(BEGIN).count(), 1);
    assert_eq!(without_block(&hooked), WSO2SERVER_SH);
    let lines: Vec<&str> = hooked.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("while [ \"$status\""))
        .unwrap();
    assert_eq!(lines[at - 1], END);
    assert_eq!(
        fs::read_to_string(bin.join("wso2server.sh.carbon-patcher.bak")).unwrap(),
        WSO2SERVER_SH
    );
    assert_eq!(
        fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_parses("/bin/sh", &script);

    // Again: nothing to do, no second backup.
    let files = dir_names(&bin);
    let said = install_ok(&script, &[]);
    assert!(said.contains("unchanged"), "{said}");
    assert_eq!(fs::read_to_string(&script).unwrap(), hooked);
    assert_eq!(dir_names(&bin), files);

    // An older block is replaced where it is.
    let old = hooked.replace("_cph_rc=0\n", "_cph_rc=0 # an older hook\n");
    assert_ne!(old, hooked);
    fs::write(&script, &old).unwrap();
    install_ok(&script, &[]);
    assert_eq!(fs::read_to_string(&script).unwrap(), hooked);

    // Uninstall gives the original back, byte for byte; twice is harmless.
    let said = install_ok(&script, &["--uninstall"]);
    assert!(said.contains("hook removed"), "{said}");
    assert_eq!(fs::read_to_string(&script).unwrap(), WSO2SERVER_SH);
    assert!(install_ok(&script, &["--uninstall"]).contains("unchanged"));
    assert_eq!(fs::read_to_string(&script).unwrap(), WSO2SERVER_SH);
}

#[test]
fn install_without_a_loop_and_refusal_without_a_jvm_start() {
    let tmp = tempfile::tempdir().unwrap();
    // No while loop: the hook goes before the first line of the (continued) JVM command.
    let script = tmp.path().join("plain.sh");
    let plain = "#!/bin/sh\ncd \"$CARBON_HOME\"\n\nexec $JAVACMD \\\n    -Dcarbon.home=\"$CARBON_HOME\" \\\n    org.wso2.carbon.bootstrap.Bootstrap \"$@\"\n";
    write_script(&script, plain);
    install_ok(&script, &[]);
    let hooked = fs::read_to_string(&script).unwrap();
    assert_eq!(without_block(&hooked), plain);
    let lines: Vec<&str> = hooked.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("exec ")).unwrap();
    assert_eq!(lines[at - 1], END);

    // No JVM start to find: refused, file untouched, no backup.
    let other = tmp.path().join("other.sh");
    write_script(&other, "#!/bin/sh\necho hello\n");
    let out = install(&other, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("org.wso2.carbon.bootstrap.Bootstrap"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        fs::read_to_string(&other).unwrap(),
        "#!/bin/sh\necho hello\n"
    );
    assert!(!tmp.path().join("other.sh.carbon-patcher.bak").exists());
    assert_eq!(
        install(&other, &["--no-such-option"]).status.code(),
        Some(2)
    );
}

#[test]
fn good_patch_is_applied_before_the_jvm_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    p.add_patch_jar("patch0001", JAR_A, BUNDLE_A.0, BUNDLE_A.1, "patched");
    let original = files(&p.plugins());

    let out = start(&script, &[], &[("CARBON_PATCHER", &carbon_patcher())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let (before, after) = text.split_once("JVM STARTED\n").expect("JVM STARTED");
    // carbon-patcher's console lines come first, then the JVM with the script's settings.
    assert!(
        before.contains("Patch verification successfully completed"),
        "{}",
        describe(&out)
    );
    assert!(after.contains(&format!("jvm arg: -Dcarbon.home={}\n", p.home.display())));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\n"
    );
    assert_eq!(fs::read(p.plugins().join(JAR_A)).unwrap(), patched_a());
    assert_eq!(files(&p.backup_dir()), original);

    // Found on PATH this time (CARBON_PATCHER unset): nothing to do, but it ran (patches.log).
    let tools = tmp.path().join("tools");
    fs::create_dir_all(&tools).unwrap();
    std::os::unix::fs::symlink(carbon_patcher(), tools.join("carbon-patcher")).unwrap();
    let log_before = log_len(&p);
    let plugins = files(&p.plugins());
    let out = start(&script, &[], &[("PATH", tools.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert!(log_len(&p) > log_before, "carbon-patcher did not run");
    assert_eq!(files(&p.plugins()), plugins);
}

#[test]
fn carbon_properties_of_arguments_and_java_opts_reach_carbon_patcher() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    let shared = tmp.path().join("shared-patches");
    write(&shared.join("patch0001").join(JAR_A), &patched_a());
    let bad = tmp.path().join("bad-patches");
    write(&bad.join("patch0001/broken.jar"), &broken_jar());
    let arg = format!("-Dcarbon.patches.dir.path={}", shared.display());
    let java_opts_bad = format!("-Xmx64m -Dcarbon.patches.dir.path={}", bad.display());
    let cp = carbon_patcher();

    // The argument wins over $JAVA_OPTS, as in the JVM: the shared dir is applied.
    let out = start(
        &script,
        &[&arg],
        &[("CARBON_PATCHER", &cp), ("JAVA_OPTS", &java_opts_bad)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains(&format!("jvm arg: {arg}\n")));
    assert_eq!(
        fs::read_to_string(shared.join(".metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\n"
    );
    assert!(shared.join("patch0000").join(JAR_A).is_file());
    assert!(!p.metadata().exists());
    assert!(!p.patches().exists());
    assert_eq!(fs::read(p.plugins().join(JAR_A)).unwrap(), patched_a());

    // $JAVA_OPTS alone reaches it too: its patches dir holds a broken jar, and the start stops.
    let home_before = snapshot(&p.home);
    let bad_before = snapshot(&bad);
    let out = start(
        &script,
        &[],
        &[("CARBON_PATCHER", &cp), ("JAVA_OPTS", &java_opts_bad)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!started(&out), "{}", describe(&out));
    assert!(stderr(&out).contains("broken.jar"), "{}", describe(&out));
    assert_eq!(
        changed(&home_before, &snapshot(&p.home)),
        Vec::<PathBuf>::new()
    );
    assert_eq!(changed(&bad_before, &snapshot(&bad)), Vec::<PathBuf>::new());
}

#[test]
fn bad_patch_stops_the_start_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    p.add_patch_jar("patch0001", JAR_A, BUNDLE_A.0, BUNDLE_A.1, "patched");
    write(&p.patches().join("patch0001/broken.jar"), &broken_jar());
    let before = snapshot(&p.home);

    let out = start(&script, &[], &[("CARBON_PATCHER", &carbon_patcher())]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!started(&out), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("carbon-patcher: error:"), "{err}");
    assert!(err.contains("broken.jar"), "{err}");
    assert!(
        err.contains("carbon-patcher-hook: carbon-patcher refused the patches"),
        "{err}"
    );
    assert!(err.contains("Not starting the server"), "{err}");
    assert_eq!(changed(&before, &snapshot(&p.home)), Vec::<PathBuf>::new());
}

#[test]
fn verification_warnings_do_not_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    p.add_patch_jar("patch0001", JAR_A, BUNDLE_A.0, BUNDLE_A.1, "patched");
    let cp = carbon_patcher();
    let out = start(&script, &[], &[("CARBON_PATCHER", &cp)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // The patched bundle overwritten by hand: carbon-patcher's verification warns (exit 3).
    p.add_plugin(BUNDLE_A.0, BUNDLE_A.1, "by hand");
    let out = start(&script, &[], &[("CARBON_PATCHER", &cp)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert!(
        stderr(&out).contains("patch verification completed with warnings"),
        "{}",
        describe(&out)
    );
    assert_eq!(p.apply(&["--quiet"]).status.code(), Some(3));
}

#[test]
fn missing_carbon_patcher_warns_and_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    p.add_patch_jar("patch0001", JAR_A, BUNDLE_A.0, BUNDLE_A.1, "patched");
    let before = snapshot(&p.home);

    // Not on PATH, CARBON_PATCHER unset.
    let out = start(&script, &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert!(
        stderr(&out).contains("warning: carbon-patcher not found"),
        "{}",
        describe(&out)
    );

    // CARBON_PATCHER naming a file that is not there.
    let gone = tmp.path().join("no/such/carbon-patcher");
    let out = start(&script, &[], &[("CARBON_PATCHER", gone.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("warning: {} not found", gone.display())),
        "{}",
        describe(&out)
    );
    assert_eq!(changed(&before, &snapshot(&p.home)), Vec::<PathBuf>::new());
}

#[test]
fn a_running_server_for_this_home_stops_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    p.add_patch_jar("patch0001", JAR_A, BUNDLE_A.0, BUNDLE_A.1, "patched");
    // A live process whose command line carries this home's -Dcarbon.home, named by the pid
    // file: a server of this home (the trailing `:` keeps sh from exec'ing sleep).
    let mut server = Command::new("/bin/sh")
        .args([
            "-c",
            "sleep 30; :",
            &format!("-Dcarbon.home={}", p.home.display()),
        ])
        .spawn()
        .unwrap();
    write(
        &p.home.join("wso2carbon.pid"),
        format!("{}\n", server.id()).as_bytes(),
    );
    let before = snapshot(&p.home);
    let out = start(&script, &[], &[("CARBON_PATCHER", &carbon_patcher())]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!started(&out), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is already running"),
        "{}",
        describe(&out)
    );
    assert_eq!(changed(&before, &snapshot(&p.home)), Vec::<PathBuf>::new());

    // The server gone (the pid file left behind, stale): the start goes on and applies.
    let out = start(&script, &[], &[("CARBON_PATCHER", &carbon_patcher())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert_eq!(fs::read(p.plugins().join(JAR_A)).unwrap(), patched_a());
}

/// A stand-in for carbon-patcher: writes its arguments, one a line, to $STUB_ARGS and exits
/// with $STUB_RC.
const STUB: &str = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >\"$STUB_ARGS\"\nexit \"$STUB_RC\"\n";

#[test]
fn exit_statuses_and_the_argument_list() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, script) = hooked_product(tmp.path());
    let stub = tmp.path().join("stub/carbon-patcher");
    write_script(&stub, STUB);
    let args_file = tmp.path().join("args");
    let run = |rc: &str, args: &[&str], extra: &[(&str, &str)]| {
        let _ = fs::remove_file(&args_file);
        let mut env = vec![
            ("CARBON_PATCHER", stub.to_str().unwrap()),
            ("STUB_ARGS", args_file.to_str().unwrap()),
            ("STUB_RC", rc),
        ];
        env.extend_from_slice(extra);
        start(&script, args, &env)
    };

    // What carbon-patcher gets: the carbon.* -D words of $JAVA_OPTS, carbon.home, the carbon.*
    // -D arguments of the script (kept whole), then $CARBON_PATCHER_OPTS. The JVM still gets
    // every argument: the hook leaves the script's own positional parameters alone.
    let out = run(
        "0",
        &[
            "-Dcarbon.patches.dir.path=/with space/p",
            "-Dother.prop=1",
            "-Dcarbon.servicepacks.dir.path=/sp",
            "-DosgiConsole",
            "-Dcarbon.flag",
        ],
        &[
            ("JAVA_OPTS", "-Xmx64m -Dcarbon.repository=/r -Dfoo=bar"),
            ("CARBON_PATCHER_OPTS", "--quiet --lock-timeout 5"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let home = format!("-Dcarbon.home={}", p.home.display());
    assert_eq!(
        fs::read_to_string(&args_file)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            "apply",
            "-Dcarbon.repository=/r",
            home.as_str(),
            "-Dcarbon.patches.dir.path=/with space/p",
            "-Dcarbon.servicepacks.dir.path=/sp",
            "--quiet",
            "--lock-timeout",
            "5",
        ]
    );
    let text = stdout(&out);
    for jvm_arg in [
        "-Dother.prop=1",
        "-DosgiConsole",
        "-Dcarbon.flag",
        "-Dfoo=bar",
    ] {
        assert!(
            text.contains(&format!("jvm arg: {jvm_arg}\n")),
            "{jvm_arg}: {text}"
        );
    }

    // 0 and 3 start; everything else stops the start with exit 1 and says why.
    for (rc, starts, says) in [
        ("0", true, ""),
        ("3", true, "completed with warnings"),
        ("1", false, "refused the patches"),
        ("4", false, "another carbon-patcher is working on"),
        ("5", false, "is already running"),
        ("2", false, "failed with exit status 2"),
        ("101", false, "failed with exit status 101"),
    ] {
        let out = run(rc, &[], &[]);
        assert!(args_file.exists(), "{rc}: the stub did not run");
        assert_eq!(started(&out), starts, "{rc}: {}", describe(&out));
        assert_eq!(
            out.status.code(),
            Some(if starts { 0 } else { 1 }),
            "{rc}: {}",
            describe(&out)
        );
        assert!(stderr(&out).contains(says), "{rc}: {}", describe(&out));
    }

    // CARBON_PATCHER_HOOK=off: not run at all.
    let out = run("1", &[], &[("CARBON_PATCHER_HOOK", "off")]);
    assert!(started(&out), "{}", describe(&out));
    assert!(!args_file.exists());
    assert!(stderr(&out).contains("CARBON_PATCHER_HOOK=off"));
}

#[test]
fn sourcing_the_hook_file_works_like_the_pasted_block() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Product::new(tmp.path(), &[BUNDLE_A]);
    let script = p.home.join("bin/wso2server.sh");
    let sourced = WSO2SERVER_SH.replace(
        "while [ \"$status\"",
        ". \"$CARBON_HOME/bin/carbon-patcher-hook.sh\"\n\nwhile [ \"$status\"",
    );
    write_script(&script, &sourced);
    fs::copy(
        launcher_dir().join("carbon-patcher-hook.sh"),
        p.home.join("bin/carbon-patcher-hook.sh"),
    )
    .unwrap();
    let stub = tmp.path().join("stub/carbon-patcher");
    write_script(&stub, STUB);
    let args_file = tmp.path().join("args");
    let env = |rc| {
        [
            ("CARBON_PATCHER", stub.to_str().unwrap()),
            ("STUB_ARGS", args_file.to_str().unwrap()),
            ("STUB_RC", rc),
        ]
    };
    let out = start(&script, &["-Dcarbon.patches.dir.path=/p"], &env("0"));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert_eq!(
        fs::read_to_string(&args_file).unwrap(),
        format!(
            "apply\n-Dcarbon.home={}\n-Dcarbon.patches.dir.path=/p\n",
            p.home.display()
        )
    );
    let out = start(&script, &[], &env("1"));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!started(&out), "{}", describe(&out));
}

/// Micro Integrator: the hook goes into `bin/micro-integrator.sh` before its JVM loop
/// (`org.wso2.micro.integrator.bootstrap.Bootstrap`), and carbon-patcher finds the dirs from that
/// script's own `-Dcarbon.*` switches: a pending patch lands in `wso2/components/plugins`, its
/// metadata under `patches/.metadata`, before the JVM starts.
#[test]
fn micro_integrator_script_is_hooked_and_its_dirs_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("mi");
    let script = home.join("bin/micro-integrator.sh");
    let text = WSO2SERVER_SH
        .replace(
            "    -Dcarbon.home=\"$CARBON_HOME\" \\\n",
            "    -Dcarbon.home=\"$CARBON_HOME\" \\\n    -Dcarbon.components.dir.path=\"$CARBON_HOME/wso2/components\" \\\n    -Dcarbon.patches.dir.path=\"$CARBON_HOME/patches\" \\\n    -Djava.util.logging.config.file=\"$CARBON_HOME/conf/etc/logging-bridge.properties\" \\\n",
        )
        .replace(
            "org.wso2.carbon.bootstrap.Bootstrap",
            "org.wso2.micro.integrator.bootstrap.Bootstrap",
        );
    write_script(&script, &text);
    install_ok(&script, &[]);
    let plugins = home.join("wso2/components/plugins");
    write(
        &plugins.join(JAR_A),
        &bundle_jar(BUNDLE_A.0, BUNDLE_A.1, "original"),
    );
    write(&home.join("patches/patch0001").join(JAR_A), &patched_a());
    fs::create_dir_all(home.join("repository/logs")).unwrap();

    let out = start(&script, &[], &[("CARBON_PATCHER", &carbon_patcher())]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(started(&out), "{}", describe(&out));
    assert_eq!(fs::read(plugins.join(JAR_A)).unwrap(), patched_a());
    assert_eq!(
        fs::read_to_string(home.join("patches/.metadata/prePatchedDir.txt")).unwrap(),
        "patch0000\npatch0001\n"
    );
    // Micro Integrator's loggers, in java.util.logging's form (its configuration file is
    // missing here, so the JDK's defaults apply: the console only, on standard error).
    assert!(
        stderr(&out).contains("org.wso2.micro.integrator.server.extensions.PatchInstaller perform"),
        "{}",
        describe(&out)
    );
}
