#!/usr/bin/env bash
# Overhead of the tcpflow eBPF probe (receiver/tcpflowreceiver), in one run:
#  - per-event cost of its tp_btf/tcp_probe program in every_ack mode from
#    bpf_stats (run_time_ns/run_cnt), next to an empty program (the floor:
#    entry/exit and stats accounting), a minimal sk_storage program and an LRU
#    hash keyed by the 4-tuple, all attached to the same tracepoint at once;
#  - bulk TCP throughput over a veth between two network namespaces with and
#    without the probe, in interleaved pairs, offloaded (veth GSO/TSO
#    defaults) and per packet (gso_max_segs 1).
# With "logs" as third argument (logs mode) the probe streams every sample to
# its ring buffer, drained by a reader as a logs pipeline would, and it also
# prints samples/s drained, samples dropped (ring full, rate cap), the rate at
# which one reader drains a filled ring, and the kernel cost per emitted
# sample; the throughput pairs then compare no probe with probe + stream.
# Prints ratio=<throughput with probe / without> (per-packet mode) last.
# Usage: bench/tcpflow.sh [pairs] [seconds-per-run] [logs]   (root; not part of make test)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need --root
pairs=${1:-10}
secs=${2:-1}
bin=$(mktemp)
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./receiver/tcpflowreceiver/internal/benchcmd
logs=false
[ "${3:-}" = logs ] && logs=true
"$bin" -pairs "$pairs" -run "${secs}s" -logs="$logs"
