//! `packaging/install.sh`, the install for hosts without dpkg, run against temp prefixes with the
//! built binary: the files and their modes, the unit pointed at this prefix, a second run that
//! changes nothing, an edited configuration kept (on reinstall and on uninstall), an upgrade that
//! drops a file the new version no longer has, and `--uninstall` leaving nothing else behind.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{assert_parses, describe};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/install.sh")
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_carbon-patcher")
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap()
}

fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What says a path was (re)written: is a dir, mode, inode, mtime (s, ns), bytes.
type Entry = (bool, u32, u64, i64, i64, Vec<u8>);

/// Every path under `root` with its [`Entry`].
fn state(root: &Path) -> BTreeMap<PathBuf, Entry> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let md = fs::symlink_metadata(e.path()).unwrap();
            let bytes = if md.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                (
                    md.is_dir(),
                    md.permissions().mode() & 0o7777,
                    md.ino(),
                    md.mtime(),
                    md.mtime_nsec(),
                    bytes,
                ),
            )
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The files (not dirs) under `root`, relative.
fn files(root: &Path) -> Vec<PathBuf> {
    state(root)
        .into_iter()
        .filter(|(_, s)| !s.0)
        .map(|(p, _)| p)
        .collect()
}

/// The man pages the binary writes: carbon-patcher.1 and one per command.
fn expected_pages() -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["man", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let mut v: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| format!("{}.gz", e.unwrap().file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn script_parses() {
    assert_parses("bash", &script());
}

#[test]
fn install_is_complete_idempotent_keeps_an_edited_config_and_uninstalls() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let prefix = root.join("usr");
    let etc = root.join("etc");
    let args = [
        "--prefix",
        prefix.to_str().unwrap(),
        "--sysconfdir",
        etc.to_str().unwrap(),
        "--binary",
        binary(),
    ];
    let said = run_ok(&args);
    assert!(said.contains("run 'systemctl daemon-reload'"), "{said}");

    // The files, with their modes.
    let bin = prefix.join("bin/carbon-patcher");
    assert_eq!(fs::read(&bin).unwrap(), fs::read(binary()).unwrap());
    assert_eq!(mode(&bin), 0o755);
    let unit = prefix.join("lib/systemd/system/carbon-patcher@.service");
    assert_eq!(mode(&unit), 0o644);
    // The unit runs this prefix's binary with this sysconfdir's configuration.
    let unit_text = fs::read_to_string(&unit).unwrap();
    let exec = format!(
        "ExecStart={} watch --config {}/carbon-patcher/%i.toml\n",
        bin.display(),
        etc.display()
    );
    assert!(unit_text.contains(&exec), "{unit_text}");
    assert!(!unit_text.contains("=/usr/bin/"), "{unit_text}");
    let config = etc.join("carbon-patcher/example.toml");
    let shipped =
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/example.toml"))
            .unwrap();
    assert_eq!(fs::read(&config).unwrap(), shipped);
    assert_eq!(mode(&config), 0o644);
    let dropin = prefix.join("share/doc/carbon-patcher/examples/carbon-server-dropin.conf");
    assert!(fs::read_to_string(&dropin)
        .unwrap()
        .contains(&format!("{} apply", bin.display())));
    for f in [
        "share/doc/carbon-patcher/README.md",
        "share/doc/carbon-patcher/examples/example.toml",
        "share/carbon-patcher/launcher/carbon-patcher-hook.sh",
        "share/carbon-patcher/launcher/README.md",
        "share/bash-completion/completions/carbon-patcher",
        "share/zsh/site-functions/_carbon-patcher",
        "share/fish/vendor_completions.d/carbon-patcher.fish",
    ] {
        let p = prefix.join(f);
        assert_eq!(mode(&p), 0o644, "{f}");
        assert!(fs::metadata(&p).unwrap().len() > 0, "{f} is empty");
    }
    assert_eq!(
        mode(&prefix.join("share/carbon-patcher/launcher/install-hook.sh")),
        0o755
    );
    assert_parses(
        "bash",
        &prefix.join("share/bash-completion/completions/carbon-patcher"),
    );

    // One gzipped page per page the binary writes, each gunzipping to that page.
    let man1 = prefix.join("share/man/man1");
    let mut pages: Vec<String> = fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(pages, expected_pages());
    assert!(pages.contains(&"carbon-patcher-apply.1.gz".to_string()));
    for page in &pages {
        let p = man1.join(page);
        assert_eq!(mode(&p), 0o644, "{page}");
        let out = Command::new("gzip").arg("-dc").arg(&p).output().unwrap();
        assert!(out.status.success(), "{page}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(".TH"),
            "{page} is not a man page"
        );
    }

    // Again: nothing written, not even a time stamp.
    let before = state(&root);
    let said = run_ok(&args);
    assert!(said.contains("nothing changed"), "{said}");
    assert_eq!(state(&root), before);

    // An edited configuration is kept; the new example goes beside it, once.
    let edited = [shipped.as_slice(), b"\n# edited by the operator\n"].concat();
    fs::write(&config, &edited).unwrap();
    let said = run_ok(&args);
    assert!(said.contains("kept"), "{said}");
    assert_eq!(fs::read(&config).unwrap(), edited);
    let dot_new = etc.join("carbon-patcher/example.toml.new");
    assert_eq!(fs::read(&dot_new).unwrap(), shipped);
    let before = state(&root);
    assert!(run_ok(&args).contains("nothing changed"));
    assert_eq!(state(&root), before);

    // The operator's own instance configuration is not ours.
    let own = etc.join("carbon-patcher/wso2am.toml");
    fs::write(&own, "carbon_home = \"/opt/wso2am\"\n").unwrap();

    // Uninstall: everything installed goes, the edited config and the operator's file stay.
    let said = run_ok(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert!(said.contains("kept"), "{said}");
    assert_eq!(
        files(&root),
        vec![
            PathBuf::from("etc/carbon-patcher/example.toml"),
            PathBuf::from("etc/carbon-patcher/wso2am.toml"),
        ]
    );
    assert_eq!(fs::read(&config).unwrap(), edited);
    assert!(!prefix.exists(), "the dirs the install created are removed");
    // Twice: nothing to do.
    let said = run_ok(&["--prefix", prefix.to_str().unwrap(), "--uninstall"]);
    assert!(said.contains("nothing to uninstall"), "{said}");
}

#[test]
fn staged_install_upgrade_and_clean_uninstall() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("stage");
    let args = ["--prefix", "/usr", "--destdir", dest.to_str().unwrap()];
    fn with_bin<'a>(args: &[&'a str], b: &'a str) -> Vec<&'a str> {
        [args, &["--binary", b]].concat()
    }
    run_ok(&with_bin(&args, binary()));
    // Paths inside the files are the real ones, without the staging root.
    let unit =
        fs::read_to_string(dest.join("usr/lib/systemd/system/carbon-patcher@.service")).unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/bin/carbon-patcher watch --config /etc/carbon-patcher/%i.toml\n"
    ));
    assert!(dest.join("etc/carbon-patcher/example.toml").is_file());
    let manifest = dest.join("usr/share/carbon-patcher/install-manifest");
    let text = fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("\t755\t/usr/bin/carbon-patcher\n"), "{text}");
    assert!(!text.contains(dest.to_str().unwrap()), "{text}");

    // An upgrade: a new binary replaces the old one by rename (a running one keeps its file),
    // and a page an older version installed, which this one does not write, goes.
    let bin = dest.join("usr/bin/carbon-patcher");
    let old_ino = fs::metadata(&bin).unwrap().ino();
    let newer = tmp.path().join("carbon-patcher");
    // Bytes after the end of an ELF file are ignored: a different file that still runs.
    fs::write(
        &newer,
        [fs::read(binary()).unwrap(), b"v2".to_vec()].concat(),
    )
    .unwrap();
    fs::set_permissions(&newer, fs::Permissions::from_mode(0o755)).unwrap();
    let stale = "/usr/share/man/man1/carbon-patcher-gone.1.gz";
    fs::write(dest.join(&stale[1..]), b"old page").unwrap();
    fs::write(
        &manifest,
        format!(
            "{text}file\t{}\t644\t{stale}\n",
            "0".repeat(64) // not checked for anything but the configuration
        ),
    )
    .unwrap();
    let said = run_ok(&with_bin(&args, newer.to_str().unwrap()));
    assert!(said.contains("installed /usr/bin/carbon-patcher"), "{said}");
    assert!(said.contains(&format!("removed {stale}")), "{said}");
    assert!(!dest.join(&stale[1..]).exists());
    assert_ne!(fs::metadata(&bin).unwrap().ino(), old_ino);
    assert_eq!(fs::read(&bin).unwrap(), fs::read(&newer).unwrap());
    // The config was not edited: an upgrade may replace it, and uninstall removes it.
    run_ok(&[&args[..], &["--uninstall"]].concat());
    assert_eq!(files(&dest), Vec::<PathBuf>::new());
    assert_eq!(
        fs::read_dir(&dest).unwrap().count(),
        0,
        "only the staging root is left"
    );
}

#[test]
fn bad_usage_and_missing_binary() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(run(&["--no-such-option"]).status.code(), Some(2));
    assert_eq!(run(&["--prefix"]).status.code(), Some(2));
    let out = run(&["--prefix", "relative/dir"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let missing = tmp.path().join("no-such-binary");
    let prefix = tmp.path().join("p");
    let out = run(&[
        "--prefix",
        prefix.to_str().unwrap(),
        "--binary",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-binary"));
    assert!(!prefix.exists(), "nothing written");
}
