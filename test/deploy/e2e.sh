#!/usr/bin/env bash
# End-to-end run of the Kubernetes deployment's Collector configs, without a
# cluster: the agent and gateway configs exactly as deploy/kubernetes embeds
# them, each process with the privileges its manifest grants, and a real
# Prometheus as the remote-write backend; then every dashboard query must
# return series from what arrived through agent -> OTLP -> gateway ->
# remote write.
#
#   test/deploy/e2e.sh BINARY        (root)
#
# - agent: uid 0 with the capability bounding set reduced to NET_RAW,
#   SYS_ADMIN, SYS_PTRACE and no_new_privs (what drop ALL + add gives a
#   uid-0 container), in the host's PID namespace (hostPID): sockstate,
#   netsnmp and tcpflow read every namespace of this host (all_netns);
# - gateway: uid/gid 65532, no capabilities, no_new_privs;
# - overrides (--config yaml:...) only for what a cluster provides: the
#   gateway's address instead of its DNS name, free loopback ports instead of
#   the pod's, a loopback probe target, the token file's path, and only the
#   remote-write exporter in the gateway pipeline (OTLP and Tencent backends
#   do not exist here; their config is checked by validate-configs.sh), and
#   no k8sattributes in the agent's pipeline (it needs an API server; its
#   config is checked by validate-configs.sh; the keys it finds pods by,
#   k8s.pod.uid and container.id, by test/privileges/run.sh). A namespace
#   made here must arrive as series of its own (resource attributes are
#   labels at the gateway).
# Traffic: test/dashboards/trafficgen on 127.0.0.1. Nothing leaves loopback.
set -euo pipefail
bin=$(realpath "${1:?usage: e2e.sh BINARY}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../dashboards/lib.sh
. "$repo/test/dashboards/lib.sh"
if [ "$(id -u)" != 0 ]; then
  echo "e2e: SKIP: needs root (to start the agent as uid 0 with NET_RAW, SYS_ADMIN, SYS_PTRACE and the gateway as uid 65532)"
  exit 0
fi
work=$(mktemp -d /tmp/deploy-e2e.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local rc=$?
  stop_pids # the agent stops before the gateway, the gateway before Prometheus
  ip netns del "$netns" 2>/dev/null
  if [ "$rc" != 0 ]; then
    for l in agent gateway prometheus; do
      echo "--- $l log (last 15 lines)"; tail -n 15 "$work/$l.log" 2>/dev/null | cut -c1-300 || true
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

netns=netstack-e2e-$$
ip netns add "$netns"
read -r gw_grpc gw_http gw_health gw_tele ag_health ag_tele prom traffic < <(free_ports 8)

cd "$repo/deploy/kubernetes/validate"
go run ./cmd/extract-configs .. "$work/cfg" >/dev/null
(cd "$repo" && go build -o "$work/" ./test/dashboards/trafficgen ./test/dashboards/querycheck)
agent_cfg=$work/cfg/daemonset-otelcol-agent-otelcol.yaml
gateway_cfg=$work/cfg/deployment-otelcol-gateway-otelcol.yaml
envs() { local a=(); while IFS= read -r kv; do [ -n "$kv" ] && a+=("$kv"); done <"${1%.yaml}.env"; printf '%s\n' "${a[@]}"; }
mapfile -t agent_env < <(envs "$agent_cfg")
mapfile -t gateway_env < <(envs "$gateway_cfg")

echo "e2e-token" >"$work/token"; chmod 444 "$work/token"; chmod -R a+rX "$work/cfg"

cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  # The gateway's own telemetry, as the otelcol-gateway Service's metrics port.
  - job_name: otelcol-gateway
    static_configs: [{targets: ["127.0.0.1:$gw_tele"]}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom" --web.enable-remote-write-receiver >"$work/prometheus.log" 2>&1 &
pids+=("$!")

"$work/trafficgen" -listen "127.0.0.1:$traffic" -connect "127.0.0.1:$traffic" -streams 3 -churn 50 -duration 5m 2>/dev/null &
pids+=("$!")

env -i PATH="$PATH" "${gateway_env[@]}" POD_IP=127.0.0.1 REMOTE_WRITE_URL="http://127.0.0.1:$prom/api/v1/write" \
  setpriv --reuid=65532 --regid=65532 --clear-groups --bounding-set=-all --inh-caps=-all --no-new-privs -- \
  "$bin" --config "$gateway_cfg" \
  --config "yaml:receivers::otlp::protocols::grpc::endpoint: 127.0.0.1:$gw_grpc" \
  --config "yaml:receivers::otlp::protocols::http::endpoint: 127.0.0.1:$gw_http" \
  --config "yaml:extensions::health_check::endpoint: 127.0.0.1:$gw_health" \
  --config "yaml:extensions::bearertokenauth/remotewrite::filename: $work/token" \
  --config "yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $gw_tele}}}}]" \
  --config "yaml:exporters::prometheusremotewrite::remote_write_queue::num_consumers: 1" \
  --config "yaml:processors::batch::timeout: 1s" \
  --config "yaml:service::pipelines::metrics::exporters: [prometheusremotewrite]" \
  >"$work/gateway.log" 2>&1 &
gpid=$!; pids+=("$gpid")

env -i PATH="$PATH" "${agent_env[@]}" K8S_NODE_NAME=e2e-node \
  setpriv --bounding-set=-all,+net_raw,+sys_admin,+sys_ptrace --inh-caps=-all --no-new-privs -- \
  "$bin" --config "$agent_cfg" \
  --config "yaml:exporters::otlp_grpc/gateway::endpoint: 127.0.0.1:$gw_grpc" \
  --config "yaml:extensions::health_check::endpoint: 127.0.0.1:$ag_health" \
  --config "yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $ag_tele}}}}, {periodic: {interval: 2000, exporter: {otlp: {protocol: grpc, endpoint: 'http://127.0.0.1:$gw_grpc', insecure: true}}}}]" \
  --config "yaml:receivers::connprobe::targets: [{host: 127.0.0.1, name: loopback4, ping: {interval: 500ms, count: 3}, trace: {interval: 2s, protocol: icmp, max_hops: 2, timeout: 500ms}, scan: {interval: 2s, ports: [$traffic]}}]" \
  --config "yaml:receivers::tcpflow::aggregation: flow" \
  --config "yaml:receivers::sockstate::listen_ports: [$traffic]" \
  --config "yaml:receivers::netsnmp::collection_interval: 2s" \
  --config "yaml:receivers::sockstate::collection_interval: 2s" \
  --config "yaml:receivers::tcpflow::collection_interval: 2s" \
  --config "yaml:receivers::connprobe::collection_interval: 2s" \
  --config "yaml:processors::batch::timeout: 1s" \
  --config "yaml:service::pipelines::metrics::processors: [memory_limiter, transform/node, batch]" \
  >"$work/agent.log" 2>&1 &
apid=$!; pids+=("$apid")

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$ag_health/" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$gw_health/" >/dev/null 2>&1 && break
  kill -0 "$apid" 2>/dev/null || { echo "e2e: FAIL: the agent exited"; exit 1; }
  kill -0 "$gpid" 2>/dev/null || { echo "e2e: FAIL: the gateway exited"; exit 1; }
  sleep 0.2
done

# The privileges really are the manifests'.
caps() { awk '/^CapEff/ { print $2 }' "/proc/$1/status"; }
uid() { awk '/^Uid/ { print $2 }' "/proc/$1/status"; }
[ "$(uid "$apid")" = 0 ] || { echo "e2e: FAIL: agent uid $(uid "$apid")"; exit 1; }
[ "$(uid "$gpid")" = 65532 ] || { echo "e2e: FAIL: gateway uid $(uid "$gpid")"; exit 1; }
# NET_RAW = bit 13, SYS_PTRACE = 19, SYS_ADMIN = 21.
[ "$(caps "$apid")" = 0000000000282000 ] || { echo "e2e: FAIL: agent CapEff $(caps "$apid"), want 0000000000282000 (NET_RAW SYS_ADMIN SYS_PTRACE)"; exit 1; }
[ "$(caps "$gpid")" = 0000000000000000 ] || { echo "e2e: FAIL: gateway CapEff $(caps "$gpid")"; exit 1; }
echo "e2e: agent uid 0 CapEff=$(caps "$apid") (NET_RAW SYS_ADMIN SYS_PTRACE), gateway uid 65532 CapEff=$(caps "$gpid")"

sleep 8
"$work/querycheck" -prometheus "http://127.0.0.1:$prom" -wait 45s -rate-interval 15s "$repo"/dashboards/*.json
# Every namespace's series are their own: the one made here arrived, with
# its netns.path as a label, beside the agent's own namespace.
q='count by (netns_path) (system_network_connection_count)'
got=$(curl -fsS "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$q" | jq -r '.data.result[].metric.netns_path')
grep -qx "/run/netns/$netns" <<<"$got" || { echo "e2e: FAIL: no system_network_connection_count series of /run/netns/$netns; netns_path labels: $got"; exit 1; }
grep -qx "/proc/self/ns/net" <<<"$got" || { echo "e2e: FAIL: no series of the agent's own namespace; netns_path labels: $got"; exit 1; }
echo "e2e: per-namespace series at the gateway's Prometheus: $(wc -l <<<"$got") namespaces, /run/netns/$netns among them"
# What the agent could use with exactly these capabilities.
grep -E 'counting method|eBPF probe attached|ICMP socket opened' "$work/agent.log" |
  awk -F'\t' '{ m = $4; d = $5; s = ""
    while (match(d, /"(method|mode|family)": "[a-z0-9]+"/)) { s = s " " substr(d, RSTART, RLENGTH); d = substr(d, RSTART + RLENGTH) }
    print "e2e: agent: " m s }' | sort -u

for l in agent gateway; do
  if grep -qP '\t(error|panic|fatal)\t' "$work/$l.log"; then
    grep -P '\t(error|panic|fatal)\t' "$work/$l.log" | head -5 | cut -c1-300
    echo "e2e: FAIL: the $l logged errors"; exit 1
  fi
done
echo "e2e: PASS"
