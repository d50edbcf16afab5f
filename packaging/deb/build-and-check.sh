#!/usr/bin/env bash
# Builds the Debian package with cargo-deb and checks what is in it: the file list
# (dpkg-deb -c), the control data (dpkg-deb -I, -e), the files and their modes once unpacked
# (dpkg-deb -x) into a temporary root, and lintian (no error allowed). Any difference is
# printed and the script exits 1.
#
# usage: packaging/deb/build-and-check.sh      (from anywhere; run by .ci/run)
#
# Installs cargo-deb (the pinned version below) with `cargo install` when it is missing or
# another version. The packages are left in target/debian/: carbon-patcher_<version>-1_<arch>.deb
# with a stripped binary, and carbon-patcher-dbgsym_<version>-1_<arch>.ddeb with its debug
# symbols (the release profile keeps line tables; a package need not carry 25 MB of them).

set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
prog=packaging/deb/build-and-check.sh

if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "$prog: installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi
# dpkg-deb to build and read the package, binutils for cargo-deb's --dbgsym and the checks,
# lintian for Debian's own checks.
missing=()
for tool in dpkg-deb gzip objcopy readelf lintian; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "$prog: installing dpkg, binutils, gzip and lintian (missing: ${missing[*]})"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        dpkg binutils gzip lintian >/dev/null
fi
for tool in dpkg-deb gzip objcopy readelf lintian; do
    command -v "$tool" >/dev/null || { echo "$prog: error: $tool not found" >&2; exit 1; }
done

# The binary first: it writes its own man pages and completions, which cargo-deb packages.
cargo build --release --locked --quiet
bin=target/release/carbon-patcher
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/completions"
"$bin" man --dir "$assets/man" >/dev/null
"$bin" completions bash >"$assets/completions/carbon-patcher"
"$bin" completions zsh >"$assets/completions/_carbon-patcher"
"$bin" completions fish >"$assets/completions/carbon-patcher.fish"

rm -rf target/debian
cargo deb --no-build --locked --quiet --dbgsym >/dev/null
debs=(target/debian/*.deb)
ddebs=(target/debian/*.ddeb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ] || [ "${#ddebs[@]}" -ne 1 ] || [ ! -f "${ddebs[0]}" ]; then
    echo "$prog: error: expected one .deb and one .ddeb in target/debian, found: $(ls target/debian)" >&2
    exit 1
fi
deb=${debs[0]}
ddeb=${ddebs[0]}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
echo "$prog: built $deb"

# shellcheck source=packaging/check-lib.sh
. packaging/check-lib.sh

# The control data.
dpkg-deb -f "$deb" Package Version Architecture Maintainer Depends Section >"$work/control"
check
grep -qx "Package: carbon-patcher" "$work/control" || fail "Package is not carbon-patcher: $(cat "$work/control")"
check
grep -qx "Version: $version-1" "$work/control" || fail "Version is not $version-1"
check
grep -q '^Depends: .*libc6' "$work/control" || fail "Depends does not name libc6 (cargo-deb's \$auto): $(grep Depends "$work/control")"
check
grep -Eq '^Maintainer: [^<]+ <[^@ ]+@[^> ]+>$' "$work/control" ||
    fail "Maintainer has no address: $(grep Maintainer "$work/control")"
check
changelog_version=$(sed -n '1s/^carbon-patcher (\([^)]*\)).*/\1/p' packaging/deb/changelog)
[ "$changelog_version" = "$version-1" ] ||
    fail "packaging/deb/changelog's first entry is $changelog_version, the package $version-1: add an entry"
dpkg-deb -e "$deb" "$work/DEBIAN"
check
[ "$(cat "$work/DEBIAN/conffiles" 2>/dev/null)" = /etc/carbon-patcher/example.toml ] ||
    fail "conffiles should be exactly /etc/carbon-patcher/example.toml, is: $(cat "$work/DEBIAN/conffiles" 2>/dev/null)"
for s in postinst prerm postrm; do
    check
    [ -x "$work/DEBIAN/$s" ] || fail "maintainer script $s missing or not executable"
    check
    bash -n "$work/DEBIAN/$s" || fail "maintainer script $s does not parse"
done

# The file list: every entry owned by root, nothing outside the expected trees.
dpkg-deb -c "$deb" >"$work/list"
check
awk '$2 != "root/root" && $2 != "0/0" { print; bad = 1 } END { exit bad }' "$work/list" >&2 || fail "entries not owned by root (above)"
while read -r path; do
    check
    case $path in
        ./ | ./etc/ | ./etc/carbon-patcher/* | ./usr/ | ./usr/bin/ | ./usr/bin/carbon-patcher | \
            ./usr/lib/ | ./usr/lib/systemd/ | ./usr/lib/systemd/system/ | ./usr/lib/systemd/system/carbon-patcher@.service | \
            ./usr/share/ | ./usr/share/doc/ | ./usr/share/doc/carbon-patcher/* | ./usr/share/carbon-patcher/* | \
            ./usr/share/man/ | ./usr/share/man/man1/ | ./usr/share/man/man1/carbon-patcher*.1.gz | \
            ./usr/share/bash-completion/* | ./usr/share/zsh/* | ./usr/share/fish/*) ;;
        *) fail "unexpected entry in the package: $path" ;;
    esac
done < <(awk '{ print $6 }' "$work/list")

# The files, unpacked: present, with their modes.
root=$work/root
dpkg-deb -x "$deb" "$root"
expect() { # MODE PATH
    check
    if [ ! -f "$root/$2" ]; then
        fail "/$2 missing"
    elif [ "$(stat -c %a "$root/$2")" != "$1" ]; then
        fail "/$2 has mode $(stat -c %a "$root/$2"), expected $1"
    elif [ ! -s "$root/$2" ]; then
        fail "/$2 is empty"
    fi
}
expect 755 usr/bin/carbon-patcher
expect 644 usr/lib/systemd/system/carbon-patcher@.service
check
case $(stat -c %a "$root/etc/carbon-patcher/example.toml" 2>/dev/null) in
    644 | 640) ;;
    *) fail "/etc/carbon-patcher/example.toml missing or mode not 0644/0640" ;;
esac
expect 644 usr/share/doc/carbon-patcher/README.md
expect 644 usr/share/doc/carbon-patcher/copyright
expect 644 usr/share/doc/carbon-patcher/examples/carbon-server-dropin.conf
expect 644 usr/share/doc/carbon-patcher/examples/example.toml
expect 644 usr/share/carbon-patcher/launcher/carbon-patcher-hook.sh
expect 755 usr/share/carbon-patcher/launcher/install-hook.sh
expect 644 usr/share/bash-completion/completions/carbon-patcher
expect 644 usr/share/zsh/vendor-completions/_carbon-patcher
expect 644 usr/share/fish/vendor_completions.d/carbon-patcher.fish
check
cmp -s packaging/systemd/example.toml "$root/etc/carbon-patcher/example.toml" || fail "/etc/carbon-patcher/example.toml differs from packaging/systemd/example.toml"
check
bash -n "$root/usr/share/bash-completion/completions/carbon-patcher" || fail "the bash completion does not parse"
check
grep -q '^ExecStart=/usr/bin/carbon-patcher watch --config /etc/carbon-patcher/%i.toml$' "$root/usr/lib/systemd/system/carbon-patcher@.service" ||
    fail "the unit's ExecStart= does not run /usr/bin/carbon-patcher"

# The packaged binary is stripped; its debug symbols are in the .ddeb, under its build id.
check
if readelf -S "$root/usr/bin/carbon-patcher" | grep -q -e '\.debug_info' -e '\.symtab'; then
    fail "/usr/bin/carbon-patcher is not stripped"
fi
build_id=$(readelf -n "$root/usr/bin/carbon-patcher" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
check
if [ -z "$build_id" ]; then
    fail "/usr/bin/carbon-patcher has no build id"
elif ! dpkg-deb -c "$ddeb" | grep -q "/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug\$"; then
    fail "$ddeb holds no /usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug"
fi

# The packaged binary runs and is this version.
check
got=$("$root/usr/bin/carbon-patcher" --version 2>&1 || true)
[ "$got" = "carbon-patcher $version" ] || fail "/usr/bin/carbon-patcher --version says '$got', expected 'carbon-patcher $version'"

# One gzipped man page per page the binary writes (carbon-patcher.1 and one per command), each
# valid gzip holding a roff page.
pages=0
for page in "$assets"/man/*.1; do
    name=${page##*/}
    expect 644 "usr/share/man/man1/$name.gz"
    check
    if ! gzip -t "$root/usr/share/man/man1/$name.gz" 2>/dev/null; then
        fail "/usr/share/man/man1/$name.gz is not valid gzip"
    elif ! gzip -dc "$root/usr/share/man/man1/$name.gz" | cmp -s - "$page"; then
        fail "/usr/share/man/man1/$name.gz does not hold $page"
    fi
    pages=$((pages + 1))
done
check
[ -f "$root/usr/share/man/man1/carbon-patcher.1.gz" ] || fail "no carbon-patcher.1.gz"
check
[ "$pages" -ge 4 ] || fail "only $pages man pages (expected the main page and one per command)"
check
if find "$root/usr/share/man" -type f ! -name '*.gz' | grep -q .; then
    fail "uncompressed man pages: $(find "$root/usr/share/man" -type f ! -name '*.gz')"
fi

# Debian's own checks: warnings are printed, an error fails.
check
lintian --allow-root --fail-on error --tag-display-limit 0 "$deb" >"$work/lintian" 2>&1 ||
    fail "lintian: $(grep -c '^E:' "$work/lintian") error(s) (below)"
cat "$work/lintian"

echo "$prog: $(wc -l <"$work/list") entries, $pages man pages"
finish deb "$deb"
