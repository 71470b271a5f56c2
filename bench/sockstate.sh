#!/usr/bin/env bash
# Side-by-side: CPU per scrape of the sockstate receiver's methods against
# `ss -ant | grep -v State | awk '{s[$1]++} ...'` and gopsutil's
# net.ConnectionsWithContext(ctx, "tcp") on the same population, in one run,
# at 100k and 300k TCP sockets (90% ESTABLISHED, 10% FIN_WAIT_2/CLOSE_WAIT
# pairs, which do not time out) held by worker processes in a fresh netns.
# Also: our peak-RSS growth from an empty namespace, counts of every method
# (must be identical), the events program's cost per state change and
# connect/close throughput with and without it.
# Prints a table per size and, last, ratio=<events/ss|awk at the largest size>.
# A size written <namespaces>x<sockets> (e.g. 100x1000) measures an all_netns
# scrape instead: that many fresh namespaces, each with a holder of that many
# TCP sockets, read by one scrape per method, against the iterator reopened
# per namespace (how all_netns counted before methods were opened once) and
# `ss -ant | awk` run in each namespace; it prints both ratios per method,
# and the CPU of listing and attributing the namespaces (podattr.Lister) per
# scrape against a whole scrape that lists with it:
# allnetns_attribution_cpu_us and allnetns_attribution_pct (goal: <= 5).
# Usage: sudo bench/sockstate.sh [sizes...]   (default: 100000 300000; root; not part of make test)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need --root ip:iproute2 ss:iproute2 nsenter:util-linux bc
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(100000 300000)
work=$(mktemp -d)
ns=sockbench-$$ ; empty=sockbench-empty-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$empty" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BENCH_PREBUILT:-}" ]; then
  # Binaries built elsewhere (the kernel matrix's guest has no Go toolchain).
  cp "$BENCH_PREBUILT"/{holder,gopsutil,sockstate.test} "$work/"
else
  (cd bench/sockstate && go build -o "$work/holder" ./holder && go build -o "$work/gopsutil" ./gopsutil)
  go test -c -o "$work/sockstate.test" ./receiver/sockstatereceiver >/dev/null
fi

ratio=NA
for size in "${sizes[@]}"; do
  if [[ $size == *x* ]]; then
    if ! SOCKSTATE_BENCH_ALLNETNS=$size SOCKSTATE_BENCH_HOLDER=$work/holder SOCKSTATE_BENCH_BUDGET=${BUDGET:-2s} \
      "$work/sockstate.test" -test.run '^TestBenchAllNetNS$' -test.count 1 -test.timeout 0 >"$work/out.txt" 2>&1; then
      cat "$work/out.txt" >&2; exit 1
    fi
    grep '=' "$work/out.txt" >"$work/r.txt"
    get() { awk -F= -v k="$1" '$1==k {print $2}' "$work/r.txt"; }
    echo "== all_netns: ${size%x*} namespaces of ${size#*x} TCP sockets ($(get allnetns_tcp_sockets_held) held), one scrape"
    printf '%-42s %16s %14s\n' "method" "CPU/scrape µs" "TCP counted"
    for m in iterator_reopened_per_namespace iterator events; do
      printf '%-42s %16s %14s\n' "sockstate $m" "$(get "allnetns_${m}_cpu_us")" "$(get "allnetns_${m}_tcp_sockets")"
    done
    printf '%-42s %16s\n' "ss -ant | grep | awk in each namespace" "$(get allnetns_ss_awk_cpu_us)"
    for m in iterator events; do
      echo "$m: $(get "allnetns_ratio_iterator_reopened_per_namespace_over_$m")x less CPU than the iterator reopened per namespace, $(get "allnetns_ratio_ss_awk_over_$m")x less than ss|awk"
    done
    echo "listing + attribution (podattr.Lister over the host's $(get allnetns_listed_namespaces) namespaces, resolver warm): $(get allnetns_attribution_cpu_us) µs per scrape" \
         "($(get allnetns_attribution_cold_cpu_us) µs cold), against a whole $(get allnetns_listed_method) all_netns scrape listing with it: $(get allnetns_listed_scrape_cpu_us) µs"
    echo "allnetns_attribution_cpu_us=$(get allnetns_attribution_cpu_us)"
    echo "allnetns_attribution_pct=$(get allnetns_attribution_pct)"
    ratio=$(echo "scale=5; $(get allnetns_events_cpu_us)/$(get allnetns_ss_awk_cpu_us)" | bc)
    continue
  fi
  ip netns add "$ns"; ip netns add "$empty"
  ip -n "$ns" link set lo up; ip -n "$empty" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
  per=9000                                    # pairs per worker: 18,000 sockets < 20,000 open files
  pairs=$(( size / 2 )); left=$pairs
  i=0
  while [ "$left" -gt 0 ]; do
    k=$(( left < per ? left : per )); left=$(( left - k )); i=$(( i + 1 ))
    ip netns exec "$ns" "$work/holder" -pairs "$k" -halfclosed $(( k / 10 )) >"$work/h$i.out" &
    pids+=($!)
  done
  for j in $(seq "$i"); do  # wait until every worker holds its sockets
    until grep -q ready "$work/h$j.out" 2>/dev/null; do
      kill -0 "${pids[$((j-1))]}" 2>/dev/null || { echo "holder $j failed" >&2; exit 1; }
      sleep 0.2
    done
  done
  sleep 1
  have=$(ip netns exec "$ns" ss -Htan | wc -l)
  SOCKSTATE_BENCH_NETNS=/run/netns/$ns SOCKSTATE_BENCH_EMPTY_NETNS=/run/netns/$empty \
  SOCKSTATE_BENCH_BUDGET=${BUDGET:-2s} SOCKSTATE_BENCH_GOPSUTIL=$work/gopsutil \
    "$work/sockstate.test" -test.run '^TestBenchSockstate$' -test.count 1 | grep '=' >"$work/r.txt"
  get() { awk -F= -v k="$1" '$1==k {print $2}' "$work/r.txt"; }
  ss_us=$(get ss_awk_cpu_us); gp_us=$(get gopsutil_cpu_us)
  echo "== $size requested, $have TCP sockets in the namespace (ss), $(get ours_sockdiag_sockets) counted by every method: identical=$(get identical_counts)"
  printf '%-30s %14s %10s %12s %12s\n' "method" "CPU/scrape µs" "user share" "vs ss|awk" "vs gopsutil"
  for m in events iterator sockdiag procfs; do
    us=$(get "ours_${m}_cpu_us")
    printf '%-30s %14s %10s %11.1fx %11.1fx\n' "sockstate $m" "$us" "$(get "ours_${m}_user_share")" \
      "$(echo "$ss_us/$us" | bc -l)" "$(echo "${gp_us:-0}/$us" | bc -l)"
  done
  printf '%-30s %14s\n' "ss -ant | grep | awk" "$ss_us"
  printf '%-30s %14s   (%s connections)\n' "gopsutil ConnectionsWithContext" "${gp_us:-NA}" "$(get gopsutil_conns)"
  echo "kernel floor, sock_diag TCP dump that only counts: one pass per family $(get floor_sockdiag_tcp_dump_cpu_us) µs, both families in one pass $(get floor_sockdiag_tcp_dump_one_pass_cpu_us) µs"
  if [ "$(get events_hooked)" = true ]; then
    echo "events: timewait and request sockets from fentry/fexit hooks (no walk); a sock_diag walk of them would cost $(get events_filtered_walk_cpu_us) µs"
  else
    echo "events' remaining filtered walk (timewait + request sockets, one pass; fentry refused here): $(get events_filtered_walk_cpu_us) µs"
  fi
  echo "peak RSS growth empty -> $size sockets: $(get rss_growth_kib) KiB"
  echo "events: $(get events_ns_per_state_change) ns per state change over $(get events_state_changes) changes;" \
       "connect/accept/close x1000: $(get churn_ms_without_events) ms without, $(get churn_ms_with_events) ms with (ratio $(get churn_ratio_with_over_without), median of 20 interleaved pairs); drift found by a resync after that churn: $(get events_drift_after_churn)"
  if [ "$(get hooks)" = attached ]; then
    echo "timewait/request-socket hooks: $(get hook_ns_per_event) ns per hook event over $(get hook_events) events (bpf_stats)"
  fi
  ratio=$(echo "scale=5; $(get ours_events_cpu_us)/$ss_us" | bc)
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true; pids=()
  ip netns del "$ns"; ip netns del "$empty"
done
echo "ratio=$ratio"
