#!/usr/bin/env bash
# Runs shellcheck on every shell script of the project (run by .ci/run), following what they
# source, with the pinned one of the packaging venv (packaging/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash packaging/venv.sh)
mapfile -t scripts < <(git ls-files -- '*.sh' .ci/run packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm packaging/rpm/post packaging/rpm/preun packaging/rpm/postun)
"$venv/bin/shellcheck" --version | sed -n 2p
for f in "${scripts[@]}"; do
    # A file without a shebang (the launch-script hook) is sourced by a POSIX sh script.
    if head -n 1 "$f" | grep -q '^#!'; then
        "$venv/bin/shellcheck" --external-sources "$f"
    else
        "$venv/bin/shellcheck" --shell=sh "$f"
    fi
done
echo "shellcheck: ${#scripts[@]} scripts clean"
