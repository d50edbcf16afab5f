#!/bin/sh
# Measures what an idle watcher costs: CPU time used and resident memory over an idle period,
# beside `sleep` as the baseline of a process that does nothing. Not a test: prints figures for
# the README.
#   packaging/measure-idle.sh [SECONDS]   (default 30)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-30}
cargo build --release --quiet
bin=target/release/carbon-patcher
work=$(mktemp -d)
trap 'kill "$pid" "$base" 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
"$bin" demo --into "$work/product" >/dev/null
"$bin" watch --carbon-home "$work/product" >"$work/out" 2>"$work/err" &
pid=$!
sleep 60 &
base=$!
# Let the first cycle finish before measuring.
while [ ! -f "$work/product/repository/.carbon-patcher/watch-status.json" ]; do sleep 0.1; done
sleep 1

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks "$pid"); b0=$(ticks "$base")
sleep "$secs"
t1=$(ticks "$pid"); b1=$(ticks "$base")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
echo "idle watcher over ${secs}s: cpu $(( (t1 - t0) * 1000 / hz )) ms (sleep baseline: $(( (b1 - b0) * 1000 / hz )) ms)"
echo "idle watcher memory: rss ${rss} kB, peak rss ${hwm} kB, threads ${threads}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
