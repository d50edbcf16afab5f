//! `install`: zips as WSO2 ships them and plain dirs, checksums, hostile and corrupt zips,
//! idempotence and `--replace`, `--apply` and a running server. Every refusal leaves the whole
//! tree (the product and what is beside it) as it was.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use zip::write::SimpleFileOptions;

fn product(root: &Path) -> Product {
    Product::new(root, &[("a", "1"), ("b", "1"), ("c", "1")])
}

fn install(p: &Product, args: &[&str]) -> Output {
    p.cmd("install", args)
}

/// Writes a zip of `entries` at `path`.
fn write_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    write(path, &zip_bytes(&refs));
}

/// A patch zip in the WSO2 layout: a wrapper dir holding README, LICENSE and `patch0001/`
/// with a new `a` bundle.
fn wso2_patch_zip(path: &Path, payload: &str) {
    write_zip(
        path,
        &[
            (
                "WSO2-CARBON-PATCH-4.4.0-0001/README.txt",
                b"read me".to_vec(),
            ),
            (
                "WSO2-CARBON-PATCH-4.4.0-0001/LICENSE.txt",
                b"license".to_vec(),
            ),
            (
                "WSO2-CARBON-PATCH-4.4.0-0001/patch0001/a-patched.jar",
                bundle_jar("a", "1", payload),
            ),
        ],
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Our private names left in `dir`.
fn dot_names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".carbon-patcher"))
                .collect()
        })
        .unwrap_or_default()
}

fn plugin(p: &Product, name: &str) -> Vec<u8> {
    fs::read(p.plugins().join(name)).unwrap()
}

#[test]
fn wrong_md5_or_sha256_is_refused_before_anything_is_extracted() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "new");
    let bytes = fs::read(&zip).unwrap();
    let zip_arg = zip.to_str().unwrap();
    let sums = tmp.path().join("sums");
    let before = snapshot(tmp.path());

    let wrong_md5 = "0".repeat(32);
    write(
        &sums,
        format!("{wrong_md5}  WSO2-CARBON-PATCH-4.4.0-0001.zip\n").as_bytes(),
    );
    let before_sums = snapshot(tmp.path());
    let out = install(&p, &[zip_arg, "--md5", sums.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("MD5 mismatch"), "{err}");
    assert!(
        err.contains(&wrong_md5) && err.contains(&md5_hex(&bytes)),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before_sums);

    let wrong_sha = "f".repeat(64);
    write(
        &sums,
        format!("{wrong_sha} *WSO2-CARBON-PATCH-4.4.0-0001.zip\n").as_bytes(),
    );
    let before_sums = snapshot(tmp.path());
    let out = install(&p, &[zip_arg, "--sha256", sums.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    assert!(
        err.contains(&wrong_sha) && err.contains(&sha256_hex(&bytes)),
        "{err}"
    );
    assert_eq!(snapshot(tmp.path()), before_sums);

    // Both at once is a usage error.
    let out = install(
        &p,
        &[zip_arg, "--md5", "x", "--sha256", sums.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    fs::remove_file(&sums).unwrap();
    assert_eq!(snapshot(tmp.path()), before);

    // The right sums, in a file naming several zips, or as a single bare line.
    write(
        &sums,
        format!(
            "{}  other.zip\n{}  WSO2-CARBON-PATCH-4.4.0-0001.zip\n",
            "1".repeat(64),
            sha256_hex(&bytes)
        )
        .as_bytes(),
    );
    let out = install(&p, &[zip_arg, "--sha256", sums.to_str().unwrap()]);
    assert_ok(&out);
    write(&sums, format!("{}\n", md5_hex(&bytes)).as_bytes());
    let out = install(&p, &[zip_arg, "--md5", sums.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "already installed: patch0001\n");
}

#[test]
fn checksum_files_as_coreutils_writes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let sums = tmp.path().join("sums");
    // `md5sum < f.zip`: the one line names standard input, `-`; it is the zip's sum.
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "new");
    let md5 = md5_hex(&fs::read(&zip).unwrap());
    write(&sums, format!("{md5}  -\n").as_bytes());
    let out = install(
        &p,
        &[zip.to_str().unwrap(), "--md5", sums.to_str().unwrap()],
    );
    assert_ok(&out);
    assert!(stdout(&out).starts_with("installed: patch0001 -> "));

    // A name with a backslash or a line break: coreutils starts the line with `\` and escapes
    // them (`md5sum`, and `md5sum --tag`).
    for (file, line) in [
        ("dl/a\\b.zip", format!("\\{md5}  a\\\\b.zip\n")),
        ("dl/c\nd.zip", format!("\\{md5}  c\\nd.zip\n")),
        ("dl/e\\f.zip", format!("\\MD5 (e\\\\f.zip) = {md5}\n")),
    ] {
        let zip_copy = tmp.path().join(file);
        write(&zip_copy, &fs::read(&zip).unwrap());
        write(
            &sums,
            format!("{}  other.zip\n{line}", "1".repeat(32)).as_bytes(),
        );
        let out = install(
            &p,
            &[zip_copy.to_str().unwrap(), "--md5", sums.to_str().unwrap()],
        );
        assert_ok(&out);
        assert_eq!(stdout(&out), "already installed: patch0001\n", "{file:?}");
    }
}

#[test]
fn an_endless_checksum_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "new");
    let before = snapshot(tmp.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_carbon-patcher"))
        .args(["install", "--carbon-home", p.home.to_str().unwrap()])
        .args([zip.to_str().unwrap(), "--md5", "/dev/zero"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still reading /dev/zero after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("/dev/zero") && err.contains("1 MiB"), "{err}");
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn escaping_entries_are_refused_and_nothing_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let jar = bundle_jar("a", "1", "new");
    let escaped_abs = tmp.path().join("escaped-absolute.jar");
    let zips: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot.zip",
            zip_bytes(&[
                ("patch0001/a.jar", &jar),
                ("patch0001/../../../../escaped-dotdot.jar", &jar),
            ]),
        ),
        (
            "wrapped-dotdot.zip",
            zip_bytes(&[
                ("w/patch0001/a.jar", &jar),
                ("w/patch0001/../../escaped.jar", &jar),
            ]),
        ),
        (
            "absolute.zip",
            zip_bytes(&[
                ("patch0001/a.jar", &jar),
                (escaped_abs.to_str().unwrap(), &jar),
            ]),
        ),
        ("symlink.zip", {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let o = SimpleFileOptions::default();
            w.start_file("patch0001/a.jar", o).unwrap();
            w.write_all(&jar).unwrap();
            w.add_symlink("patch0001/b.jar", "../../../../../escaped-link", o)
                .unwrap();
            w.finish().unwrap().into_inner()
        }),
    ];
    for (name, bytes) in &zips {
        write(&tmp.path().join(name), bytes);
    }
    let before = snapshot(tmp.path());
    for (name, _) in &zips {
        let zip = tmp.path().join(name);
        let out = install(&p, &[zip.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("refused"), "{name}: {}", stderr(&out));
        assert_eq!(snapshot(tmp.path()), before, "{name}");
    }
    // Above the temp dir too: nothing landed next to it.
    let parent = tmp.path().parent().unwrap();
    for n in ["escaped-dotdot.jar", "escaped.jar", "escaped-link"] {
        assert!(!parent.join(n).exists(), "{n}");
    }
    assert!(!escaped_abs.exists());
    assert!(!p.patches().exists());
}

/// A jar whose payload entry is stored, one payload byte flipped: only its CRC tells.
fn jar_with_bad_crc() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("META-INF/MANIFEST.MF", stored).unwrap();
    w.write_all(b"Bundle-SymbolicName: a\nBundle-Version: 1\n")
        .unwrap();
    w.start_file("data.bin", stored).unwrap();
    w.write_all(b"PAYLOAD-PAYLOAD-PAYLOAD").unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    let at = bytes.windows(7).position(|w| w == b"PAYLOAD").unwrap();
    bytes[at] = b'X';
    bytes
}

#[test]
fn corrupt_jar_or_zip_is_refused_and_nothing_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    fs::create_dir_all(p.patches()).unwrap();
    let bad_jar = tmp.path().join("bad-jar.zip");
    write_zip(
        &bad_jar,
        &[
            ("patch0001/good.jar", bundle_jar("b", "1", "new")),
            ("patch0001/broken.jar", jar_with_bad_crc()),
        ],
    );
    // The zip itself damaged: a stored entry whose bytes no longer match its CRC.
    let bad_zip = tmp.path().join("bad-zip.zip");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("patch0001/notes.txt", stored).unwrap();
    w.write_all(b"NOTES-NOTES-NOTES").unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    let at = bytes.windows(5).position(|w| w == b"NOTES").unwrap();
    bytes[at] = b'X';
    write(&bad_zip, &bytes);

    let before = snapshot(tmp.path());
    let out = install(&p, &[bad_jar.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("broken.jar"), "{err}");
    // Named as the operator knows it, not by our private staging name.
    assert!(err.contains("bad-jar.zip!/patch0001/broken.jar"), "{err}");
    assert!(!err.contains(".carbon-patcher-tmp"), "{err}");
    assert_eq!(snapshot(tmp.path()), before);
    assert!(dot_names(&p.patches()).is_empty());

    let out = install(&p, &[bad_zip.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("notes.txt"), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);
    assert!(dot_names(&p.patches()).is_empty());
}

#[test]
fn zip_with_top_dir_installs_then_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("patch0001.zip");
    write_zip(
        &zip,
        &[
            ("patch0001/", Vec::new()),
            ("patch0001/a-patched.jar", bundle_jar("a", "1", "new")),
        ],
    );
    let out = install(&p, &[zip.to_str().unwrap()]);
    assert_ok(&out);
    let target = p.patches().join("patch0001");
    assert_eq!(
        stdout(&out),
        format!("installed: patch0001 -> {}\n", target.display())
    );
    assert_eq!(
        files(&target).keys().collect::<Vec<_>>(),
        vec![Path::new("a-patched.jar")]
    );
    // Installed, not applied.
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "original"));
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "new"));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\n"
    );
    assert!(dot_names(&p.patches()).is_empty());
}

#[test]
fn wso2_zip_with_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "new");
    let out = install(&p, &[zip.to_str().unwrap(), "--apply", "--quiet"]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("installed: patch0001 -> "));
    // Only the patch dir, not the wrapper's README and LICENSE.
    assert_eq!(
        files(&p.patches().join("patch0001"))
            .keys()
            .collect::<Vec<_>>(),
        vec![Path::new("a-patched.jar")]
    );
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "new"));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "patch0000\npatch0001\n"
    );
    // The launcher, run now, would find nothing to do.
    let before = log_len(&p);
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(new_log_lines(&p, before), NO_CHANGE_LOG);
}

#[test]
fn servicepack_zip_installs_into_the_service_packs_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-SERVICEPACK-4.4.0-0001.zip");
    write_zip(
        &zip,
        &[
            (
                "WSO2-CARBON-SERVICEPACK-4.4.0-0001/README.txt",
                b"x".to_vec(),
            ),
            (
                "WSO2-CARBON-SERVICEPACK-4.4.0-0001/servicepack001/lib/b.jar",
                bundle_jar("b", "1", "sp"),
            ),
            (
                "WSO2-CARBON-SERVICEPACK-4.4.0-0001/servicepack001/servicepack_patches.txt",
                b"patch0001\n".to_vec(),
            ),
        ],
    );
    assert!(!p.servicepacks().exists());
    let out = install(&p, &[zip.to_str().unwrap(), "--apply", "--quiet"]);
    assert_ok(&out);
    let target = p.servicepacks().join("servicepack001");
    assert_eq!(
        stdout(&out),
        format!("installed: servicepack001 -> {}\n", target.display())
    );
    assert_eq!(plugin(&p, "b_1.jar"), bundle_jar("b", "1", "sp"));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\n"
    );

    // A service pack without its list is refused, and the service-packs dir is left as it was.
    let bad = tmp.path().join("servicepack002.zip");
    write_zip(
        &bad,
        &[("servicepack002/lib/c.jar", bundle_jar("c", "1", "sp"))],
    );
    let before = snapshot(tmp.path());
    let out = install(&p, &[bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("servicepack_patches.txt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn plain_dir_source() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let src = tmp.path().join("downloads/patch0002");
    write(&src.join("c.jar"), &bundle_jar("c", "1", "new"));
    let src_before = snapshot(&src);
    let out = install(&p, &[src.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(
        snapshot(&src),
        src_before,
        "the source is copied, not moved"
    );
    assert_eq!(
        files(&p.patches().join("patch0002")),
        files(&src),
        "same files, same bytes"
    );
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "new"));

    // Names that are neither a patch nor a service pack, and patch0000, are refused.
    for bad in ["downloads/patches", "downloads/patch0000"] {
        let dir = tmp.path().join(bad);
        write(&dir.join("x.jar"), &bundle_jar("x", "1", "x"));
        let before = snapshot(tmp.path());
        let out = install(&p, &[dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(snapshot(tmp.path()), before, "{bad}");
    }
    // A checksum checks a zip, not a dir.
    let out = install(&p, &[src.to_str().unwrap(), "--md5", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn links_in_a_dir_source_are_followed_only_with_follow_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let store = tmp.path().join("store");
    write(&store.join("c-new.jar"), &bundle_jar("c", "1", "new"));
    let src = tmp.path().join("dl/patch0002");
    fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(store.join("c-new.jar"), src.join("c.jar")).unwrap();
    // The source itself a link, to a dir holding one.
    std::os::unix::fs::symlink(&src, tmp.path().join("dl/patch0003")).unwrap();
    let linked = tmp.path().join("dl/patch0003");

    let before = snapshot(tmp.path());
    for source in [&src, &linked] {
        let out = install(&p, &[source.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("symbolic link") && err.contains("--follow-symlinks"),
            "{err}"
        );
        assert_eq!(snapshot(tmp.path()), before);
    }

    let out = install(
        &p,
        &[
            src.to_str().unwrap(),
            "--follow-symlinks",
            "--apply",
            "--quiet",
        ],
    );
    assert_ok(&out);
    // What the link points to is copied: a regular file, no link into the product.
    let copied = p.patches().join("patch0002/c.jar");
    assert!(fs::symlink_metadata(&copied).unwrap().is_file());
    assert_eq!(fs::read(&copied).unwrap(), bundle_jar("c", "1", "new"));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "new"));
    let out = install(&p, &[linked.to_str().unwrap(), "--follow-symlinks"]);
    assert_ok(&out);
    assert!(fs::symlink_metadata(p.patches().join("patch0003"))
        .unwrap()
        .is_dir());

    // A link back to a dir it is in is refused, and nothing is left.
    let looped = tmp.path().join("dl/patch0004");
    write(&looped.join("a.jar"), &bundle_jar("a", "1", "x"));
    std::os::unix::fs::symlink(&looped, looped.join("again")).unwrap();
    let before = snapshot(tmp.path());
    let out = install(&p, &[looped.to_str().unwrap(), "--follow-symlinks"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("loop"), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn same_zip_twice_changes_nothing_and_other_content_needs_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "v1");
    assert_ok(&install(&p, &[zip.to_str().unwrap(), "--apply", "--quiet"]));

    let before = snapshot(tmp.path());
    let out = install(&p, &[zip.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "already installed: patch0001\n");
    assert_eq!(snapshot(tmp.path()), before);
    // With --apply on an up-to-date product: still nothing changes, not even patches.log.
    let out = install(&p, &[zip.to_str().unwrap(), "--apply", "--quiet"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "already installed: patch0001\n");
    assert_eq!(snapshot(tmp.path()), before);

    // Other content under the same name: refused without --replace.
    let v2 = tmp.path().join("v2/WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&v2, "v2");
    let before = snapshot(tmp.path());
    let out = install(&p, &[v2.to_str().unwrap(), "--apply"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);

    // With --replace: swapped, the old copy gone.
    let out = install(
        &p,
        &[v2.to_str().unwrap(), "--replace", "--apply", "--quiet"],
    );
    assert_ok(&out);
    assert!(stdout(&out).starts_with("installed: patch0001 -> "));
    assert_eq!(
        fs::read(p.patches().join("patch0001/a-patched.jar")).unwrap(),
        bundle_jar("a", "1", "v2")
    );
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "v2"));
    assert!(dot_names(&p.patches()).is_empty());
}

#[test]
fn a_patch_the_product_cannot_plan_with_is_taken_back_out() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // A directory in plugins where the patch's jar would land: each is fine alone, together
    // the plan refuses them.
    fs::create_dir_all(p.plugins().join("d_1.jar")).unwrap();
    fs::create_dir_all(p.patches()).unwrap();
    let zip = tmp.path().join("patch0003.zip");
    write_zip(&zip, &[("patch0003/d.jar", bundle_jar("d", "1", "new"))]);
    let before = snapshot(tmp.path());
    let out = install(&p, &[zip.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("taken back out"), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn a_product_broken_before_keeps_a_good_install_and_names_the_old_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    // Broken by something else: a patch holding a directory, which the launcher dies copying.
    write(&p.patches().join("patch0001/sub/x.jar"), b"x");
    let zip = tmp.path().join("patch0002.zip");
    write_zip(&zip, &[("patch0002/b.jar", bundle_jar("b", "1", "new"))]);
    let plugins = snapshot(&p.plugins());
    let out = install(&p, &[zip.to_str().unwrap()]);
    assert_ok(&out);
    let target = p.patches().join("patch0002");
    assert_eq!(
        stdout(&out),
        format!("installed: patch0002 -> {}\n", target.display())
    );
    let err = stderr(&out);
    assert!(err.contains("warning"), "{err}");
    assert!(
        err.contains("patch0001/sub"),
        "names the old problem: {err}"
    );
    assert!(target.join("b.jar").is_file());
    assert!(dot_names(&p.patches()).is_empty());

    // With --apply: installed, then the apply refuses the old problem (exit 1), plugins as they
    // were.
    let zip = tmp.path().join("patch0003.zip");
    write_zip(&zip, &[("patch0003/c.jar", bundle_jar("c", "1", "new"))]);
    let out = install(&p, &[zip.to_str().unwrap(), "--apply", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("installed: patch0003 -> "));
    assert!(p.patches().join("patch0003/c.jar").is_file());
    assert_eq!(snapshot(&p.plugins()), plugins);

    // Fixed, the next apply applies both.
    fs::remove_dir_all(p.patches().join("patch0001")).unwrap();
    assert_ok(&p.apply(&["--quiet"]));
    assert_eq!(plugin(&p, "b_1.jar"), bundle_jar("b", "1", "new"));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "new"));
}

/// A service pack dir at `dir`: `lib/` with one jar, and `servicepack_patches.txt` listing
/// `listed`.
fn servicepack_dir(dir: &Path, jar: (&str, &str), listed: &str) {
    write(
        &dir.join("lib").join(format!("{}.jar", jar.0)),
        &bundle_jar(jar.0, "1", jar.1),
    );
    write(&dir.join("servicepack_patches.txt"), listed.as_bytes());
}

#[test]
fn what_the_launcher_will_ignore_is_installed_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    p.add_servicepack(
        "servicepack002",
        &[("b.jar", "b", "1", "sp2")],
        &["patch0005"],
    );
    let dl = tmp.path().join("dl");

    // A service pack sorting before the latest one.
    let sp1 = dl.join("servicepack001");
    servicepack_dir(&sp1, ("c", "sp1"), "");
    let out = install(&p, &[sp1.to_str().unwrap()]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("installed: servicepack001 -> "));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("ignored") && err.contains("servicepack002"),
        "{err}"
    );
    assert!(p.servicepacks().join("servicepack001/lib/c.jar").is_file());

    // Sorted as Java's String.compareTo does: U+1F600 (a surrogate pair in UTF-16) sorts
    // before U+FF01, though its UTF-8 bytes sort after.
    p.add_servicepack("servicepack\u{FF01}", &[("b.jar", "b", "1", "sp3")], &[]);
    let emoji = dl.join("servicepack\u{1F600}");
    servicepack_dir(&emoji, ("c", "emoji"), "");
    let out = install(&p, &[emoji.to_str().unwrap()]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("ignored") && err.contains("servicepack\u{FF01}"),
        "{err}"
    );

    // A patch the latest service pack lists.
    let listed = dl.join("patch0005");
    write(&listed.join("a.jar"), &bundle_jar("a", "1", "p5"));
    p.add_servicepack(
        "servicepack\u{FF02}",
        &[("b.jar", "b", "1", "sp4")],
        &["patch0005"],
    );
    let out = install(&p, &[listed.to_str().unwrap()]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("ignored")
            && err.contains("servicepack\u{FF02}")
            && err.contains("servicepack_patches.txt"),
        "{err}"
    );

    // The latest service pack, and a patch it does not list: no warning.
    let latest = dl.join("servicepack\u{FF03}");
    servicepack_dir(&latest, ("c", "latest"), "patch0005\n");
    let out = install(&p, &[latest.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    let patch = dl.join("patch0006");
    write(&patch.join("a.jar"), &bundle_jar("a", "1", "p6"));
    let out = install(&p, &[patch.to_str().unwrap(), "--apply", "--quiet"]);
    assert_ok(&out);
    assert_eq!(stderr(&out), "");
    assert_eq!(plugin(&p, "a_1.jar"), bundle_jar("a", "1", "p6"));
    assert_eq!(plugin(&p, "c_1.jar"), bundle_jar("c", "1", "latest"));
}

#[test]
fn apply_while_a_server_runs_exits_5_and_installs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let zip = tmp.path().join("WSO2-CARBON-PATCH-4.4.0-0001.zip");
    wso2_patch_zip(&zip, "new");
    let mut server = fake_server(&p.home);
    let before = snapshot(tmp.path());
    let out = install(&p, &[zip.to_str().unwrap(), "--apply"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--while-running"), "{}", stderr(&out));
    assert_eq!(snapshot(tmp.path()), before);
    // Without --apply, installing alone is fine while the server runs.
    assert_ok(&install(&p, &[zip.to_str().unwrap()]));
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn leftover_staging_in_the_service_packs_dir_is_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let p = product(tmp.path());
    let leftover: PathBuf = p.servicepacks().join(".carbon-patcher-tmp-1-0");
    write(&leftover.join("lib/x.jar"), b"half");
    assert_ok(&p.apply(&["--quiet"]));
    assert!(!leftover.exists());
}
