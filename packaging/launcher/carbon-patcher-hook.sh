# carbon-patcher pre-start hook for a WSO2 launch script of any Carbon 4.x product or of Micro
# Integrator (bin/wso2server.sh, api-manager.sh, gateway.sh, traffic-manager.sh, api-cp.sh,
# key-manager.sh, integrator.sh, micro-integrator.sh, wso2/<profile>/bin/wso2server.sh).
#
# Runs `carbon-patcher apply` on this product just before the JVM starts, with the Carbon
# properties the script gives the JVM, so that a bad patch stops the start with a clear message
# instead of a server starting on a half-patched `plugins`. POSIX sh; see README.md beside this
# file. Either source this file from wso2server.sh just before the `while` loop that starts the
# JVM:
#
#     . "$CARBON_HOME/bin/carbon-patcher-hook.sh"
#
# or let install-hook.sh paste the block between the two markers below into the script.
#
# Settings (environment):
#   CARBON_PATCHER        the command to run [default: carbon-patcher, looked up on PATH]. When it
#                         cannot be found, a warning is printed and the server starts anyway (the
#                         launcher then applies the patches itself, as it always did).
#   CARBON_PATCHER_OPTS   extra options for `carbon-patcher apply`, split at blanks and passed
#                         last, e.g. "--quiet --lock-timeout 60".
#   CARBON_PATCHER_HOOK   "off" skips the hook (with a note): the way to start a server whose
#                         patches carbon-patcher refuses, knowing the launcher will apply them.
#
# Exit status of carbon-patcher and what the hook does:
#   0 applied or nothing to do         -> start
#   3 verification warnings            -> start (the launcher also starts with warnings)
#   1 bad input refused (nothing changed), 4 busy, 5 a server for this home is running, and
#     anything else (2 usage, a crash)  -> message on standard error, the script exits 1
#
# carbon-patcher reads the script's own fixed `-Dcarbon.*` switches (where Micro Integrator and
# EI keep their dirs) and its kernel from the product itself. The properties passed on are the
# `-Dcarbon.*=*` and `-Djava.util.logging.config.file=*` words of $JAVA_OPTS, then
# -Dcarbon.home=$CARBON_HOME, then the `-Dcarbon.*=*` arguments of the script, the order in which
# the JVM receives them (a later one wins, in Java as in carbon-patcher). CARBON_REPOSITORY is read
# from the environment by both.

# >>> carbon-patcher hook >>> (added by carbon-patcher's install-hook.sh; it replaces this block)
_carbon_patcher_hook() {
    if [ "${CARBON_PATCHER_HOOK:-}" = off ]; then
        echo "carbon-patcher-hook: CARBON_PATCHER_HOOK=off: starting without carbon-patcher" >&2
        return 0
    fi
    _cph_bin=${CARBON_PATCHER:-carbon-patcher}
    case $_cph_bin in
        */*) { [ -f "$_cph_bin" ] && [ -x "$_cph_bin" ]; } || _cph_bin= ;;
        *) _cph_bin=$(command -v "$_cph_bin" 2>/dev/null) || _cph_bin= ;;
    esac
    if [ -z "$_cph_bin" ]; then
        echo "carbon-patcher-hook: warning: ${CARBON_PATCHER:-carbon-patcher} not found" \
            "(set CARBON_PATCHER or PATH); starting without checking the patches" >&2
        return 0
    fi
    # The function's own positional parameters are rebuilt (the script's stay as they are):
    # the -D words of $JAVA_OPTS are appended, then carbon.home, then each original argument is
    # moved from the front to the back if it is a Carbon property, or dropped.
    _cph_n=$#
    # shellcheck disable=SC2086 # split $JAVA_OPTS into words as the JVM command line does
    for _cph_w in ${JAVA_OPTS:-}; do
        case $_cph_w in -Dcarbon.*=* | -Djava.util.logging.config.file=*) set -- "$@" "$_cph_w" ;; esac
    done
    set -- "$@" "-Dcarbon.home=${CARBON_HOME:-}"
    while [ "$_cph_n" -gt 0 ]; do
        case $1 in -Dcarbon.*=* | -Djava.util.logging.config.file=*) set -- "$@" "$1" ;; esac
        shift
        _cph_n=$((_cph_n - 1))
    done
    _cph_rc=0
    # shellcheck disable=SC2086 # CARBON_PATCHER_OPTS is a list of options
    "$_cph_bin" apply "$@" ${CARBON_PATCHER_OPTS:-} || _cph_rc=$?
    case $_cph_rc in
        0) return 0 ;;
        3)
            echo "carbon-patcher-hook: patch verification completed with warnings" \
                "(see repository/logs/patches.log); starting, as the Carbon launcher does" >&2
            return 0
            ;;
        1) echo "carbon-patcher-hook: carbon-patcher refused the patches of ${CARBON_HOME:-}" \
            "(the reason is above; plugins are unchanged). Fix or remove the patch named" \
            "there, then start again. Not starting the server." >&2 ;;
        4) echo "carbon-patcher-hook: another carbon-patcher is working on ${CARBON_HOME:-}" \
            "(lock not acquired; CARBON_PATCHER_OPTS=\"--lock-timeout SECONDS\" waits longer)." \
            "Not starting the server." >&2 ;;
        5) echo "carbon-patcher-hook: a Carbon server for ${CARBON_HOME:-} is already running" \
            "(see ${CARBON_HOME:-}/wso2carbon.pid). Not starting a second one." >&2 ;;
        7) echo "carbon-patcher-hook: the patch run would undo changes made to plugins outside" \
            "the patch process (the files are named above; nothing was changed). Keep them:" \
            "carbon-patcher rebase; or undo them: carbon-patcher apply --revert-outside-changes." \
            "Not starting the server (the Carbon launcher would undo them silently)." >&2 ;;
        *) echo "carbon-patcher-hook: $_cph_bin apply failed with exit status $_cph_rc." \
            "Not starting the server." >&2 ;;
    esac
    return 1
}
_carbon_patcher_hook "$@" || exit 1
unset -f _carbon_patcher_hook
unset _cph_bin _cph_n _cph_w _cph_rc
# <<< carbon-patcher hook <<<
