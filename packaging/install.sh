#!/usr/bin/env bash
# Installs carbon-patcher on a host without dpkg: the binary, the systemd unit, an example
# configuration, man pages, shell completions, the launch-script hook and the README. Or, with
# --uninstall, removes what an earlier run installed.
#
# usage: install.sh [--prefix DIR] [--sysconfdir DIR] [--unitdir DIR] [--destdir DIR]
#                   [--binary FILE] [--uninstall]
#
#   --prefix DIR      where to install [default: /usr/local]: DIR/bin/carbon-patcher,
#                     DIR/share/man/man1, DIR/share/{bash-completion,zsh,fish},
#                     DIR/share/doc/carbon-patcher, DIR/share/carbon-patcher/launcher
#   --sysconfdir DIR  the configuration goes to DIR/carbon-patcher [default: /etc]
#   --unitdir DIR     the systemd unit [default: PREFIX/lib/systemd/system, which systemd reads
#                     for /usr and /usr/local; give /etc/systemd/system for another prefix]
#   --destdir DIR     staging root prepended to every path written (as make's DESTDIR); the
#                     paths inside the files (the unit's ExecStart=, ...) do not include it
#   --binary FILE     the carbon-patcher binary to install [default: target/release/carbon-patcher
#                     of this source tree]; it must run here: it writes its own man pages and
#                     completions
#   --uninstall       remove what the last install with the same --prefix (and --destdir) put
#                     there, as its manifest lists it
#
# Idempotent: a file already holding the right bytes and mode is left alone, so a second run
# changes nothing. The configuration (SYSCONFDIR/carbon-patcher/example.toml) is never
# overwritten once edited: the new version is written beside it as example.toml.new. Every file
# is written to a temporary name in its directory and renamed into place, so a running
# carbon-patcher keeps its old binary. What was installed (each file's SHA-256 and mode, and the
# directories created) is recorded in PREFIX/share/carbon-patcher/install-manifest; --uninstall
# removes those files and directories, except a configuration edited since (and directories not
# empty, such as SYSCONFDIR/carbon-patcher holding your own <instance>.toml).
#
# Nothing is started or enabled: after installing, `systemctl daemon-reload`, then see the README
# ("Installing").
#
# Exit status: 0 done, 1 error, 2 usage.

set -euo pipefail

prog=${0##*/}
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $prog [--prefix DIR] [--sysconfdir DIR] [--unitdir DIR] [--destdir DIR] [--binary FILE] [--uninstall]" >&2
    exit 2
}

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
sysconfdir=/etc
unitdir=
destdir=
binary=$src/target/release/carbon-patcher
mode=install

while [ $# -gt 0 ]; do
    case $1 in
        --prefix | --sysconfdir | --unitdir | --destdir | --binary)
            [ $# -ge 2 ] || usage
            opt=${1#--}
            val=$2
            shift
            ;;
        --prefix=* | --sysconfdir=* | --unitdir=* | --destdir=* | --binary=*)
            opt=${1%%=*}
            opt=${opt#--}
            val=${1#*=}
            ;;
        --uninstall)
            mode=uninstall
            opt=
            ;;
        -h | --help)
            sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *) usage ;;
    esac
    case $opt in
        prefix) prefix=$val ;;
        sysconfdir) sysconfdir=$val ;;
        unitdir) unitdir=$val ;;
        destdir) destdir=$val ;;
        binary) binary=$val ;;
    esac
    shift
done

for d in "$prefix" "$sysconfdir" ${unitdir:+"$unitdir"}; do
    case $d in
        /*) ;;
        *) die "$d: must be an absolute path" ;;
    esac
done
prefix=${prefix%/}
sysconfdir=${sysconfdir%/}
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
unitdir=${unitdir%/}
destdir=${destdir%/}

bindir=$prefix/bin
man1dir=$prefix/share/man/man1
docdir=$prefix/share/doc/carbon-patcher
datadir=$prefix/share/carbon-patcher
confdir=$sysconfdir/carbon-patcher
config=$confdir/example.toml
manifest=$datadir/install-manifest

# The directories that are ours alone: removed on uninstall when empty, even if they existed
# before (an earlier install whose manifest was lost).
own_dirs=("$docdir/examples" "$docdir" "$datadir/launcher" "$datadir" "$confdir")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

sha() { sha256sum -- "$1" | cut -d' ' -f1; }
fmode() { stat -c %a -- "$1"; }

# The manifest's lines: "file<TAB>sha256<TAB>mode<TAB>path", the same with "conf" for the
# configuration (its sha256 the one installed, to tell an edited one), and "dir<TAB>path"; paths
# without the destdir. Read into old_sha[path], old_conf[path], old_dirs.
declare -A old_sha=() old_conf=()
old_dirs=()
if [ -f "$destdir$manifest" ]; then
    while IFS=$'\t' read -r kind a _ c; do
        case $kind in
            file) old_sha[$c]=$a ;;
            conf) old_sha[$c]=$a old_conf[$c]=1 ;;
            dir) old_dirs+=("$a") ;;
        esac
    done <"$destdir$manifest"
fi

changes=0
say() {
    echo "$prog: $*"
}

# mkdir -p that records each directory it creates (for uninstall).
new_dirs=()
make_dir() {
    local d=$1 missing=()
    while [ ! -d "$destdir$d" ]; do
        [ ! -e "$destdir$d" ] || die "$destdir$d: exists and is not a directory"
        [ "$d" != / ] || die "$destdir/: no such directory"
        missing=("$d" "${missing[@]}")
        d=$(dirname -- "$d")
    done
    for d in "${missing[@]}"; do
        mkdir -m 0755 -- "$destdir$d"
        new_dirs+=("$d")
        changes=$((changes + 1))
    done
}

# put SOURCE MODE PATH [KIND]: PATH gets SOURCE's bytes and MODE, through a temporary name and a
# rename, unless it already has both.
new_files=()
put() {
    local from=$1 m=$2 to=$3 kind=${4:-file}
    local dest=$destdir$to
    new_files+=("$(printf '%s\t%s\t%s\t%s' "$kind" "$(sha "$from")" "$m" "$to")")
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s -- "$from" "$dest" && [ "$(fmode "$dest")" = "$m" ]; then
        return
    fi
    make_dir "$(dirname -- "$to")"
    local tmp
    tmp="$(dirname -- "$dest")/.${to##*/}.carbon-patcher-install.$$"
    install -m "$m" -- "$from" "$tmp"
    mv -f -- "$tmp" "$dest"
    say "installed $to"
    changes=$((changes + 1))
}

# The configuration: installed when missing, replaced when it is still what an earlier run
# installed, otherwise kept, with the new version beside it as .new.
put_config() {
    local from=$1 dest=$destdir$config
    if [ ! -e "$dest" ] || cmp -s -- "$from" "$dest"; then
        put "$from" 644 "$config" conf
        return
    fi
    local now
    now=$(sha "$dest")
    if [ "${old_sha[$config]:-}" = "$now" ]; then
        put "$from" 644 "$config" conf
        return
    fi
    # Edited: recorded with the hash of what was installed, so uninstall still sees it edited.
    new_files+=("$(printf 'conf\t%s\t%s\t%s' "${old_sha[$config]:-edited}" "$(fmode "$dest")" "$config")")
    if [ ! -e "$dest.new" ] || ! cmp -s -- "$from" "$dest.new"; then
        say "kept $config (edited); the new example is $config.new"
    fi
    put "$from" 644 "$config.new"
}

# remove PATH: removes a file listed in the manifest, unless it is the configuration and was
# edited since it was installed.
remove() {
    local p=$1 dest=$destdir$1
    [ -e "$dest" ] || [ -L "$dest" ] || return 0
    if [ -n "${old_conf[$p]:-}" ] && [ -f "$dest" ] && [ "$(sha "$dest")" != "${old_sha[$p]:-}" ]; then
        say "kept $p (edited since it was installed)"
        return 0
    fi
    rm -f -- "$dest"
    say "removed $p"
    changes=$((changes + 1))
}

# Removes the given directories that are empty, deepest first.
remove_empty_dirs() {
    local d
    while IFS= read -r d; do
        [ -n "$d" ] || continue
        if [ -d "$destdir$d" ] && rmdir -- "$destdir$d" 2>/dev/null; then
            say "removed $d/"
            changes=$((changes + 1))
        fi
    done < <(printf '%s\n' "$@" | sort -u | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
}

if [ "$mode" = uninstall ]; then
    if [ ! -f "$destdir$manifest" ]; then
        say "nothing to uninstall: no $destdir$manifest (nothing installed with --prefix $prefix${destdir:+ --destdir $destdir})"
        exit 0
    fi
    while IFS= read -r p; do
        [ -z "$p" ] || remove "$p"
    done < <(printf '%s\n' "${!old_sha[@]}" | sort)
    rm -f -- "$destdir$manifest"
    remove_empty_dirs "${old_dirs[@]}" "${own_dirs[@]}"
    say "uninstalled ($changes changes)"
    exit 0
fi

# Install: everything is first made in $work, then put in place.
# The staging root itself is not recorded: uninstall leaves it.
[ -z "$destdir" ] || mkdir -p -- "$destdir"
[ -f "$binary" ] || die "$binary: no such file (build it: cargo build --release; or give --binary FILE)"
[ -x "$binary" ] || die "$binary: not executable"
for f in systemd/carbon-patcher@.service systemd/carbon-server-dropin.conf systemd/example.toml \
    launcher/carbon-patcher-hook.sh launcher/install-hook.sh launcher/README.md; do
    [ -f "$src/packaging/$f" ] || die "$src/packaging/$f: missing from the source tree"
done

mkdir -p "$work/man" "$work/completions"
"$binary" man --dir "$work/man" >/dev/null || die "$binary man --dir: failed"
# gzip -n: no name or time stamp in the header, so the same page gives the same bytes.
for page in "$work"/man/*.1; do
    [ -f "$page" ] || die "$binary man --dir wrote no page"
    gzip -9 -n -- "$page"
done
"$binary" completions bash >"$work/completions/carbon-patcher" || die "$binary completions bash: failed"
"$binary" completions zsh >"$work/completions/_carbon-patcher" || die "$binary completions zsh: failed"
"$binary" completions fish >"$work/completions/carbon-patcher.fish" || die "$binary completions fish: failed"

# The unit and the drop-in name /usr/bin/carbon-patcher and /etc/carbon-patcher; point them at
# where this install puts them.
for f in carbon-patcher@.service carbon-server-dropin.conf; do
    sed -e "s|/usr/bin/carbon-patcher|$bindir/carbon-patcher|g" \
        -e "s|/etc/carbon-patcher/|$confdir/|g" \
        "$src/packaging/systemd/$f" >"$work/$f"
done

put "$binary" 755 "$bindir/carbon-patcher"
put "$work/carbon-patcher@.service" 644 "$unitdir/carbon-patcher@.service"
for page in "$work"/man/*.1.gz; do
    put "$page" 644 "$man1dir/${page##*/}"
done
put "$work/completions/carbon-patcher" 644 "$prefix/share/bash-completion/completions/carbon-patcher"
put "$work/completions/_carbon-patcher" 644 "$prefix/share/zsh/site-functions/_carbon-patcher"
put "$work/completions/carbon-patcher.fish" 644 "$prefix/share/fish/vendor_completions.d/carbon-patcher.fish"
put "$src/README.md" 644 "$docdir/README.md"
put "$work/carbon-server-dropin.conf" 644 "$docdir/examples/carbon-server-dropin.conf"
put "$src/packaging/systemd/example.toml" 644 "$docdir/examples/example.toml"
put "$src/packaging/launcher/carbon-patcher-hook.sh" 644 "$datadir/launcher/carbon-patcher-hook.sh"
put "$src/packaging/launcher/install-hook.sh" 755 "$datadir/launcher/install-hook.sh"
put "$src/packaging/launcher/README.md" 644 "$datadir/launcher/README.md"
put_config "$src/packaging/systemd/example.toml"

# Files an earlier install put there that this one does not (a man page of a command since
# removed): gone, as an upgrade by the package manager would do.
declare -A now_listed=()
for line in "${new_files[@]}"; do
    now_listed[${line##*$'\t'}]=1
done
while IFS= read -r p; do
    [ -z "$p" ] || [ -n "${now_listed[$p]:-}" ] || remove "$p"
done < <(printf '%s\n' "${!old_sha[@]}" | sort)

# The manifest: rewritten only when it changes, so a second run touches nothing.
make_dir "$datadir"
{
    printf '%s\n' "${new_files[@]}" | sort -t $'\t' -k4
    for d in "${old_dirs[@]}" "${new_dirs[@]}"; do
        printf 'dir\t%s\n' "$d"
    done | sort -u
} >"$work/manifest"
if ! cmp -s -- "$work/manifest" "$destdir$manifest"; then
    tmp="$destdir$datadir/.install-manifest.$$"
    install -m 644 -- "$work/manifest" "$tmp"
    mv -f -- "$tmp" "$destdir$manifest"
fi

if [ "$changes" -eq 0 ]; then
    say "everything already installed under $destdir$prefix; nothing changed"
else
    say "installed under $destdir$prefix ($changes changes); run 'systemctl daemon-reload' to load the unit"
fi
