#!/usr/bin/env bash
# Full local inventory: census-agent against FusionInventory's agent on the same machine, side by side.
# Prints the median wall time, CPU time (user + system) and peak RSS of N runs of each, and the ratios.
#
#   apt-get install fusioninventory-agent        # the peer (Debian package)
#   cargo build --release -p census-agent
#   benches/agent-vs-peer.sh [RUNS]               # default 7 runs each, after one warm-up run
set -euo pipefail
runs="${1:-7}"
cd "$(dirname "$0")/.."
census="target/release/census-agent"
peer="$(command -v fusioninventory-inventory || true)"
[ -x "$census" ] || { echo "build first: cargo build --release -p census-agent" >&2; exit 1; }
[ -n "$peer" ] || { echo "install the peer first: apt-get install fusioninventory-agent" >&2; exit 1; }

# measure NAME CMD...: runs CMD (stdout discarded) and prints "wall_s cpu_s rss_kb" per run.
measure() {
  local out; out=$(mktemp)
  "$@" >/dev/null 2>&1 || true   # warm-up: page cache, first-run effects
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %U %S %M' -o "$out" "$@" >/dev/null 2>/dev/null
    awk '{ printf "%.3f %.3f %d\n", $1, $2 + $3, $4 }' "$out"
  done
  rm -f "$out"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

c=$(measure "$census" inventory); p=$(measure "$peer")
cw=$(cut -d' ' -f1 <<<"$c" | median); cc=$(cut -d' ' -f2 <<<"$c" | median); cr=$(cut -d' ' -f3 <<<"$c" | median)
pw=$(cut -d' ' -f1 <<<"$p" | median); pc=$(cut -d' ' -f2 <<<"$p" | median); pr=$(cut -d' ' -f3 <<<"$p" | median)
printf '%-28s %10s %10s %12s\n' "median of $runs runs" "wall s" "CPU s" "peak RSS KiB"
printf '%-28s %10s %10s %12s\n' "census-agent inventory" "$cw" "$cc" "$cr"
printf '%-28s %10s %10s %12s\n' "fusioninventory-inventory" "$pw" "$pc" "$pr"
awk -v cw="$cw" -v pw="$pw" -v cc="$cc" -v pc="$pc" -v cr="$cr" -v pr="$pr" 'BEGIN {
  printf "%-28s %10s %10s %12s\n", "census / peer", (pw > 0 ? sprintf("1/%.0f", pw / (cw > 0 ? cw : 0.001)) : "-"),
    (pc > 0 ? sprintf("1/%.0f", pc / (cc > 0 ? cc : 0.001)) : "-"), sprintf("1/%.1f", pr / cr) }'
