#!/usr/bin/env bash
# Live alert test: Debian's Prometheus loads deploy/prometheus/rules.yaml and
# alerts.yaml (a copy with every `for:` shortened to 2s) and scrapes the
# running distribution, while this script provokes, in a network namespace
# it creates, listen overflows, UDP receive-buffer errors and ping loss (an
# nft input rule drops half the echo requests to 127.0.0.2; dropped on
# output, the sender would get EPERM, which connprobe counts as an error).
# Those alerts must reach `firing` in /api/v1/alerts; alerts nothing
# provokes must stay inactive, among them NetstackProbeLoss for the clean
# target 127.0.0.1.
#
#   test/alerts/run.sh BINARY
#
# Needs root (network namespaces, nft). Traffic stays inside the namespace;
# the collector, Prometheus and their ports are on 127.0.0.1 (free ports).
# Takes about 30 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run.sh BINARY}")
# shellcheck source=../dashboards/lib.sh
. "$repo/test/dashboards/lib.sh"

if [ "$(id -u)" != 0 ]; then
  echo "alerts: SKIP: needs root (network namespaces and nft)"
  exit 0
fi
for c in prometheus nft python3 curl ip; do
  command -v "$c" >/dev/null || { echo "alerts: FAIL: $c not installed (make deps)"; exit 1; }
done

# Alerts provoked here, and alerts nothing here can trip.
must_fire=(NetstackTCPListenOverflows NetstackUDPReceiveBufferErrors NetstackProbeLoss NetstackTCPAcceptQueueFilling)
must_stay_quiet=(NetstackUDPSendBufferErrors NetstackTCPTimeWaitNearLimit NetstackTCPOrphansHigh NetstackRouteChanged
  NetstackProbeRTTAboveBaseline NetstackScrapeErrors NetstackExporterFailures NetstackCollectorDown NetstackEBPFDrops
  NetstackSockstateDrift)

work=$(mktemp -d /tmp/alerts.XXXXXX)
ns=netstack-alerts-$$
pids=()
cleanup() {
  local rc=$?
  stop_pids
  ip netns del "$ns" 2>/dev/null || true
  show_logs "$rc"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
start=$(date +%s)

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" nft -f - <<'EOF_NFT'
table inet netstack_alerts {
  chain in {
    type filter hook input priority 0;
    ip daddr 127.0.0.2 icmp type echo-request numgen random mod 2 == 0 drop
  }
}
EOF_NFT

export NETNS=/run/netns/$ns PROM_EXPORTER_PORT TELEMETRY_PORT LISTEN_PORT
read -r PROM_EXPORTER_PORT TELEMETRY_PORT prom_port < <(free_ports 3)
LISTEN_PORT=8080 udp_port=5353 # inside the namespace: nothing else there

sed -E 's/^( *)for: .*/\1for: 2s/' "$repo/deploy/prometheus/alerts.yaml" >"$work/alerts.yaml"
cp "$repo/deploy/prometheus/rules.yaml" "$work/rules.yaml"
"$bin" --config "$here/config.yaml" >"$work/collector.log" 2>&1 &
cpid=$!; pids+=("$cpid")
start_prometheus alerts "$prom_port" rules.yaml alerts.yaml

ip netns exec "$ns" python3 "$here/provoke.py" listen-overflow "$LISTEN_PORT" 90 &
pids+=("$!")
ip netns exec "$ns" python3 "$here/provoke.py" udp-rcvbuf "$udp_port" 90 &
pids+=("$!")

# states FILE: one line per alert, "NAME STATE LABELS", from /api/v1/alerts.
states() {
  python3 -c '
import json, sys
for a in json.load(open(sys.argv[1]))["data"]["alerts"]:
    l = dict(a["labels"]); name = l.pop("alertname")
    for k in ("job", "instance", "severity"): l.pop(k, None)
    print(name, a["state"], ",".join(f"{k}={v}" for k, v in sorted(l.items())))
' "$1"
}

ok=0
for _ in $(seq 1 60); do
  sleep 1
  kill -0 "$cpid" 2>/dev/null || break
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/alerts" >"$work/alerts.json" || continue
  states "$work/alerts.json" >"$work/states.txt"
  missing=0
  for a in "${must_fire[@]}"; do
    grep -q "^$a firing" "$work/states.txt" || missing=1
  done
  if [ "$missing" = 0 ]; then ok=1; break; fi
done
echo "alerts: after $(( $(date +%s) - start ))s, Prometheus reports:"
sed 's/^/  /' "$work/states.txt"

fail=0
for a in "${must_fire[@]}"; do
  grep -q "^$a firing" "$work/states.txt" || { echo "alerts: FAIL: $a did not fire"; fail=1; }
done
grep -q "^NetstackProbeLoss firing .*connprobe_target=lossy" "$work/states.txt" ||
  { echo "alerts: FAIL: NetstackProbeLoss did not fire for the lossy target"; fail=1; }
if grep -q "^NetstackProbeLoss .*connprobe_target=clean" "$work/states.txt"; then
  echo "alerts: FAIL: NetstackProbeLoss is active for the clean target"; fail=1
fi
for a in "${must_stay_quiet[@]}"; do
  if grep -q "^$a " "$work/states.txt"; then echo "alerts: FAIL: $a is active although nothing provokes it"; fail=1; fi
done
kill -0 "$cpid" 2>/dev/null || { echo "alerts: FAIL: the collector exited during the test"; fail=1; }
[ "$ok" = 1 ] && [ "$fail" = 0 ] || exit 1
echo "alerts: PASS: fired: $(grep ' firing ' "$work/states.txt" | awk '{print $1}' | sort -u | tr '\n' ' ')"
