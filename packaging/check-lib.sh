# The checks' bookkeeping, shared by packaging/deb/build-and-check.sh and
# packaging/rpm/build-and-check.sh, which source it once they have set $prog: check counts a
# check, fail reports one that failed, finish ends the script with the tally; $work is a
# temporary dir, removed on exit.
# shellcheck shell=bash disable=SC2154 # $prog is the sourcing script's
failures=0
checks=0
fail() {
    echo "$prog: FAIL: $*" >&2
    failures=$((failures + 1))
}
check() { checks=$((checks + 1)); }
# finish KIND PACKAGE: exits 1 when a check failed, else prints "KIND: N passed, 0 failed".
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$prog: $failures of $checks checks FAILED on $2" >&2
        exit 1
    fi
    echo "$1: $checks passed, 0 failed"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
