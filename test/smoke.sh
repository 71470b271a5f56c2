#!/usr/bin/env bash
# Distribution smoke test: run otelcol-netstack on a config, wait until it is
# healthy, scrape its Prometheus endpoint, check that each receiver's metrics
# are there with plausible values, then stop it with SIGTERM and require a
# clean exit. Usage: test/smoke.sh BINARY CONFIG
set -euo pipefail
bin=${1:?binary}; config=${2:?config}
metrics_url=http://127.0.0.1:8889/metrics
health_url=http://127.0.0.1:13133/
log=$(mktemp); out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT

fail() { echo "smoke: FAIL: $*"; echo "--- collector log (last 60 lines)"; tail -n 60 "$log"; kill "$pid" 2>/dev/null || true; exit 1; }

for port in 8889 13133 8888; do
  if ss -Htln "sport = :$port" | grep -q .; then echo "smoke: port $port is already in use"; ss -Htlnp "sport = :$port"; exit 1; fi
done

"$bin" --config "$config" >"$log" 2>&1 &
pid=$!

for _ in $(seq 1 100); do
  curl -fsS "$health_url" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || fail "collector exited during start"
  sleep 0.2
done
curl -fsS "$health_url" >/dev/null || fail "health_check never became healthy"

# Metrics appear after the first scrape (initial delay 1s by default).
want_metric() { grep -Eq "^$1(\{| )" "$out"; }
for _ in $(seq 1 60); do
  curl -fsS "$metrics_url" >"$out" 2>/dev/null || true
  want_metric system_network_tcp_active_opens_total && break
  sleep 0.5
done

# metric value: first sample of a series, whatever its labels.
value() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { print $NF; exit }' "$out"; }
check_ge() { # name min
  local v; v=$(value "$1")
  [ -n "$v" ] || fail "metric $1 missing from $metrics_url"
  awk -v v="$v" -v min="$2" 'BEGIN { exit !(v >= min) }' || fail "metric $1 = $v, expected >= $2"
  echo "smoke: ok $1 = $v"
}

# netsnmp: the host has made connections since boot (at least our curl).
check_ge system_network_tcp_active_opens_total 1
check_ge system_network_tcp_passive_opens_total 1
check_ge system_network_tcp_segments_total 1
check_ge system_network_tcp_current_established 0
check_ge system_network_udp_datagrams_total 0
check_ge system_network_tcp_listen_overflows_total 0
# Cumulative counters must not go backwards between two scrapes.
first=$(value system_network_tcp_segments_total)
sleep 11
curl -fsS "$metrics_url" >"$out" || fail "second scrape of $metrics_url failed"
second=$(value system_network_tcp_segments_total)
awk -v a="$first" -v b="$second" 'BEGIN { exit !(b > a) }' || fail "tcp segments did not grow: $first -> $second"
echo "smoke: ok system_network_tcp_segments_total grew $first -> $second"

for extra in ${SMOKE_EXTRA_METRICS:-}; do check_ge "$extra" 0; done

# Zap's console encoding puts the level between tabs.
if grep -qP '\t(error|panic|fatal)\t' "$log"; then
  grep -P '\t(error|panic|fatal)\t' "$log" | head -5
  fail "the collector logged errors"
fi

kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null && fail "collector did not stop within 10s of SIGTERM"
wait "$pid" && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "collector exited with status $rc after SIGTERM"
grep -q "Shutdown complete" "$log" || fail "no 'Shutdown complete' in the log"
echo "smoke: PASS ($bin on $config: healthy, metrics present and growing, clean shutdown)"
