#!/usr/bin/env bash
# The agent's memory while `census-agent run` waits between reports, end to end with real binaries:
# a collector on 127.0.0.1 (ephemeral port, its own self-signed CA, temporary data dir), one agent
# enrolled with a token, `run` until its first report is delivered, then VmRSS / VmHWM / threads from
# /proc/PID/status every few seconds for a while. Both processes are stopped by PID at the end.
#
#   cargo build --release -p census-agent -p census-collector
#   benches/agent-idle-rss.sh [SECONDS] [EVERY]     # default: sample for 60 s, every 10 s
set -euo pipefail
seconds="${1:-60}"
every="${2:-10}"
cd "$(dirname "$0")/.."
agent="$PWD/target/release/census-agent"
collector="$PWD/target/release/census-collector"
for binary in "$agent" "$collector"; do
  [ -x "$binary" ] || { echo "build first: cargo build --release -p census-agent -p census-collector" >&2; exit 1; }
done

work=$(mktemp -d)
collector_pid=""
agent_pid=""
stop() {
  # Only the two processes this script started, by PID.
  for pid in "$agent_pid" "$collector_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap stop EXIT

"$collector" init --data-dir "$work/data" >/dev/null
CENSUS_LOG=warn "$collector" serve --data-dir "$work/data" --listen 127.0.0.1:0 \
  >"$work/collector.log" 2>&1 &
collector_pid=$!
for _ in $(seq 300); do
  [ -s "$work/data/collector.url" ] && break
  kill -0 "$collector_pid" 2>/dev/null || { cat "$work/collector.log" >&2; exit 1; }
  sleep 0.1
done
url=$(cat "$work/data/collector.url")
token=$("$collector" enroll-token create --data-dir "$work/data" --max-uses 1 | tail -1)

# An explicit configuration, so a host's /etc/census-agent/agent.toml plays no part.
cat >"$work/agent.toml" <<EOF
state_dir = "$work/agent"
interval = "1h"
splay = "0s"
EOF
"$agent" enroll --config "$work/agent.toml" --collector "$url" --ca "$work/data/ca.pem" \
  --token "$token" 2>"$work/enroll.log" || { cat "$work/enroll.log" >&2; exit 1; }
# Created here: the background job opens it later, and the wait below reads it at once.
: >"$work/agent.log"
"$agent" run --config "$work/agent.toml" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 300); do
  grep -q "report delivered" "$work/agent.log" && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "report delivered" "$work/agent.log" || { echo "no report delivered in 30 s:" >&2; cat "$work/agent.log" >&2; exit 1; }

field() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$agent_pid/status"; }
echo "census-agent run (pid $agent_pid) after its first report to $url; idle until the next (1h)"
printf '%8s %10s %10s %10s %10s %8s\n' "t (s)" "VmRSS KiB" "VmHWM KiB" "RssAnon" "RssFile" "threads"
elapsed=0
while :; do
  printf '%8s %10s %10s %10s %10s %8s\n' "$elapsed" "$(field VmRSS)" "$(field VmHWM)" \
    "$(field RssAnon)" "$(field RssFile)" "$(field Threads)"
  [ "$elapsed" -ge "$seconds" ] && break
  [ -n "${CENSUS_RSS_DETAIL:-}" ] && { awk '/^[0-9a-f]+-/ { map = $0 } /^Rss:/ && $2 > 100 { print $2, "KiB", map }' "/proc/$agent_pid/smaps"; CENSUS_RSS_DETAIL=""; }
  sleep "$every"
  elapsed=$((elapsed + every))
done
