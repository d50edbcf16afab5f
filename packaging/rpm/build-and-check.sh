#!/usr/bin/env bash
# Builds the RPM package with cargo-generate-rpm and checks it: its name and version, that it
# holds the same files as the .deb (rpm -qlp; the same modes and bytes, the binary aside, which
# each packager strips itself), its configuration file, its scriptlets (rpm -qp --scripts: the
# files of packaging/rpm, each valid sh), its requirements and rpmlint (no error allowed); the
# files are compared as rpm installs them into an empty root (rpm --root), where the binary
# runs. Any difference is printed and the script exits 1.
#
# usage: packaging/rpm/build-and-check.sh      (from anywhere; run by .ci/run)
#
# Installs cargo-generate-rpm (the pinned version below) with `cargo install` when it is missing
# or another version, and rpm and rpmlint with apt-get when they are missing. Compares against
# target/debian/*.deb, which it builds first (packaging/deb/build-and-check.sh) when there is
# none. The package is left in target/generate-rpm/carbon-patcher-<version>-1.<arch>.rpm.

set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_GENERATE_RPM_VERSION=0.21.1
prog=packaging/rpm/build-and-check.sh

if [ "$(cargo generate-rpm --version 2>/dev/null || true)" != "cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION" ]; then
    echo "$prog: installing cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION"
    cargo install cargo-generate-rpm --version "$CARGO_GENERATE_RPM_VERSION" --locked --quiet
fi
missing=()
for tool in rpm rpmlint strip gzip readelf; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "$prog: installing rpm, rpmlint, binutils and gzip (missing: ${missing[*]})"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        rpm rpmlint binutils gzip >/dev/null
fi
for tool in rpm rpmlint strip gzip readelf; do
    command -v "$tool" >/dev/null || { echo "$prog: error: $tool not found" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
debs=(target/debian/carbon-patcher_"$version"-1_*.deb)
if [ ! -f "${debs[0]}" ]; then
    echo "$prog: no .deb to compare with; building it first"
    bash packaging/deb/build-and-check.sh
    debs=(target/debian/carbon-patcher_"$version"-1_*.deb)
fi
deb=${debs[0]}

# The assets: the binary stripped (its debug symbols are for the .ddeb), the man pages and
# completions the binary writes, the man pages gzipped as cargo-deb does, the same copyright
# file as the .deb's.
cargo build --release --locked --quiet
bin=target/release/carbon-patcher
assets=target/rpm-assets
rm -rf "$assets"
mkdir -p "$assets/completions" "$assets/man"
strip --strip-unneeded -o "$assets/carbon-patcher" "$bin"
"$bin" man --dir "$assets/man-src" >/dev/null
for page in "$assets"/man-src/*.1; do
    gzip -9nc "$page" >"$assets/man/${page##*/}.gz"
done
"$bin" completions bash >"$assets/completions/carbon-patcher"
"$bin" completions zsh >"$assets/completions/_carbon-patcher"
"$bin" completions fish >"$assets/completions/carbon-patcher.fish"
copyright=$(sed -n '/^\[package.metadata.deb\]/,/^\[/s/^copyright = "\(.*\)"$/\1/p' Cargo.toml)
license=$(sed -n 's/^license = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: carbon-patcher\nCopyright: %s\nLicense: %s\n' \
    "$copyright" "$license" >"$assets/copyright"

rm -rf target/generate-rpm
cargo generate-rpm >/dev/null
rpms=(target/generate-rpm/*.rpm)
if [ "${#rpms[@]}" -ne 1 ] || [ ! -f "${rpms[0]}" ]; then
    echo "$prog: error: expected one .rpm in target/generate-rpm, found: $(ls target/generate-rpm)" >&2
    exit 1
fi
rpm=${rpms[0]}
echo "$prog: built $rpm"

# shellcheck source=packaging/check-lib.sh
. packaging/check-lib.sh

check
got=$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{LICENSE}' "$rpm")
[ "$got" = "carbon-patcher $version 1 $license" ] || fail "name, version, release, license: '$got'"

# The same files as the .deb: the list (the .deb's Debian changelog aside), their modes and
# bytes. `rpm --dump`: path size mtime digest mode owner group isconfig isdoc rdev symlink.
dpkg-deb -x "$deb" "$work/deb"
(cd "$work/deb" && find . -type f -o -type l) | sed 's/^\.//' | grep -v '^/usr/share/doc/carbon-patcher/changelog.Debian.gz$' |
    sort >"$work/deb-files"
rpm -qlp "$rpm" | sort >"$work/rpm-files"
check
diff -u "$work/deb-files" "$work/rpm-files" >&2 || fail "the .rpm's files (+) differ from the .deb's (-)"
rpm -qp --dump "$rpm" >"$work/dump"
# The files as rpm installs them, into an empty root (no scriptlets: no systemd there).
# Debian's rpm wants --force-debian to install without a warning that apt should be used.
force=()
if rpm --help 2>/dev/null | grep -q -- --force-debian; then force=(--force-debian); fi
check
if ! { rpm --root "$work/rpm" --initdb && rpm --root "$work/rpm" -i "${force[@]}" --nodeps --noscripts "$rpm"; }; then
    fail "rpm -i into an empty root failed"
    exit 1
fi
check
[ "$(rpm --root "$work/rpm" -q carbon-patcher)" = "carbon-patcher-$version-1.$(rpm -qp --qf '%{ARCH}' "$rpm")" ] ||
    fail "rpm -q in the installed root: $(rpm --root "$work/rpm" -q carbon-patcher)"
# A gzipped man page is compared unpacked: the two packagers' gzip differ, not the page.
content() {
    case $1 in
        *.gz) gzip -dc "$1" | sha256sum | cut -d' ' -f1 ;;
        *) sha256sum <"$1" | cut -d' ' -f1 ;;
    esac
}
while read -r path _size _mtime _digest mode owner group _rest; do
    check
    [ "$owner:$group" = root:root ] || fail "$path is owned by $owner:$group"
    check
    [ -f "$work/deb$path" ] || continue
    want_mode=$(stat -c %a "$work/deb$path")
    [ "${mode: -3}" = "$want_mode" ] || fail "$path has mode ${mode: -3} in the .rpm, $want_mode in the .deb"
    [ "$path" = /usr/bin/carbon-patcher ] && continue
    check
    [ "$(content "$work/rpm$path")" = "$(content "$work/deb$path")" ] || fail "$path differs from the .deb's"
done <"$work/dump"

# The binary: stripped, the same build as the .deb's (one build id), and it runs.
rbin=$work/rpm/usr/bin/carbon-patcher
check
if readelf -S "$rbin" | grep -q -e '\.debug_info' -e '\.symtab'; then
    fail "/usr/bin/carbon-patcher is not stripped"
fi
build_id() { readelf -n "$1" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p'; }
check
[ -n "$(build_id "$rbin")" ] && [ "$(build_id "$rbin")" = "$(build_id "$work/deb/usr/bin/carbon-patcher")" ] ||
    fail "the .rpm's binary is not the .deb's build"
check
got=$("$rbin" --version 2>&1 || true)
[ "$got" = "carbon-patcher $version" ] || fail "/usr/bin/carbon-patcher --version says '$got'"

# The configuration file is kept when edited (%config(noreplace)), the docs marked as such.
check
[ "$(rpm -qp --configfiles "$rpm")" = /etc/carbon-patcher/example.toml ] ||
    fail "config files should be exactly /etc/carbon-patcher/example.toml: $(rpm -qp --configfiles "$rpm")"
check
awk '$1 == "/etc/carbon-patcher/example.toml" { exit !($8 == 1) }' "$work/dump" || fail "example.toml is not a config file"
check
rpm -qp --docfiles "$rpm" | grep -qx /usr/share/man/man1/carbon-patcher.1.gz ||
    fail "the man pages are not marked as documentation"

# The scriptlets: exactly packaging/rpm's files, each valid sh.
rpm -qp --scripts "$rpm" >"$work/scripts"
for s in post:postinstall preun:preuninstall postun:postuninstall; do
    file=packaging/rpm/${s%%:*}
    name=${s#*:}
    check
    sh -n "$file" || fail "$file does not parse"
    # Each scriptlet as rpm prints it, without the blank line that ends it.
    awk -v want="$name scriptlet (using /bin/sh):" '
        /^[a-z]+ scriptlet/ { on = ($0 == want); blanks = 0; next }
        on && /^$/ { blanks++; next }
        on { while (blanks > 0) { print ""; blanks-- } print }' "$work/scripts" >"$work/$name"
    check
    diff -u "$file" "$work/$name" >&2 || fail "the $name scriptlet is not $file (above)"
done

check
rpm -qp --requires "$rpm" >"$work/requires"
{ grep -q '^libc.so.6' "$work/requires" && grep -qx '/bin/sh' "$work/requires"; } ||
    fail "Requires should name libc.so.6 and /bin/sh: $(tr '\n' ' ' <"$work/requires")"

# rpmlint (packaging/rpm/rpmlint.toml says which errors are not ours): warnings are printed,
# an error fails.
check
rpmlint -c packaging/rpm/rpmlint.toml "$rpm" >"$work/rpmlint" 2>&1 || fail "rpmlint found errors (below)"
cat "$work/rpmlint"

echo "$prog: $(wc -l <"$work/rpm-files") files, the same as the .deb's"
finish rpm "$rpm"
