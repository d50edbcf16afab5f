#!/usr/bin/env bash
# Makes (or reuses) the Python venv of the packaging checks, target/packaging-venv, with the
# pinned tools of packaging/ansible/requirements.txt (ansible-core, ansible-lint, shellcheck),
# and prints its path. Made again whenever the requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/target/packaging-venv
req=packaging/ansible/requirements.txt
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$venv/requirements.txt"
fi
echo "$venv"
