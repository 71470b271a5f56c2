#!/usr/bin/env bash
# Memory of each receiver per unit of work (docs/memory.md), measured by
# the Go benchmarks BenchmarkMemoryPer*: each starts the real receiver's
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
#    source), a closed-flow record waiting for the next scrape (the real
#    probe), and in the kernel the flows map's value per tracked socket and
#    the memlock of the probe's maps (fixed at load).
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
# col NAME UNIT: the median of the figure reported in UNIT
col() { awk -v u="$2" '{ for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$work/$1" | median; }
row() { # receiver unit bytes-per-unit fixed-bytes
  printf '%-34s %-22s %10.0f B/unit %12.0f B fixed\n' "$1" "$2" "$3" "$4"
}

bench connprobe receiver/connprobereceiver BenchmarkMemoryPerTarget
bench sockstate receiver/sockstatereceiver BenchmarkMemoryPerNetNS
bench netsnmp receiver/netsnmpreceiver BenchmarkMemoryPerNetNS
bench tcpflow receiver/tcpflowreceiver BenchmarkMemoryPerFlow
bench probe receiver/tcpflowreceiver/internal/probe BenchmarkMemoryPerClosedFlow

echo "kernel $(uname -r), $(date -u +%F), median of $runs runs (Go heap+stacks in use after GC)"
row connprobe target "$(col connprobe B/target)" "$(col connprobe B-fixed)"
row "sockstate all_netns" netns "$(col sockstate B/netns)" "$(col sockstate B-fixed)"
row "netsnmp all_netns (nstat on)" netns "$(col netsnmp B/netns)" "$(col netsnmp B-fixed)"
row "tcpflow (aggregation: flow)" "tracked flow" "$(col tcpflow B/flow)" "$(col tcpflow B-fixed)"
row "tcpflow probe (user space)" "closed flow waiting" "$(col probe B/closed-flow)" "$(col probe B-fixed)"
row "tcpflow probe (kernel)" "tracked flow (value)" "$(col probe kernel-value-B/flow)" "$(col probe kernel-B-fixed)"
