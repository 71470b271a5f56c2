#!/usr/bin/env bash
# Overhead of the tcpflow eBPF probe (receiver/tcpflowreceiver), in one run:
#  - per-event cost of its tp_btf/tcp_probe program in every_ack mode from
#    bpf_stats (run_time_ns/run_cnt), next to an empty program (the floor:
#    entry/exit and stats accounting), a minimal sk_storage program and an LRU
#    hash keyed by the 4-tuple, all attached to the same tracepoint at once;
#  - bulk TCP throughput over a veth between two network namespaces with and
#    without the probe, in interleaved rounds, offloaded (veth GSO/TSO
#    defaults) and per packet (gso_max_segs 1).
# With "logs" as third argument (logs mode) the probe streams every sample to
# its ring buffer, drained by a reader as a logs pipeline would, and each mode
# also prints, from the same run: samples/s drained; samples dropped by
# reason (sample_ring_full, sample_rate_limit, undecodable); the rate at
# which one reader drains a filled ring; the kernel cost per emitted sample
# (bpf_stats run time of tcp_probe / samples written), next to a second
# probe with the stream off attached at the same time (same events); and
# throughput loss in interleaved rounds of no probe, probe with the stream
# off and probe with the stream on (on vs none, off vs none, on vs off).
# Prints ratio=<throughput with probe (and stream in logs mode) / without>
# (per-packet mode) last.
# Usage: bench/tcpflow.sh [rounds] [seconds-per-run] [logs]   (root; not part of make test)
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
