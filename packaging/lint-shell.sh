#!/usr/bin/env bash
# Runs shellcheck on every shell script of the project (run by .ci/run), with the pinned one of
# the packaging venv (packaging/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash packaging/venv.sh)
mapfile -t scripts < <(git ls-files -- '*.sh' .ci/run packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm)
"$venv/bin/shellcheck" --version | sed -n 2p
"$venv/bin/shellcheck" "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
