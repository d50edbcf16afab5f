#!/usr/bin/env bash
# Tests the Ansible role and the example playbook (run by .ci/run): ansible-playbook
# --syntax-check, ansible-lint (production profile, offline), then a real rollout against three
# product homes on this machine (tests/rollout.py: the second node fails, the third is untouched;
# then the rollout completes, and a third run changes nothing).
#
# The pinned ansible-core and ansible-lint come from a venv under target/ (packaging/venv.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=$(bash packaging/venv.sh)
export PATH="$venv/bin:$PATH"
# Ansible's and ansible-lint's own files stay under target/, not in the home dir.
export ANSIBLE_HOME="$PWD/target/ansible-home"
export ANSIBLE_NOCOLOR=1 NO_COLOR=1

cargo build --release --locked --quiet
binary=$PWD/target/release/carbon-patcher

cd packaging/ansible
ansible-playbook --syntax-check -i inventory.example.yml site.yml
ansible-lint --nocolor --offline
python3 tests/rollout.py "$binary"
