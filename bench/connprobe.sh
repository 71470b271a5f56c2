#!/usr/bin/env bash
# Side-by-side: the connprobe engine and fping 5.x pinging the same 1000
# (TARGETS=10000 for the large run)
# addresses (on the target namespace's lo, routed over a veth) at 1 ping/s
# each, in one run. A 30% nft drop sits on 10.200.1.0/24 (256 targets);
# nft counts requests per prober by packet size (ours 56-byte payload,
# fping 40) so each prober's loss is checked against its own counters.
# Prints CPU seconds, CPU per minute, max RSS, loss vs nft and median RTT,
# and last ratio=<ours CPU / fping CPU>.
# With TARGETS=10000 it also checks that the engine holds the schedule on
# less than one core: every target pinged once a second (sent = targets x
# seconds per round) with exact loss and no burst counted twice.
# Usage: [TARGETS=1000|10000] bench/connprobe.sh [seconds]   (root; not part of make test)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need --root ip:iproute2 nft:nftables fping tcpdump /usr/bin/time:time
secs=${1:-60}
ntargets=${TARGETS:-1000}
case "$ntargets" in 1000 | 10000) ;; *) echo "TARGETS must be 1000 or 10000" >&2; exit 2 ;; esac
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
for i in $(seq 0 $((ntargets - 1))); do echo "10.200.$((i / 250)).$((i % 250 + 1))"; done >"$work/targets"
sed 's|^|addr add |; s|$|/32 dev lo|' "$work/targets" | ip -n "$t" -batch -
ip netns exec "$t" nft -f - <<'NFT'
table ip probe {
  chain input {
    type filter hook input priority 0;
    ip daddr 10.200.0.0/16 icmp type echo-request ip length 84 counter comment "ours_every"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 84 counter comment "ours_all"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 68 counter comment "fping_all"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 84 numgen random mod 10 < 3 counter drop comment "ours_drop"
    ip daddr 10.200.1.0/24 icmp type echo-request ip length 68 numgen random mod 10 < 3 counter drop comment "fping_drop"
  }
}
NFT
go build -o "$work/ours" ./receiver/connprobereceiver/internal/benchcmd

# fping: 1 ping/s per target (-p 1000), -i 0.5 ms between sends for 1000
# targets. One fping cannot ping 10000 targets a second: its 65535
# sequence numbers are held 10 s each ("not enough sequence numbers
# available"), so the 10000 targets go to two fping processes of 5000
# (-i 0.2 ms each), and time sums their CPU (max RSS is the larger one).
# Each of their raw sockets also receives the other's replies, which
# adds to their kernel CPU: the 10000-target ratio flatters us.
nfping=$(( (ntargets + 4999) / 5000 ))
split -n "l/$nfping" -d "$work/targets" "$work/fping-targets."
rounds=${ROUNDS:-3}
run_fping() { # round
  # shellcheck disable=SC2016
  ip netns exec "$c" /usr/bin/time -f "%U %S %M" -o "$work/fping.$1.time" \
    sh -c 'for f in "$@"; do fping -q -C "$SECS" -p 1000 -i "$IVAL" -b 40 -t 500 -f "$f" 2>"$f.out" & done; wait' fping "$work"/fping-targets.?? || true
  cat "$work"/fping-targets.??.out >"$work/fping.$1.out"
}
export SECS=$secs IVAL
IVAL=$(awk -v n="$ntargets" -v p="$nfping" 'BEGIN { print 500 * p / n }')
run_ours() { # round
  "$work/ours" -netns "/run/netns/$c" -interval 1s -duration "${secs}s" ${CONNPROBE_BENCH_ARGS:-} <"$work/targets" >"$work/ours.$1.out"
}
# Packet capture at the client's veth: the wire-side RTT of every probe.
# (At 10000 targets only the first 250 are captured, to keep the file small.)
capfilter=icmp; [ "$ntargets" = 1000 ] || capfilter="icmp and net 10.200.0.0/24"
ip netns exec "$c" tcpdump -i vc -n -s 128 -B 65536 --time-stamp-precision=nano -w "$work/cap.pcap" "$capfilter" 2>"$work/tcpdump.err" &
tcpd=$!
sleep 1
# Rounds alternate ours and fping on the same namespaces and targets; CPU
# is the least of the rounds (other work on the machine only adds: the
# kernel charges softirq packet processing to whichever process is on the
# CPU). MODE=parallel runs both at once instead (CPU figures then mix).
for i in $(seq "$rounds"); do
  if [ "${MODE:-sequential}" = parallel ]; then
    run_fping "$i" & fp=$!; run_ours "$i"; wait $fp
  else
    run_ours "$i"; run_fping "$i"
  fi
done
sleep 1; kill -INT $tcpd; wait $tcpd 2>/dev/null || true
[ -z "${KEEP:-}" ] || cp "$work"/*.out "$work"/*.time "$KEEP"/

# Pair requests and replies by (target, id, seq) per ICMP length (ours 64,
# fping 48) and print the median wire RTT in µs.
tcpdump -r "$work/cap.pcap" -n -tt --time-stamp-precision=nano 2>/dev/null | awk '
  / echo request/ { split($0, f, /[ ,]+/); for (i in f) { if (f[i]=="id") id=f[i+1]; if (f[i]=="seq") sq=f[i+1]; if (f[i]=="length") ln=f[i+1] }
                    dst=$5; sub(":","",dst); req[dst" "id" "sq" "ln]=$1 }
  / echo reply/   { split($0, f, /[ ,]+/); for (i in f) { if (f[i]=="id") id=f[i+1]; if (f[i]=="seq") sq=f[i+1]; if (f[i]=="length") ln=f[i+1] }
                    k=$3" "id" "sq" "ln; if (k in req) { print ln, ($1-req[k])*1e6; delete req[k] } }' >"$work/wire"
median() { sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.1f", a[int((NR+1)/2)]; else print "n/a"}'; }
wire_ours=$(awk '$1==64 {print $2}' "$work/wire" | median)
wire_fping=$(awk '$1==48 {print $2}' "$work/wire" | median)
cnt() { ip netns exec "$t" nft list table ip probe | awk -v k="\"$1\"" '$0 ~ k { for (i=1;i<=NF;i++) if ($i=="packets") print $(i+1) }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# ours: key=value lines per round
o_cpu=$(cat "$work"/ours.*.out | field cpu_s | sort -n | head -1)
o_user=$(cat "$work"/ours.*.out | field user_s | sort -n | head -1)
o_rss=$(cat "$work"/ours.*.out | field maxrss_kb | sort -n | tail -1)
o_sent_drop=$(cat "$work"/ours.*.out | field sent_drop | awk '{s+=$1} END {print s+0}')
o_recv_drop=$(cat "$work"/ours.*.out | field recv_drop | awk '{s+=$1} END {print s+0}')
o_sent=$(cat "$work"/ours.*.out | field sent_all | awk '{s+=$1} END {print s+0}')
o_recv=$(cat "$work"/ours.*.out | field recv_all | awk '{s+=$1} END {print s+0}')
o_foreign=$(cat "$work"/ours.*.out | field foreign | awk '{s+=$1} END {print s+0}')
o_wsent=$(cat "$work"/ours.*.out | field window_sent | awk '{s+=$1} END {print s+0}')
o_wrecv=$(cat "$work"/ours.*.out | field window_recv | awk '{s+=$1} END {print s+0}')
o_bursts=$(cat "$work"/ours.*.out | field bursts | awk '{s+=$1} END {print s+0}')
o_rtt=$(cat "$work"/ours.*.out | field median_rtt_us | median)
o_vcsw=$(cat "$work"/ours.*.out | field sleeps | median)
# fping: /usr/bin/time "user sys rss"; -C lines "addr : t1 t2 - ..." ("-" = lost)
# (the last line: fping exits 1 when a target lost a ping, which time
# reports on a line of its own first)
f_cpu=$(for f in "$work"/fping.*.time; do tail -n1 "$f"; done | awk '{print $1+$2}' | sort -n | head -1)
f_user=$(for f in "$work"/fping.*.time; do tail -n1 "$f"; done | awk '{print $1}' | sort -n | head -1)
f_rss=$(for f in "$work"/fping.*.time; do tail -n1 "$f"; done | awk '{print $3}' | sort -n | tail -1)
read -r f_sent_drop f_recv_drop < <(cat "$work"/fping.*.out | awk -F' : ' '$1 ~ /^10\.200\.1\./ { n=split($2,a," "); for(i=1;i<=n;i++){s++; if(a[i]!="-") r++} } END {print s+0, r+0}')
f_rtt=$(cat "$work"/fping.*.out | awk -F' : ' '$1 ~ /^10\.200\./ { n=split($2,a," "); for(i=1;i<=n;i++) if(a[i]!="-") print a[i]*1000 }' | median)
perprobe() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.1f", c*1e6/n }'; }
permin() { awk -v c="$1" -v s="$secs" 'BEGIN { printf "%.3f", c*60/s }'; }

echo "targets=$ntargets at 1 ping/s, $rounds rounds of ${secs}s each (MODE=${MODE:-sequential}); CPU = least round"
printf "%-6s cpu_per_min_s=%-7s user_per_min_s=%-7s us_per_probe=%-6s maxrss_kb=%-6s | 30%%-drop subset: sent=%s lost=%s, nft: requests=%s dropped=%s | median RTT us: reported=%s wire=%s\n" \
  ours "$(permin "$o_cpu")" "$(permin "$o_user")" "$(perprobe "$o_cpu" $((ntargets * secs)))" "$o_rss" \
  "$o_sent_drop" "$((o_sent_drop - o_recv_drop))" "$(cnt ours_all)" "$(cnt ours_drop)" "$o_rtt" "$wire_ours"
printf "%-6s cpu_per_min_s=%-7s user_per_min_s=%-7s us_per_probe=%-6s maxrss_kb=%-6s | 30%%-drop subset: sent=%s lost=%s, nft: requests=%s dropped=%s | median RTT us: reported=%s wire=%s (fping prints 10 us steps)\n" \
  fping "$(permin "$f_cpu")" "$(permin "$f_user")" "$(perprobe "$f_cpu" $((ntargets * secs)))" "$f_rss" \
  "$f_sent_drop" "$((f_sent_drop - f_recv_drop))" "$(cnt fping_all)" "$(cnt fping_drop)" "$f_rtt" "$wire_fping"
echo "ours: voluntary context switches per second=$(awk -v v="$o_vcsw" -v s="$secs" 'BEGIN { printf "%.0f", v/s }') (median round)"
echo "ours: requests cumulative=$o_sent, summed over 1 s scrape windows=$o_wsent in $o_bursts bursts, seen by nft=$(cnt ours_every); replies cumulative=$o_recv windows=$o_wrecv; foreign ICMP rejected=$o_foreign"
grep -h "dropped by kernel" "$work/tcpdump.err" || true
# Holding the schedule: each round sends one request per target per second
# (a target's phase may put one more or one less in the round), on less
# than one core.
awk -v sent="$o_sent" -v r="$rounds" -v n="$ntargets" -v s="$secs" -v cpu="$o_cpu" -v b="$o_bursts" -v w="$o_wsent" 'BEGIN {
  f = sent / (r * n * s); core = cpu / s
  printf "ours: schedule: sent/(targets x seconds)=%.4f, CPU=%.3f of one core, bursts=%d windows_sent=%d cumulative=%d -> holds=%s\n",
    f, core, b, w, sent, (f > 0.99 && f < 1.01 + 1 / s && core < 1 && w == sent && b == sent) ? "yes" : "no" }'
awk -v a="$o_cpu" -v b="$f_cpu" 'BEGIN { printf "ratio=%.3f\n", a/b }'
