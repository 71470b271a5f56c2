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

# value NAME [LABEL=\"VALUE\" ...]: the first sample of metric NAME whose
# labels include all the given ones.
value() {
  local name=$1; shift
  awk -v m="$name" -v want="$*" '
    { split($1, p, "{"); if (p[1] != m) next
      n = split(want, w, " "); for (i = 1; i <= n; i++) if (index($1, w[i]) == 0) next
      print $NF; exit }' "$out"
}
check_ge() { # min name [labels...]
  local min=$1; shift
  local v; v=$(value "$@")
  [ -n "$v" ] || fail "metric $* missing from $metrics_url"
  awk -v v="$v" -v min="$min" 'BEGIN { exit !(v >= min) }' || fail "metric $* = $v, expected >= $min"
  echo "smoke: ok $* = $v"
}

# netsnmp: the host has made connections since boot (at least our curl).
check_ge 1 system_network_tcp_active_opens_total
check_ge 1 system_network_tcp_passive_opens_total
check_ge 1 system_network_tcp_segments_total
check_ge 0 system_network_tcp_current_established
check_ge 0 system_network_udp_datagrams_total
check_ge 0 system_network_tcp_listen_overflows_total
# Cumulative counters must not go backwards between two scrapes.
first=$(value system_network_tcp_segments_total)
sleep 11
curl -fsS "$metrics_url" >"$out" || fail "second scrape of $metrics_url failed"
second=$(value system_network_tcp_segments_total)
awk -v a="$first" -v b="$second" 'BEGIN { exit !(b > a) }' || fail "tcp segments did not grow: $first -> $second"
echo "smoke: ok system_network_tcp_segments_total grew $first -> $second"

# tcpflow: as root the eBPF probe attaches and sees our own scrapes' HTTP
# connections (short-lived: they show as closed flows and probe events, not
# necessarily as active ones); otherwise it must say why it is off.
if [ "$(id -u)" = 0 ]; then
  grep -q 'tcpflow receiver: eBPF probe attached' "$log" || fail "tcpflow did not attach as root"
  check_ge 1 tcp_flow_closed_total
  check_ge 1 tcp_flow_probe_events_total
  check_ge 0 tcp_flow_active
else
  grep -q 'tcpflow receiver disabled' "$log" || fail "tcpflow neither attached nor said why"
fi

# sockstate: the collector's own listeners exist, so listen >= 1.
check_ge 1 system_network_connection_count 'network_connection_state="listen"' 'network_transport="tcp"' 'network_type="ipv4"'
check_ge 0 system_network_connection_count 'network_transport="udp"'
# connprobe: loopback answers every ping.
check_ge 0 connprobe_ping_rtt_avg_seconds 'server_address="127.0.0.1"'
check_ge 0 connprobe_ping_rtt_avg_seconds 'server_address="::1"'
check_ge 1 connprobe_ping_packets_total 'network_io_direction="receive"'

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
