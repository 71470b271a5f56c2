#!/usr/bin/env bash
# Least privilege, for real: runs the distribution as an unprivileged user
# (nobody) with exactly the capabilities deploy/systemd grants, then with
# none, and checks what each receiver does.
#   with CAP_NET_RAW CAP_BPF CAP_PERFMON: every receiver reports (tcpflow's
#     eBPF probe attaches, connprobe pings over its raw ICMP socket);
#   with no capability: netsnmp and sockstate still report (sockdiag needs no
#     privilege), tcpflow says it is disabled and names CAP_BPF/CAP_PERFMON,
#     connprobe names CAP_NET_RAW and counts permission errors; no panic, and
#     a clean shutdown either way.
# Usage: test/privileges/run.sh BINARY   (needs root to drop to nobody)
set -euo pipefail
bin=$(realpath "${1:?binary}")
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "privileges: SKIP: needs root to switch to an unprivileged user with chosen capabilities"; exit 0; }
command -v setpriv >/dev/null || { echo "privileges: FAIL: setpriv (util-linux) missing"; exit 1; }
tmp=$(mktemp -d); chmod 755 "$tmp"; pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
url=http://127.0.0.1:18889/metrics

fail() { echo "privileges: FAIL ($1): $2"; echo "--- log"; grep -vP '\tdebug\t' "$tmp/log" | cut -c1-400 | tail -30; exit 1; }

# run NAME CAPS: start as nobody with CAPS (comma list like +net_raw,+bpf or empty)
run() {
  local name=$1 caps=$2 set
  if [ -n "$caps" ]; then set="-all,$caps"; else set="-all"; fi
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" \
    "$bin" --config "$here/config.yaml" >"$tmp/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 60); do
    curl -fsS "$url" >"$tmp/out" 2>/dev/null && grep -q '^system_network_connection_count' "$tmp/out" \
      && grep -q '^system_network_tcp_active_opens_total' "$tmp/out" && break
    kill -0 "$pid" 2>/dev/null || fail "$name" "collector exited"
    sleep 0.25
  done
  sleep 4.5 # a few 2 s scrapes, with our own curl traffic as TCP flows
  curl -fsS "$url" >"$tmp/out" || fail "$name" "no metrics"
  grep -q '^panic' "$tmp/log" && fail "$name" "panic"
  kill -TERM "$pid"; wait "$pid" || fail "$name" "exit status $? after SIGTERM"; pid=
  grep -q 'Shutdown complete' "$tmp/log" || fail "$name" "no clean shutdown"
}
has_metric() { grep -Eq "^$1(\{| )" "$tmp/out"; }
has_log() { grep -q -- "$1" "$tmp/log"; }

run with-caps +net_raw,+bpf,+perfmon
for m in system_network_tcp_active_opens_total system_network_connection_count tcp_flow_active connprobe_ping_rtt_avg_seconds; do
  has_metric "$m" || fail with-caps "metric $m missing"
done
has_log 'eBPF probe attached' || fail with-caps "tcpflow did not attach its eBPF probe"
echo "privileges: ok as nobody with CAP_NET_RAW CAP_BPF CAP_PERFMON: every receiver reports"

run no-caps ""
for m in system_network_tcp_active_opens_total system_network_connection_count; do
  has_metric "$m" || fail no-caps "metric $m missing"
done
has_metric tcp_flow_active && fail no-caps "tcpflow reported flows without CAP_BPF"
has_log 'tcpflow receiver disabled' || fail no-caps "tcpflow did not say it is disabled"
has_log 'CAP_BPF' || fail no-caps "no message naming CAP_BPF"
has_log 'CAP_NET_RAW' || fail no-caps "no message naming CAP_NET_RAW"
grep -q 'connprobe_errors.*permission_denied' "$tmp/out" || fail no-caps "connprobe did not count permission errors"
echo "privileges: ok as nobody with no capability: netsnmp and sockstate report, tcpflow and connprobe degrade with messages naming the capability"
echo "privileges: PASS"
