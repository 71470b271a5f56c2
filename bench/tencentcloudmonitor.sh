#!/usr/bin/env bash
# Points per second through the tencentcloudmonitor exporter (ConsumeMetrics
# -> per-minute aggregation -> queue -> PutMonitorData) to the in-test fake
# server, against the floor of bare SDK PutMonitorData calls of 30 pairs to
# the same server, measured in one `go test` run. Prints both, then
# ratio=<exporter points/s / bare SDK points/s> last (1.0 = no overhead).
# Usage: bench/tencentcloudmonitor.sh [iterations]   (default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need awk:mawk
N=${1:-1000}
out=$(go test -run XXX -bench 'BenchmarkExport$|BenchmarkSDKFloor$' -benchtime "${N}x" ./exporter/tencentcloudmonitorexporter/)
echo "$out" | grep '^Benchmark'
rate() { echo "$out" | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "points/s") print $i }'; }
ours=$(rate BenchmarkExport)
theirs=$(rate BenchmarkSDKFloor)
[ -n "$ours" ] && [ -n "$theirs" ] || { echo "benchmark output not understood" >&2; exit 1; }
awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "ratio=%.3f\n", o / t }'
