#!/usr/bin/env bash
# One simulated fleet against a real collector over TLS, on this machine: a fresh data dir (engine from
# $ENGINE, sled when unset), `serve` on an ephemeral 127.0.0.1 port, an enrollment token, then
# census-fleetsim ($AGENTS agents, 300 by default, 1,000 packages each, report phases only unless arguments say otherwise;
# extra arguments go to census-fleetsim). Prints census-fleetsim's table, the collector's peak RSS and
# the database's size, and stops the collector by PID.
#
#   cargo build --release -p census-collector -p census-tests --bins
#   benches/fleet-over-tls.sh                       # sled
#   ENGINE=redb benches/fleet-over-tls.sh           # redb
#   COLLECTOR_DIR=/tmp/before/target/release benches/fleet-over-tls.sh   # another build's collector (A/B)
#   COVERED=1 benches/fleet-over-tls.sh              # upgrades registered as a change: no flags raised
#   AGENTS=1000 benches/fleet-over-tls.sh            # a larger fleet (300 by default): longer phases
#   COMMIT_DELAY=0ms benches/fleet-over-tls.sh       # cmdb.commit_delay (4ms by default)
set -euo pipefail
cd "$(dirname "$0")/.."
collector="${COLLECTOR_DIR:-$PWD/target/release}/census-collector"
fleetsim="$PWD/target/release/census-fleetsim"
for binary in "$collector" "$fleetsim"; do
  [ -x "$binary" ] || { echo "build first: cargo build --release -p census-collector -p census-tests --bins" >&2; exit 1; }
done

work=$(mktemp -d)
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
"$collector" init --data-dir "$data" ${ENGINE:+--engine "$ENGINE"} >/dev/null
# The simulator is one address standing for a whole fleet: let it hold a connection per agent.
printf '[limits]\nmax_connections_per_address = %d\n' $(( ${AGENTS:-300} + 64 )) >"$work/collector.toml"
[ -n "${COMMIT_DELAY:-}" ] && printf '[cmdb]\ncommit_delay = "%s"\n' "$COMMIT_DELAY" >>"$work/collector.toml"
"$collector" serve --config "$work/collector.toml" --data-dir "$data" --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
collector_pid=$!
for _ in $(seq 100); do [ -f "$data/collector.url" ] && break; sleep 0.1; done
[ -f "$data/collector.url" ] || { echo "the collector did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
token=$("$collector" enroll-token create --data-dir "$data" --max-uses "${AGENTS:-300}" | tail -1)
"$fleetsim" --collector "$(cat "$data/collector.url")" --ca "$data/ca.pem" --token "$token" \
  --agents "${AGENTS:-300}" --concurrency 32 --min-packages 1000 --max-packages 1000 \
  --checkin-rounds 0 --checkin-seconds 0 --collector-pid "$collector_pid" \
  ${COVERED:+--cover-upgrades-with "$(cat "$data/admin.token")"} "$@"
grep VmHWM "/proc/$collector_pid/status"
du -sk "$data"/db "$data"/census.redb 2>/dev/null || true
