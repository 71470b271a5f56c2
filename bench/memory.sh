#!/usr/bin/env bash
# Memory of each receiver per unit of work (docs/memory.md), measured by
# the Go benchmarks BenchmarkMemory*: each starts the real receiver's
# scraper in-process at two sizes of work (N and 10N units), brings it to a
# steady state (scrapes; connprobe probes for 4 s) and reads the Go heap and
# stacks in use after a full GC, minus the reading before it started. The
# difference between the sizes per unit is the cost per unit; what is left
# at zero units is the fixed cost. Units:
#  - connprobe: a target on a namespace's loopback (default ping bursts and
#    a 3-port TCP scan every second);
#  - sockstate, netsnmp all_netns: a network namespace with a process and a
#    few sockets in it (counted from the scrape, so namespaces other tests
#    add meanwhile do not skew it);
#  - tcpflow: a tracked flow (aggregation: flow, default top_k; a fake
#    source), a flow closed since the last scrape (the real probe), and in
#    the kernel the flows map's value per tracked socket and the memlock of
#    the probe's maps (fixed at load).
# Prints one line per receiver and unit: median bytes per unit and fixed
# bytes over the runs.
# Usage: bench/memory.sh [runs]   (root; not part of make test; ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need --root ip:iproute2
runs=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# bench NAME PACKAGE BENCHMARK: its result lines in $work/NAME
bench() {
  nice -n 19 go test -run '^$' -bench "^$3\$" -benchtime 1x -count "$runs" "./$2" >"$work/$1.out" ||
    { cat "$work/$1.out" >&2; exit 1; }
  grep "^$3" "$work/$1.out" >"$work/$1"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
# vals NAME UNIT: the figures reported in UNIT, one per run
vals() { awk -v u="$2" '{ for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$work/$1"; }
# col NAME UNIT: their median; range NAME UNIT: "min..max"
col() { vals "$1" "$2" | median; }
range() { vals "$1" "$2" | sort -n | awk 'NR == 1 {lo=$1} {hi=$1} END {printf "%.0f..%.0f", lo, hi}'; }
row() { # receiver unit NAME per-unit-UNIT fixed-UNIT
  printf '%-30s %-22s %8.0f B/unit (%s) %9.0f B fixed (%s)\n' "$1" "$2" \
    "$(col "$3" "$4")" "$(range "$3" "$4")" "$(col "$3" "$5")" "$(range "$3" "$5")"
}

bench connprobe receiver/connprobereceiver BenchmarkMemoryPerTarget
bench sockstate receiver/sockstatereceiver BenchmarkMemoryPerNetNS
bench netsnmp receiver/netsnmpreceiver BenchmarkMemoryPerNetNS
bench tcpflow receiver/tcpflowreceiver BenchmarkMemoryPerFlow
bench closed receiver/tcpflowreceiver BenchmarkMemoryPerClosedFlowWaiting
bench kernel receiver/tcpflowreceiver/internal/probe BenchmarkMemoryKernel

echo "kernel $(uname -r), $(date -u +%F); Go heap+stacks in use after GC; median (min..max) of $runs runs"
row connprobe target connprobe B/target B-fixed
row "sockstate all_netns" netns sockstate B/netns B-fixed
row "netsnmp all_netns, nstat on" netns netsnmp B/netns B-fixed
row "tcpflow, aggregation: flow" "tracked flow" tcpflow B/flow B-fixed
row "tcpflow, real probe" "flow closed, unscraped" closed B/closed-flow B-fixed
row "tcpflow probe, kernel" "tracked flow (value)" kernel kernel-value-B/flow kernel-B-fixed
