#!/bin/sh
# The benchmark, from a fresh clone: builds the release binary and runs benches/apply.rs.
#   benches/run.sh [SIZES...]     (default: 250 1000 4000 plugins)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec cargo bench --quiet --bench apply -- "$@"
