#!/usr/bin/env bash
# Side-by-side: the connprobe engine and fping 5.x pinging the same 1000
# addresses (on the target namespace's lo, routed over a veth) at 1 ping/s
# each, in one run. A 30% nft drop sits on 10.200.1.0/24 (256 targets);
# nft counts requests per prober by packet size (ours 56-byte payload,
# fping 40) so each prober's loss is checked against its own counters.
# Prints CPU seconds, CPU per minute, max RSS, loss vs nft and median RTT,
# and last ratio=<ours CPU / fping CPU>.
# Usage: bench/connprobe.sh [seconds]   (root; not part of make test)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
c=cpb-c-$$ t=cpb-t-$$
work=$(mktemp -d)
cleanup() { ip netns del "$c" 2>/dev/null || true; ip netns del "$t" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$c"; ip netns add "$t"
ip link add vc netns "$c" type veth peer name vt netns "$t"
ip -n "$c" addr add 10.199.0.1/24 dev vc; ip -n "$t" addr add 10.199.0.2/24 dev vt
for n in "$c" "$t"; do ip -n "$n" link set lo up; done
ip -n "$c" link set vc up; ip -n "$t" link set vt up
ip -n "$c" route add 10.200.0.0/16 via 10.199.0.2
for i in $(seq 0 999); do echo "10.200.$((i / 250)).$((i % 250 + 1))"; done >"$work/targets"
sed 's|^|addr add |; s|$|/32 dev lo|' "$work/targets" | ip -n "$t" -batch -
ip netns exec "$t" nft -f - <<'NFT'
table ip probe {
  chain input {
    type filter hook input priority 0;
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 84 counter comment "ours_all"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 68 counter comment "fping_all"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 84 numgen random mod 10 < 3 counter drop comment "ours_drop"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 68 numgen random mod 10 < 3 counter drop comment "fping_drop"
  }
}
NFT
go build -o "$work/ours" ./receiver/connprobereceiver/internal/benchcmd

# fping: 1 ping/s per target (-p 1000), 1000 targets -> -i 0.5 ms between sends.
count=$secs
ip netns exec "$c" /usr/bin/time -f "fping_cpu=%U+%S fping_rss_kb=%M" -o "$work/fping.time" \
  fping -q -C "$count" -p 1000 -i 0.5 -b 40 -t 500 -f "$work/targets" 2>"$work/fping.out" &
fp=$!
"$work/ours" -netns "/run/netns/$c" -interval 1s -duration "${secs}s" <"$work/targets" >"$work/ours.out"
wait $fp || true

cnt() { ip netns exec "$t" nft list table ip probe | awk -v k="\"$1\"" '$0 ~ k { for (i=1;i<=NF;i++) if ($i=="packets") print $(i+1) }'; }
eval "$(tr ' ' '\n' <"$work/ours.out")"
fcpu=$(sed -n 's/.*fping_cpu=\([0-9.]*\)+\([0-9.]*\).*/\1 \2/p' "$work/fping.time" | awk '{print $1+$2}')
frss=$(sed -n 's/.*fping_rss_kb=\([0-9]*\).*/\1/p' "$work/fping.time")
# fping -C prints per target "addr : t1 t2 - ..." ("-" = lost)
fsent_drop=0 frecv_drop=0 fmed=
awk -F' : ' '$1 ~ /^10\.200\.1\./ { n=split($2,a," "); for(i=1;i<=n;i++){s++; if(a[i]!="-") r++} } END {print s+0, r+0}' "$work/fping.out" >"$work/fd"
read -r fsent_drop frecv_drop <"$work/fd"
fmed=$(awk -F' : ' '$1 ~ /^10\.200\./ { n=split($2,a," "); for(i=1;i<=n;i++) if(a[i]!="-") print a[i]*1000 }' "$work/fping.out" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

echo "targets=1000 seconds=$secs (1 ping/s each)"
printf "%-6s cpu_s=%-8s cpu_per_min_s=%-8s maxrss_kb=%-7s drop_subset: sent=%s lost=%s nft_all=%s nft_drop=%s  median_rtt_us=%s\n" \
  ours "$cpu_s" "$(awk -v c="$cpu_s" -v s="$secs" 'BEGIN{printf "%.3f", c*60/s}')" "$maxrss_kb" \
  "$sent_drop" "$((sent_drop - recv_drop))" "$(cnt ours_all)" "$(cnt ours_drop)" "$median_rtt_us"
printf "%-6s cpu_s=%-8s cpu_per_min_s=%-8s maxrss_kb=%-7s drop_subset: sent=%s lost=%s nft_all=%s nft_drop=%s  median_rtt_us=%s\n" \
  fping "$fcpu" "$(awk -v c="$fcpu" -v s="$secs" 'BEGIN{printf "%.3f", c*60/s}')" "$frss" \
  "$fsent_drop" "$((fsent_drop - frecv_drop))" "$(cnt fping_all)" "$(cnt fping_drop)" "$fmed"
echo "ours: sent_all=$sent_all recv_all=$recv_all foreign_icmp_rejected=$foreign malformed=$malformed"
awk -v a="$cpu_s" -v b="$fcpu" 'BEGIN { printf "ratio=%.3f\n", a/b }'
