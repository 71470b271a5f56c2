#!/usr/bin/env bash
# Dashboard query test: every PromQL query of dashboards/*.json must return
# series from a real Prometheus server scraping the running distribution.
#
#   test/dashboards/run.sh BINARY [DASHBOARD.json ...]
#
# Starts, on 127.0.0.1 with free random ports only:
#  - test/dashboards/trafficgen: an echo server with long-lived streams and
#    a churn of short connections (so per-flow, listen-queue and
#    connection-state series exist);
#  - two pods without a cluster: network namespaces whose trafficgen (server
#    and client on the namespace's own loopback) sits in a kubelet-style
#    cgroup (systemd driver: kubepods-burstable-pod<uid>.slice/
#    cri-containerd-<id>.scope; cgroupfs driver: kubepods/besteffort/
#    pod<uid>/<id>) under a cgroup of this test, so all_netns attributes
#    their namespaces to pod UIDs;
#  - BINARY on test/dashboards/config.yaml (every receiver; sockstate reads
#    every namespace; a transform processor names the two pods, which
#    k8sattributes does in production; connprobe probes 127.0.0.1 and ::1
#    only; tcpflow needs root: CAP_BPF + CAP_PERFMON);
#  - Debian's prometheus (2.42) with a temporary TSDB, scraping the
#    Prometheus exporter and the Collector's own telemetry every second (lib.sh start_prometheus);
# then evaluates every panel query and every label_values() variable through
# /api/v1/query (test/dashboards/querycheck) and fails naming each panel that
# returns no series. The namespace and pod variables must list the two pods,
# and each per-pod panel must return series of them (sockstate and netsnmp
# both read every namespace).
# Everything it started is stopped and removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run.sh BINARY [DASHBOARD.json ...]}")
shift
dashboards=("$@")
# shellcheck source=lib.sh
. "$here/lib.sh"
[ ${#dashboards[@]} -gt 0 ] || dashboards=("$repo"/dashboards/*.json)

if [ "$(id -u)" != 0 ]; then
  echo "dashboards: SKIP: needs root (the tcpflow receiver loads eBPF programs: CAP_BPF + CAP_PERFMON)"
  exit 0
fi
command -v prometheus >/dev/null || { echo "dashboards: FAIL: prometheus not installed (apt-get install prometheus)"; exit 1; }

work=$(mktemp -d /tmp/dashboards.XXXXXX)
pids=()
netns=()
cgtop=""
cgmount=""
cleanup() {
  local rc=$?
  stop_pids
  show_logs "$rc"
  # Leaf cgroups first; they are empty once their processes are gone.
  [ -z "$cgtop" ] || find "$cgtop" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [ -z "$cgmount" ] || umount "$cgmount" 2>/dev/null || true
  local n
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

export PROM_EXPORTER_PORT TELEMETRY_PORT TRAFFIC_PORT POD_WEB_UID POD_API_UID
read -r PROM_EXPORTER_PORT TELEMETRY_PORT TRAFFIC_PORT prom_port < <(free_ports 4)
POD_WEB_UID=$(cat /proc/sys/kernel/random/uuid)
POD_API_UID=$(cat /proc/sys/kernel/random/uuid)

(cd "$repo" && go build -o "$work/" ./test/dashboards/trafficgen ./test/dashboards/querycheck)

"$work/trafficgen" -listen "127.0.0.1:$TRAFFIC_PORT" -connect "127.0.0.1:$TRAFFIC_PORT" \
  -streams 3 -churn 50 -duration 5m 2>"$work/trafficgen.log" &
pids+=("$!")

# The pods. Each trafficgen enters its cgroup before its namespace, so the
# collector never sees it outside the pod.
cgroot=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
if [ -z "$cgroot" ]; then
  cgmount=$work/cgroup2; mkdir "$cgmount"
  mount -t cgroup2 none "$cgmount" || { echo "dashboards: FAIL: no cgroup v2 hierarchy and mounting one failed"; exit 1; }
  cgroot=$cgmount
fi
cgtop=$cgroot/netstack-dashboards-$$
ctr_id() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
start_pod() { # NAME CGROUP (relative to $cgtop)
  local ns=0netstack-dash-$1-$$ cg=$cgtop/$2 # sorts first: see max_netns in config.yaml
  ip netns add "$ns"; netns+=("$ns")
  ip -n "$ns" link set lo up
  mkdir -p "$cg"
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    exec ip netns exec "$ns" "$work/trafficgen" -listen "127.0.0.1:$TRAFFIC_PORT" -connect "127.0.0.1:$TRAFFIC_PORT" \
      -streams 1 -stream-bytes 4096 -churn 20 -duration 5m
  ) 2>"$work/pod-$1.log" &
  pids+=("$!")
}
start_pod web "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_WEB_UID//-/_}.slice/cri-containerd-$(ctr_id).scope"
start_pod api "kubepods/besteffort/pod$POD_API_UID/$(ctr_id)"

configs=(--config "$here/config.yaml")

"$bin" "${configs[@]}" >"$work/collector.log" 2>&1 &
cpid=$!; pids+=("$cpid")

start_prometheus dashboards "$prom_port"

# Let rate() windows fill: data from several scrapes of every receiver.
sleep 8
for d in "${dashboards[@]}"; do
  echo "dashboards: checking $d"
  "$work/querycheck" -prometheus "http://127.0.0.1:$prom_port" -wait 45s -rate-interval 15s -need-values namespace,pod "$d"
done
kill -0 "$cpid" 2>/dev/null || { echo "dashboards: FAIL: the collector exited during the test"; exit 1; }
if grep -qP '\t(error|panic|fatal)\t' "$work/collector.log"; then
  grep -P '\t(error|panic|fatal)\t' "$work/collector.log" | head -5 | cut -c1-300
  echo "dashboards: FAIL: the collector logged errors"; exit 1
fi
echo "dashboards: PASS"
