#!/bin/sh
# Inserts the carbon-patcher pre-start hook into a WSO2 launch script (bin/wso2server.sh,
# api-manager.sh, gateway.sh, traffic-manager.sh, api-cp.sh, key-manager.sh, integrator.sh,
# micro-integrator.sh, an EI profile's wso2/<profile>/bin/wso2server.sh),
# or removes it. Idempotent: a script that already holds the current hook is left untouched, an
# older hook block is replaced where it is. Keeps a backup of the script before every change.
#
# usage: install-hook.sh [--uninstall] [--hook FILE] SCRIPT
#
#   SCRIPT       the launch script, e.g. /opt/wso2am/bin/wso2server.sh
#   --hook FILE  the hook to insert [default: carbon-patcher-hook.sh beside this script]; the
#                lines from its "# >>> carbon-patcher hook >>>" marker to its
#                "# <<< carbon-patcher hook <<<" marker are inserted
#   --uninstall  remove the hook block instead
#
# Where: before the `while` loop that runs the JVM (the loop around the command whose last line
# holds org.wso2.carbon.bootstrap.Bootstrap, or Micro Integrator's
# org.wso2.micro.integrator.bootstrap.Bootstrap), or, without such a loop, before the first line of
# that command. The hook then runs once per start of the script, after the script has settled
# CARBON_HOME, JAVA_OPTS and its working directory, and with the script's own arguments.
#
# The new script is written beside the old one and renamed over it (same mode, and same owner
# when run as root), so a shell that is running the old script keeps reading the old one. The
# backup is SCRIPT.carbon-patcher.bak, or, if that exists already, SCRIPT.carbon-patcher.bak.<time>.
#
# Exit status: 0 installed, removed, or nothing to change; 1 error (the script is unchanged);
# 2 usage.

set -eu

BEGIN_MARK='# >>> carbon-patcher hook >>>'
END_MARK='# <<< carbon-patcher hook <<<'

prog=${0##*/}
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
usage() {
    echo "usage: $prog [--uninstall] [--hook FILE] SCRIPT" >&2
    exit 2
}

mode=install
hook=
script=
while [ $# -gt 0 ]; do
    case $1 in
        --uninstall) mode=uninstall ;;
        --hook)
            [ $# -ge 2 ] || usage
            hook=$2
            shift
            ;;
        --hook=*) hook=${1#--hook=} ;;
        -h | --help)
            sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        --) shift; break ;;
        -*) usage ;;
        *)
            [ -z "$script" ] || usage
            script=$1
            ;;
    esac
    shift
done
if [ $# -gt 0 ]; then
    if [ -n "$script" ] || [ $# -ne 1 ]; then usage; fi
    script=$1
fi
[ -n "$script" ] || usage

if [ -z "$hook" ]; then
    case $0 in
        */*) hook=${0%/*}/carbon-patcher-hook.sh ;;
        *) hook=./carbon-patcher-hook.sh ;;
    esac
fi

[ -f "$script" ] || die "$script: not a file"
[ -r "$script" ] || die "$script: not readable"
[ -L "$script" ] && die "$script: a symbolic link; pass the file it points to"
dir=$(dirname -- "$script")
[ -w "$dir" ] || die "$dir: not writable (the new script is written there and renamed)"

tmp="$script.carbon-patcher-tmp.$$"
block="$script.carbon-patcher-block.$$"
trap 'rm -f "$tmp" "$block"' EXIT
trap 'exit 1' HUP INT TERM

# The hook block, markers included.
: >"$block"
if [ "$mode" = install ]; then
    [ -r "$hook" ] || die "$hook: cannot read the hook (use --hook FILE)"
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
        index($0, b) == 1 { on = 1 }
        on { print }
        on && index($0, e) == 1 { done = 1; exit }
        END { if (!done) exit 1 }
    ' "$hook" >"$block" || die "$hook: no block from '$BEGIN_MARK' to '$END_MARK'"
fi

# The new script: an existing block replaced in place (with nothing, to uninstall), or the block
# inserted before the JVM start. awk exits 3 when it cannot find where to insert, 4 when a block
# has a begin marker and no end marker.
cp -p -- "$script" "$tmp" || die "cannot write $tmp"
status=0
awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v mode="$mode" -v bf="$block" '
    FILENAME == bf { blk = blk $0 "\n"; next }
    { line[++n] = $0 }
    function blank(s) { return s ~ /^[ \t]*(#.*)?$/ }
    END {
        first = 0; last = 0
        for (i = 1; i <= n; i++) {
            if (!first && index(line[i], b) == 1) first = i
            else if (first && index(line[i], e) == 1) { last = i; break }
        }
        if (first && !last) exit 4
        if (first) {
            for (i = 1; i < first; i++) print line[i]
            printf "%s", blk
            for (i = last + 1; i <= n; i++) print line[i]
            exit 0
        }
        if (mode == "uninstall") { for (i = 1; i <= n; i++) print line[i]; exit 0 }
        # The last line of the JVM command, then the first line of that command (the lines
        # before it that end with a backslash continue into it).
        at = 0
        for (i = 1; i <= n; i++)
            if (line[i] ~ /org\.wso2\.(carbon|micro\.integrator)\.bootstrap\.Bootstrap/ && line[i] !~ /^[ \t]*#/) { at = i; break }
        if (!at) exit 3
        while (at > 1 && line[at - 1] ~ /\\$/) at--
        # The while loop around it: "do" alone after "while ...", or "while ...; do".
        p = at - 1
        while (p >= 1 && blank(line[p])) p--
        if (p >= 1 && line[p] ~ /^[ \t]*do[ \t]*(#.*)?$/) {
            q = p - 1
            while (q >= 1 && blank(line[q])) q--
            if (q >= 1 && line[q] ~ /^[ \t]*while[ \t]/) at = q
        } else if (p >= 1 && line[p] ~ /^[ \t]*while[ \t].*;[ \t]*do[ \t]*(#.*)?$/) {
            at = p
        }
        for (i = 1; i <= n; i++) {
            if (i == at) printf "%s", blk
            print line[i]
        }
    }
' "$block" "$script" >"$tmp" || status=$?
case $status in
    0) ;;
    3) die "$script: no line holding org.wso2.carbon.bootstrap.Bootstrap (the JVM start); insert the hook by hand (see README.md)" ;;
    4) die "$script: '$BEGIN_MARK' without '$END_MARK'; fix the script by hand" ;;
    *) die "$script: cannot write the new script" ;;
esac

if cmp -s -- "$script" "$tmp"; then
    if [ "$mode" = install ]; then
        echo "$prog: $script already holds the current hook; unchanged"
    else
        echo "$prog: $script holds no hook; unchanged"
    fi
    exit 0
fi
sh -n "$tmp" || die "$script: the new script does not parse (sh -n); unchanged"

backup="$script.carbon-patcher.bak"
if [ -e "$backup" ] || [ -L "$backup" ]; then
    backup="$script.carbon-patcher.bak.$(date +%Y%m%d%H%M%S)"
    [ ! -e "$backup" ] || backup="$backup.$$"
fi
cp -p -- "$script" "$backup" || die "cannot write the backup $backup; unchanged"
mv -f -- "$tmp" "$script" || die "cannot rename $tmp to $script"

if [ "$mode" = install ]; then
    echo "$prog: hook installed in $script (line $(grep -n -F -- "$BEGIN_MARK" "$script" | head -n 1 | cut -d: -f1)); backup: $backup"
else
    echo "$prog: hook removed from $script; backup: $backup"
fi
