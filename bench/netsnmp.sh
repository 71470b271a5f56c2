#!/usr/bin/env bash
# Side-by-side: CPU per scrape of the netsnmp receiver against `nstat -az` and
# node_exporter's netstat collector, on this host, in one run.
# Prints a table, the ratios of our scrapes to the read floor (and to the
# read floor plus the cost of creating the same pdata points) and, last,
# ratio=<ours with the nstat family / nstat -az>.
# Usage: bench/netsnmp.sh [iterations]   (not part of make test)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need nstat:iproute2 bc python3 curl
n=${1:-300}
work=$(mktemp -d); trap 'kill $ne_pid 2>/dev/null || true; rm -rf "$work"' EXIT
ne_pid=

# ours: Go benchmarks of one scrape, as process CPU (user+sys, GC included)
# per scrape, which other load on the machine disturbs far less than wall time
go test -c -o "$work/netsnmp.test" ./receiver/netsnmpreceiver >/dev/null
"$work/netsnmp.test" -test.run '^$' -test.bench 'ReadFloor|ScrapeCurated|ScrapeNstat|PdataFloor' \
  -test.benchtime "${n}0x" -test.count 5 -test.benchmem >"$work/go.txt"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col_of() { awk -v b="$1" -v u="$2" '$1 ~ "^Benchmark" b "-" { for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$work/go.txt"; }
ns_of() { col_of "$1" cpu-ns/op | median; }
allocs_of() { col_of "$1" allocs/op | head -1; }
floor=$(ns_of ReadFloor); curated=$(ns_of ScrapeCurated); full=$(ns_of ScrapeNstat)
pcur=$(ns_of PdataFloorCurated); pfull=$(ns_of PdataFloorNstat)

# children's CPU (user+sys, seconds) of a command run n times
cpu_of_loop() {
  local t
  t=$( { for _ in $(seq "$n"); do "$@" >/dev/null; done; times; } | tail -1)
  echo "$t" | awk '{ split($1,u,"m"); split($2,s,"m"); sub("s","",u[2]); sub("s","",s[2]); print (u[1]*60+u[2]+s[1]*60+s[2]) }'
}
nstat_s=$(cpu_of_loop env NSTAT_HISTORY="$work/h" nstat -asz)
nstat_ns=$(awk -v s="$nstat_s" -v n="$n" 'BEGIN { printf "%d", s*1e9/n }')

# node_exporter with only the netstat collector, scraped n times
ne_ns=NA
if command -v prometheus-node-exporter >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  prometheus-node-exporter --collector.disable-defaults --collector.netstat \
    --web.listen-address "127.0.0.1:$port" >"$work/ne.log" 2>&1 &
  ne_pid=$!
  for _ in $(seq 50); do curl -fsS "127.0.0.1:$port/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
  ticks() { awk '{print $14+$15}' "/proc/$ne_pid/stat"; }
  t0=$(ticks)
  for _ in $(seq "$n"); do curl -fsS "127.0.0.1:$port/metrics" >/dev/null; done
  t1=$(ticks)
  ne_ns=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d", (b-a)/hz*1e9/n }')
fi

printf '%-44s %12s %8s\n' "what (CPU per scrape)" "µs" "allocs"
printf '%-44s %12.1f %8s\n' "read() the 3 files only (read floor)" "$(echo "$floor/1000" | bc -l)" "$(allocs_of ReadFloor)"
printf '%-44s %12.1f %8s\n' "create the curated points (pdata floor)" "$(echo "$pcur/1000" | bc -l)" "$(allocs_of PdataFloorCurated)"
printf '%-44s %12.1f %8s\n' "create curated + nstat points (pdata floor)" "$(echo "$pfull/1000" | bc -l)" "$(allocs_of PdataFloorNstat)"
printf '%-44s %12.1f %8s\n' "netsnmp, curated metrics" "$(echo "$curated/1000" | bc -l)" "$(allocs_of ScrapeCurated)"
printf '%-44s %12.1f %8s\n' "netsnmp, curated + whole nstat family" "$(echo "$full/1000" | bc -l)" "$(allocs_of ScrapeNstat)"
printf '%-44s %12.1f\n' "nstat -az (process, all counters)" "$(echo "$nstat_ns/1000" | bc -l)"
[ "$ne_ns" = NA ] || printf '%-44s %12.1f\n' "node_exporter netstat collector (+HTTP)" "$(echo "$ne_ns/1000" | bc -l)"
# against the read floor alone, and against both floors: pdata allocates
# every metric, point, value and attribute separately, which no receiver
# emitting the same points avoids
echo "curated/floor=$(echo "scale=2; $curated/$floor" | bc) nstat-family/floor=$(echo "scale=2; $full/$floor" | bc)"
echo "curated/(floor+pdata)=$(echo "scale=2; $curated/($floor+$pcur)" | bc) nstat-family/(floor+pdata)=$(echo "scale=2; $full/($floor+$pfull)" | bc)"
[ "$ne_ns" = NA ] || echo "ratio_node_exporter=$(echo "scale=3; $full/$ne_ns" | bc)"
echo "ratio=$(echo "scale=3; $full/$nstat_ns" | bc)"
