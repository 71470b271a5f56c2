#!/usr/bin/env bash
# Dashboard query test: every PromQL query of dashboards/*.json must return
# series from a real Prometheus server scraping the running distribution.
#
#   test/dashboards/run.sh BINARY [DASHBOARD.json ...]
#
# Starts, on 127.0.0.1 with free random ports only:
#  - test/dashboards/trafficgen: an echo server with long-lived streams and
#    a churn of short connections (so per-flow, listen-queue and
#    connection-state series exist);
#  - BINARY on test/dashboards/config.yaml (every receiver; connprobe probes
#    127.0.0.1 and ::1 only; tcpflow needs root: CAP_BPF + CAP_PERFMON);
#  - Debian's prometheus (2.42) with a temporary TSDB, scraping the
#    Prometheus exporter and the Collector's own telemetry every second (lib.sh start_prometheus);
# then evaluates every panel query and every label_values() variable through
# /api/v1/query (test/dashboards/querycheck) and fails naming each panel that
# returns no series. Everything it started is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run.sh BINARY [DASHBOARD.json ...]}")
shift
dashboards=("$@")
# shellcheck source=lib.sh
. "$here/lib.sh"
[ ${#dashboards[@]} -gt 0 ] || dashboards=("$repo"/dashboards/*.json)

if [ "$(id -u)" != 0 ]; then
  echo "dashboards: SKIP: needs root (the tcpflow receiver loads eBPF programs: CAP_BPF + CAP_PERFMON)"
  exit 0
fi
command -v prometheus >/dev/null || { echo "dashboards: FAIL: prometheus not installed (apt-get install prometheus)"; exit 1; }

work=$(mktemp -d /tmp/dashboards.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  stop_pids
  show_logs "$rc"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

export PROM_EXPORTER_PORT TELEMETRY_PORT TRAFFIC_PORT
read -r PROM_EXPORTER_PORT TELEMETRY_PORT TRAFFIC_PORT prom_port < <(free_ports 4)

(cd "$repo" && go build -o "$work/" ./test/dashboards/trafficgen ./test/dashboards/querycheck)

"$work/trafficgen" -listen "127.0.0.1:$TRAFFIC_PORT" -connect "127.0.0.1:$TRAFFIC_PORT" \
  -streams 3 -churn 50 -duration 5m 2>"$work/trafficgen.log" &
pids+=("$!")

"$bin" --config "$here/config.yaml" >"$work/collector.log" 2>&1 &
cpid=$!; pids+=("$cpid")

start_prometheus dashboards "$prom_port"

# Let rate() windows fill: data from several scrapes of every receiver.
sleep 8
for d in "${dashboards[@]}"; do
  echo "dashboards: checking $d"
  "$work/querycheck" -prometheus "http://127.0.0.1:$prom_port" -wait 45s -rate-interval 15s "$d"
done
kill -0 "$cpid" 2>/dev/null || { echo "dashboards: FAIL: the collector exited during the test"; exit 1; }
if grep -qP '\t(error|panic|fatal)\t' "$work/collector.log"; then
  grep -P '\t(error|panic|fatal)\t' "$work/collector.log" | head -5 | cut -c1-300
  echo "dashboards: FAIL: the collector logged errors"; exit 1
fi
echo "dashboards: PASS"
