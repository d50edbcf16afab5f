//! Spec section 9 (and the 512-byte manifest line of section 4): input the launcher would choke on
//! half-way must be refused up front: exit code 1, an error on stderr that names the offending file
//! and the reason, and not one byte written anywhere (no `patches.log`, no `.metadata`, no
//! `patch0000`, no temporary file left behind).
//!
//! Every case is a setup function `fn(root, bad) -> Product` that builds a product which applies
//! fine when `bad` is false and differs only by the bad input when `bad` is true. The control test
//! runs every setup with `bad = false` and expects success, so each refusal is known to come from
//! the bad input alone and not from a broken binary or a broken tree.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{bundle_jar, describe, md5_hex, snapshot, stderr, write, zip_bytes, Product};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const CORE: &str = "org.wso2.carbon.core";
const USER: &str = "org.wso2.carbon.user.core";
const REGISTRY: &str = "org.wso2.carbon.registry.core";
const UTILS: &str = "org.wso2.carbon.utils";
const V: &str = "4.4.9";

type Setup = fn(&Path, bool) -> Product;

/// A product with four plugins, `patch0001` (core) and `patch0002` (user.core), and, with `sp`,
/// `servicepack001` whose lib holds core and registry.core and which lists `patch0001`.
fn base(root: &Path, sp: bool) -> Product {
    let p = Product::new(root, &[(CORE, V), (USER, V), (REGISTRY, V), (UTILS, V)]);
    p.add_patch_jar(
        "patch0001",
        &format!("{CORE}_{V}.jar"),
        CORE,
        V,
        "patch0001",
    );
    p.add_patch_jar(
        "patch0002",
        &format!("{USER}_{V}.jar"),
        USER,
        V,
        "patch0002",
    );
    if sp {
        p.add_servicepack(
            "servicepack001",
            &[
                (&format!("{CORE}_{V}.jar"), CORE, V, "servicepack001"),
                (
                    &format!("{REGISTRY}_{V}.jar"),
                    REGISTRY,
                    V,
                    "servicepack001",
                ),
            ],
            &["patch0001"],
        );
    }
    p
}

/// One successful run, so that `patch0000`, `.metadata` and `patches.log` exist.
fn applied(p: Product) -> Product {
    let out = p.apply(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "setup apply failed\n{}",
        describe(&out)
    );
    p
}

/// Deterministic bytes that are not a zip (no `PK` signature anywhere).
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            match (x >> 24) as u8 {
                b'P' => b'Q',
                b => b,
            }
        })
        .collect()
}

fn half(bytes: Vec<u8>) -> Vec<u8> {
    bytes[..bytes.len() / 2].to_vec()
}

/// Builds the product with the bad input, snapshots the whole temp dir (the product home and
/// anything beside it), runs `apply`, and checks the refusal: exit code 1, stderr holding one of
/// `names` (the offending file, as a path or file name) and one of `reasons` (case-insensitive),
/// and an unchanged tree.
fn assert_refused(setup: Setup, names: &[&str], reasons: &[&str]) {
    let tmp = TempDir::new().unwrap();
    let p = setup(tmp.path(), true);
    let before = snapshot(tmp.path());
    let out = p.apply(&[]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a refusal with exit code 1\n{}",
        describe(&out)
    );
    assert!(
        names.iter().any(|n| err.contains(n)),
        "stderr should name the offending file (one of {names:?})\n{}",
        describe(&out)
    );
    let lower = err.to_lowercase();
    assert!(
        reasons.iter().any(|r| lower.contains(&r.to_lowercase())),
        "stderr should give the reason (one of {reasons:?})\n{}",
        describe(&out)
    );
    let after = snapshot(tmp.path());
    if before != after {
        let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        let changed: Vec<_> = before
            .iter()
            .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
            .map(|(k, _)| k)
            .collect();
        panic!(
            "a refused run must not write anything\nadded: {added:?}\nremoved: {removed:?}\nchanged: {changed:?}\n{}",
            describe(&out)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Setups: each builds a product that applies fine when `bad` is false
// ---------------------------------------------------------------------------------------------

/// First run; `patch0003/nomanifest.jar` is a zip with classes and a `META-INF/` but no manifest.
fn no_manifest_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = base(root, false);
    let jar = if bad {
        zip_bytes(&[
            ("META-INF/LICENSE.txt", b"Apache-2.0".as_slice()),
            (
                "org/wso2/carbon/utils/Util.class",
                b"\xca\xfe\xba\xbe".as_slice(),
            ),
        ])
    } else {
        bundle_jar(UTILS, V, "patch0003")
    };
    write(&p.patches().join("patch0003/nomanifest.jar"), &jar);
    p
}

/// After one apply (with a service pack); `patch0003/x.jar` holds random bytes.
fn corrupt_jar_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    let jar = if bad {
        garbage(1500)
    } else {
        bundle_jar(UTILS, V, "patch0003")
    };
    write(&p.patches().join("patch0003/x.jar"), &jar);
    p
}

/// First run; `patch0003/half.jar` is a valid bundle jar cut in half.
fn truncated_jar_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = base(root, false);
    let jar = bundle_jar(UTILS, V, "patch0003");
    write(
        &p.patches().join("patch0003/half.jar"),
        &if bad { half(jar) } else { jar },
    );
    p
}

/// First run; the (only, so latest) service pack's `lib/x.jar` holds random bytes.
fn corrupt_jar_in_servicepack_lib(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    let jar = if bad {
        garbage(1500)
    } else {
        bundle_jar(UTILS, V, "servicepack001")
    };
    write(&p.servicepacks().join("servicepack001/lib/x.jar"), &jar);
    p
}

/// After one apply with `servicepack001`; a new latest `servicepack002` whose `lib/half.jar` is
/// a valid bundle jar cut in half.
fn truncated_jar_in_servicepack_lib(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    p.add_servicepack(
        "servicepack002",
        &[
            (&format!("{CORE}_{V}.jar"), CORE, V, "servicepack002"),
            (
                &format!("{REGISTRY}_{V}.jar"),
                REGISTRY,
                V,
                "servicepack002",
            ),
        ],
        &["patch0001", "patch0002"],
    );
    let jar = bundle_jar(UTILS, V, "servicepack002");
    write(
        &p.servicepacks().join("servicepack002/lib/half.jar"),
        &if bad { half(jar) } else { jar },
    );
    p
}

/// First run with a service pack; `patch0003/exploded.jar` is a directory holding what a jar
/// would (a manifest and a class); without `bad` it is a real jar.
fn directory_named_jar_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    let path = p.patches().join("patch0003/exploded.jar");
    if bad {
        let m = format!(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: {UTILS}\r\nBundle-Version: {V}\r\n\r\n"
        );
        write(&path.join("META-INF/MANIFEST.MF"), m.as_bytes());
        write(
            &path.join("org/wso2/carbon/utils/Util.class"),
            b"\xca\xfe\xba\xbe",
        );
    } else {
        write(&path, &bundle_jar(UTILS, V, "patch0003"));
    }
    p
}

/// (extra) First run; the service pack's `lib/exploded.jar` is a directory.
fn directory_named_jar_in_servicepack_lib(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    let path = p.servicepacks().join("servicepack001/lib/exploded.jar");
    if bad {
        let m = format!(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: {UTILS}\r\nBundle-Version: {V}\r\n\r\n"
        );
        write(&path.join("META-INF/MANIFEST.MF"), m.as_bytes());
    } else {
        write(&path, &bundle_jar(UTILS, V, "servicepack001"));
    }
    p
}

/// After one apply; `patch0003` holds a good jar and, with `bad`, a sub-directory `extras/`.
fn subdirectory_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    p.add_patch_jar(
        "patch0003",
        &format!("{UTILS}_{V}.jar"),
        UTILS,
        V,
        "patch0003",
    );
    if bad {
        write(&p.patches().join("patch0003/extras/README.txt"), b"read me");
    }
    p
}

/// After one apply with `servicepack001`; a new latest `servicepack002`, good but for the part
/// `strip` removes.
fn new_servicepack(root: &Path, bad: bool, strip: &str) -> Product {
    let p = applied(base(root, true));
    p.add_servicepack(
        "servicepack002",
        &[
            (&format!("{CORE}_{V}.jar"), CORE, V, "servicepack002"),
            (&format!("{USER}_{V}.jar"), USER, V, "servicepack002"),
        ],
        &["patch0001", "patch0002"],
    );
    if bad {
        let path = p.servicepacks().join("servicepack002").join(strip);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }
    p
}

fn servicepack_without_lib(root: &Path, bad: bool) -> Product {
    new_servicepack(root, bad, "lib")
}

fn servicepack_without_patches_txt(root: &Path, bad: bool) -> Product {
    new_servicepack(root, bad, "servicepack_patches.txt")
}

/// After one apply and nothing changed since (so the launcher reads `prePatchedJARs.txt`, spec
/// section 3 step 5); with `bad` the file's first line loses its `:`.
fn prepatched_jars_line_without_colon(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    if bad {
        let path = p.metadata().join("prePatchedJARs.txt");
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        assert!(
            lines[0].contains(':'),
            "unexpected prePatchedJARs.txt: {text:?}"
        );
        lines[0] = lines[0].replacen(':', "=", 1);
        fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    p
}

/// After applying `servicepack001` (and patches), delete the service pack and every patch dir.
/// With `bad`, `patch0000` goes too, so the apply order is empty while `prePatchedDir.txt` still
/// starts with `servicepack001`; without it, `patch0000` stays.
fn removed_servicepack_no_patch_dirs_left(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    assert!(p
        .read_metadata("prePatchedDir.txt")
        .starts_with("servicepack001\n"));
    fs::remove_dir_all(p.servicepacks().join("servicepack001")).unwrap();
    for e in fs::read_dir(p.patches()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name.starts_with("patch") && (bad || name != "patch0000") {
            fs::remove_dir_all(e.path()).unwrap();
        }
    }
    p
}

/// A fresh product (no patch dirs, no service packs) whose hand-written `prePatchedDir.txt` names
/// `servicepack001` (with `bad`) or `patch0001` (without: a plain reverted patch).
fn removed_servicepack_handcrafted_metadata(root: &Path, bad: bool) -> Product {
    let p = Product::new(root, &[(CORE, V), (USER, V)]);
    let first = if bad { "servicepack001" } else { "patch0001" };
    write(
        &p.metadata().join("prePatchedDir.txt"),
        format!("{first}\n").as_bytes(),
    );
    p
}

/// First run with a service pack; with `bad` the `plugins` dir is gone.
fn missing_plugins_first_run(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    if bad {
        fs::remove_dir_all(p.plugins()).unwrap();
    }
    p
}

/// After one apply, a new `patch0003`; with `bad` the `plugins` dir is gone (`patch0000` exists).
fn missing_plugins_after_apply(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    p.add_patch_jar(
        "patch0003",
        &format!("{UTILS}_{V}.jar"),
        UTILS,
        V,
        "patch0003",
    );
    if bad {
        fs::remove_dir_all(p.plugins()).unwrap();
    }
    p
}

/// `patch0003/<file>` is a bundle with the given symbolic name and version.
fn evil_bundle_in_patch(
    root: &Path,
    applied_first: bool,
    file: &str,
    name: &str,
    version: &str,
) -> Product {
    let p = base(root, false);
    let p = if applied_first { applied(p) } else { p };
    p.add_patch_jar("patch0003", file, name, version, "patch0003");
    p
}

/// `servicepack002/lib/<file>` (new latest service pack, after one apply) is a bundle with the
/// given symbolic name and version.
fn evil_bundle_in_servicepack(root: &Path, file: &str, name: &str, version: &str) -> Product {
    let p = applied(base(root, true));
    p.add_servicepack(
        "servicepack002",
        &[
            (&format!("{CORE}_{V}.jar"), CORE, V, "servicepack002"),
            (file, name, version, "servicepack002"),
        ],
        &["patch0001"],
    );
    p
}

fn slash_in_symbolic_name(root: &Path, bad: bool) -> Product {
    let name = if bad {
        "org/evil;singleton:=true"
    } else {
        "org.evil;singleton:=true"
    };
    evil_bundle_in_patch(root, false, "evil-slash.jar", name, "1.0.0")
}

/// (extra) `/` in the version, in a service pack's lib.
fn slash_in_version(root: &Path, bad: bool) -> Product {
    let version = if bad { "1.0/0" } else { "1.0.0" };
    evil_bundle_in_servicepack(root, "evil-slash-version.jar", "org.evil", version)
}

fn backslash_in_version(root: &Path, bad: bool) -> Product {
    let version = if bad { "1.0\\0" } else { "1.0.0" };
    evil_bundle_in_patch(root, true, "evil-backslash.jar", "org.evil", version)
}

fn nul_in_symbolic_name(root: &Path, bad: bool) -> Product {
    let name = if bad { "org\0evil" } else { "org.evil" };
    evil_bundle_in_patch(root, true, "evil-nul.jar", name, "1.0.0")
}

/// First run; `patch0003` holds a good bundle jar whose file name has byte 0xff.
fn non_utf8_entry_in_patch_dir(root: &Path, bad: bool) -> Product {
    let p = base(root, false);
    let name: &[u8] = if bad {
        b"weird\xffname.jar"
    } else {
        b"weird_name.jar"
    };
    write(
        &p.patches().join("patch0003").join(OsStr::from_bytes(name)),
        &bundle_jar(UTILS, V, "patch0003"),
    );
    p
}

/// (extra) After one apply; a new patch dir whose own name has byte 0xff.
fn non_utf8_patch_dir_name(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, false));
    let name: &[u8] = if bad {
        b"patch0003-\xff-hotfix"
    } else {
        b"patch0003-hotfix"
    };
    write(
        &p.patches()
            .join(OsStr::from_bytes(name))
            .join(format!("{UTILS}_{V}.jar")),
        &bundle_jar(UTILS, V, "patch0003"),
    );
    p
}

/// A manifest whose `Bundle-Description` is 600 bytes: on one line with `bad`, folded into
/// continuation lines (valid) without.
fn long_manifest_line(root: &Path, bad: bool) -> Product {
    let p = applied(base(root, true));
    let value = "a".repeat(600);
    let header = if bad {
        format!("Bundle-Description: {value}\r\n")
    } else {
        let mut s = format!("Bundle-Description: {}\r\n", &value[..50]);
        for chunk in value.as_bytes()[50..].chunks(70) {
            s.push(' ');
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push_str("\r\n");
        }
        s
    };
    let manifest = format!(
        "Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: {UTILS}\r\n{header}Bundle-Version: {V}\r\n\r\n"
    );
    write(
        &p.patches().join("patch0003/long-manifest.jar"),
        &common::jar_with_manifest(&manifest, "patch0003"),
    );
    p
}

/// (extra) First run; the service pack's lib holds a jar without a manifest.
fn no_manifest_in_servicepack_lib(root: &Path, bad: bool) -> Product {
    let p = base(root, true);
    let jar = if bad {
        zip_bytes(&[(
            "org/wso2/carbon/utils/Util.class",
            b"\xca\xfe\xba\xbe".as_slice(),
        )])
    } else {
        bundle_jar(UTILS, V, "servicepack001")
    };
    write(
        &p.servicepacks().join("servicepack001/lib/nomanifest.jar"),
        &jar,
    );
    p
}

const ALL: &[(&str, Setup)] = &[
    ("no_manifest_in_patch_dir", no_manifest_in_patch_dir),
    (
        "no_manifest_in_servicepack_lib",
        no_manifest_in_servicepack_lib,
    ),
    ("corrupt_jar_in_patch_dir", corrupt_jar_in_patch_dir),
    ("truncated_jar_in_patch_dir", truncated_jar_in_patch_dir),
    (
        "corrupt_jar_in_servicepack_lib",
        corrupt_jar_in_servicepack_lib,
    ),
    (
        "truncated_jar_in_servicepack_lib",
        truncated_jar_in_servicepack_lib,
    ),
    (
        "directory_named_jar_in_patch_dir",
        directory_named_jar_in_patch_dir,
    ),
    (
        "directory_named_jar_in_servicepack_lib",
        directory_named_jar_in_servicepack_lib,
    ),
    ("subdirectory_in_patch_dir", subdirectory_in_patch_dir),
    ("servicepack_without_lib", servicepack_without_lib),
    (
        "servicepack_without_patches_txt",
        servicepack_without_patches_txt,
    ),
    (
        "prepatched_jars_line_without_colon",
        prepatched_jars_line_without_colon,
    ),
    (
        "removed_servicepack_no_patch_dirs_left",
        removed_servicepack_no_patch_dirs_left,
    ),
    (
        "removed_servicepack_handcrafted_metadata",
        removed_servicepack_handcrafted_metadata,
    ),
    ("missing_plugins_first_run", missing_plugins_first_run),
    ("missing_plugins_after_apply", missing_plugins_after_apply),
    ("slash_in_symbolic_name", slash_in_symbolic_name),
    ("slash_in_version", slash_in_version),
    ("backslash_in_version", backslash_in_version),
    ("nul_in_symbolic_name", nul_in_symbolic_name),
    ("non_utf8_entry_in_patch_dir", non_utf8_entry_in_patch_dir),
    ("non_utf8_patch_dir_name", non_utf8_patch_dir_name),
    ("long_manifest_line", long_manifest_line),
];

// ---------------------------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------------------------

/// The base product applies, and applies what it should: the service pack's jars, then the
/// patches the service pack does not list, with metadata and log written.
#[test]
fn control_base_product_applies() {
    let tmp = TempDir::new().unwrap();
    let p = base(tmp.path(), true);
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let plugins = common::files(&p.plugins());
    let jar = |n: &str| {
        plugins
            .get(Path::new(&format!("{n}_{V}.jar")))
            .cloned()
            .unwrap()
    };
    assert_eq!(jar(CORE), bundle_jar(CORE, V, "servicepack001"));
    assert_eq!(jar(REGISTRY), bundle_jar(REGISTRY, V, "servicepack001"));
    assert_eq!(jar(USER), bundle_jar(USER, V, "patch0002"));
    assert_eq!(jar(UTILS), bundle_jar(UTILS, V, "original"));
    assert_eq!(
        p.read_metadata("prePatchedDir.txt"),
        "servicepack001\npatch0000\npatch0002\n"
    );
    let jars = p.read_metadata("prePatchedJARs.txt");
    assert!(jars.contains(&format!(
        "{USER}_{V}.jar:{}\n",
        md5_hex(&bundle_jar(USER, V, "patch0002"))
    )));
    assert!(p.patches().join("patch0000").is_dir());
    assert!(p.patches_log().is_file());
    // And a second run finds nothing to do.
    let out = p.apply(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// Every bad-input setup below, built without its bad input, applies with exit code 0.
#[test]
fn control_every_case_applies_without_its_bad_input() {
    let mut failures = Vec::new();
    for (label, setup) in ALL {
        let tmp = TempDir::new().unwrap();
        let p = setup(tmp.path(), false);
        let out = p.apply(&[]);
        if out.status.code() != Some(0) {
            failures.push(format!("{label}: {}", describe(&out)));
        }
    }
    assert!(
        failures.is_empty(),
        "good variants refused:\n{}",
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals (spec section 9)
// ---------------------------------------------------------------------------------------------

const NOT_A_ZIP: &[&str] = &[
    "zip",
    "corrupt",
    "truncated",
    "archive",
    "not a valid",
    "invalid jar",
];
const IS_A_DIR: &[&str] = &["director", "not a file", "not a regular file"];
const BAD_NAME: &[&str] = &[
    "symbolic",
    "bundle",
    "file name",
    "filename",
    "outside",
    "separator",
    "unsafe",
    "illegal",
    "not allowed",
    "invalid",
];

#[test]
fn jar_without_manifest_in_patch_dir() {
    assert_refused(no_manifest_in_patch_dir, &["nomanifest.jar"], &["manifest"]);
}

#[test]
fn jar_without_manifest_in_servicepack_lib() {
    assert_refused(
        no_manifest_in_servicepack_lib,
        &["nomanifest.jar"],
        &["manifest"],
    );
}

#[test]
fn corrupt_jar_in_patch_dir_is_refused() {
    assert_refused(corrupt_jar_in_patch_dir, &["x.jar"], NOT_A_ZIP);
}

#[test]
fn truncated_jar_in_patch_dir_is_refused() {
    assert_refused(truncated_jar_in_patch_dir, &["half.jar"], NOT_A_ZIP);
}

#[test]
fn corrupt_jar_in_servicepack_lib_is_refused() {
    assert_refused(corrupt_jar_in_servicepack_lib, &["x.jar"], NOT_A_ZIP);
}

#[test]
fn truncated_jar_in_servicepack_lib_is_refused() {
    assert_refused(truncated_jar_in_servicepack_lib, &["half.jar"], NOT_A_ZIP);
}

#[test]
fn directory_named_jar_in_patch_dir_is_refused() {
    assert_refused(
        directory_named_jar_in_patch_dir,
        &["exploded.jar"],
        IS_A_DIR,
    );
}

#[test]
fn directory_named_jar_in_servicepack_lib_is_refused() {
    assert_refused(
        directory_named_jar_in_servicepack_lib,
        &["exploded.jar"],
        IS_A_DIR,
    );
}

#[test]
fn subdirectory_in_patch_dir_is_refused() {
    assert_refused(subdirectory_in_patch_dir, &["extras"], IS_A_DIR);
}

#[test]
fn latest_servicepack_without_lib_is_refused() {
    assert_refused(servicepack_without_lib, &["servicepack002"], &["lib"]);
}

#[test]
fn latest_servicepack_without_servicepack_patches_txt_is_refused() {
    assert_refused(
        servicepack_without_patches_txt,
        &["servicepack002"],
        &["servicepack_patches.txt"],
    );
}

#[test]
fn prepatched_jars_line_without_colon_is_refused() {
    assert_refused(
        prepatched_jars_line_without_colon,
        &["prePatchedJARs.txt"],
        &[
            "colon",
            "':'",
            "`:`",
            "\":\"",
            "no :",
            "without :",
            "missing :",
            "separator",
            "malformed",
        ],
    );
}

const REMOVED_SP: &[&str] = &[
    "remov", "revert", "no patch", "empty", "nothing", "left", "deleted", "missing",
];

#[test]
fn removed_servicepack_with_no_patch_dirs_left_is_refused() {
    assert_refused(
        removed_servicepack_no_patch_dirs_left,
        &["servicepack001", "prePatchedDir.txt"],
        REMOVED_SP,
    );
}

#[test]
fn removed_servicepack_handcrafted_metadata_is_refused() {
    assert_refused(
        removed_servicepack_handcrafted_metadata,
        &["servicepack001", "prePatchedDir.txt"],
        REMOVED_SP,
    );
}

const MISSING: &[&str] = &[
    "missing",
    "not found",
    "no such",
    "does not exist",
    "not exist",
    "absent",
    "not a directory",
];

#[test]
fn missing_plugins_dir_first_run_is_refused() {
    assert_refused(missing_plugins_first_run, &["plugins"], MISSING);
}

#[test]
fn missing_plugins_dir_after_apply_is_refused() {
    assert_refused(missing_plugins_after_apply, &["plugins"], MISSING);
}

#[test]
fn slash_in_bundle_symbolic_name_is_refused() {
    assert_refused(slash_in_symbolic_name, &["evil-slash.jar"], BAD_NAME);
}

#[test]
fn slash_in_bundle_version_is_refused() {
    assert_refused(slash_in_version, &["evil-slash-version.jar"], BAD_NAME);
}

#[test]
fn backslash_in_bundle_version_is_refused() {
    assert_refused(backslash_in_version, &["evil-backslash.jar"], BAD_NAME);
}

#[test]
fn nul_in_bundle_symbolic_name_is_refused() {
    assert_refused(nul_in_symbolic_name, &["evil-nul.jar"], BAD_NAME);
}

#[test]
fn non_utf8_entry_name_in_patch_dir_is_refused() {
    assert_refused(
        non_utf8_entry_in_patch_dir,
        &["weird"],
        &["utf-8", "utf8", "unicode"],
    );
}

#[test]
fn non_utf8_patch_dir_name_is_refused() {
    assert_refused(
        non_utf8_patch_dir_name,
        &["hotfix"],
        &["utf-8", "utf8", "unicode"],
    );
}

#[test]
fn manifest_line_longer_than_512_bytes_is_refused() {
    assert_refused(
        long_manifest_line,
        &["long-manifest.jar"],
        &["512", "too long", "long"],
    );
}
