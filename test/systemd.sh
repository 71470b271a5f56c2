#!/usr/bin/env bash
# Checks deploy/systemd without a running systemd: the unit parses with no
# unknown keys, its offline security exposure stays low, the config is valid
# for the built distribution, and install.sh lays the files out with the
# right modes. Usage: test/systemd.sh BINARY
set -euo pipefail
bin=$(realpath "${1:?binary}")
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

unit=$tmp/otelcol-netstack.service
sed "s#/usr/local/bin/otelcol-netstack#$bin#" "$here/deploy/systemd/otelcol-netstack.service" >"$unit"
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$out"; echo "systemd: FAIL: verify"; exit 1; }
[ -z "$out" ] || { echo "$out"; echo "systemd: FAIL: verify printed warnings"; exit 1; }
echo "systemd: ok unit verifies without warnings"

score=$(systemd-analyze security --offline=true --threshold=30 "$unit" 2>&1 | awk '/Overall exposure level/ {print $(NF-2)}') \
  || { echo "systemd: FAIL: exposure level above 3.0"; exit 1; }
echo "systemd: ok offline exposure level $score (threshold 3.0, given as 30 tenths)"

"$bin" validate --config "$here/deploy/systemd/config.yaml"
echo "systemd: ok deploy/systemd/config.yaml is valid for $bin"

# ExecReload sends SIGHUP: the Collector must re-read its config and apply
# it in the same process (here: its Prometheus exporter moves to another
# port).
# shellcheck source=dashboards/lib.sh
. "$here/test/dashboards/lib.sh"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || { echo "systemd: FAIL: no ExecReload sending SIGHUP"; exit 1; }
read -r port1 port2 < <(free_ports 2)
hup_config() {
  cat >"$tmp/hup.yaml" <<EOF
receivers:
  netsnmp: {collection_interval: 1s, initial_delay: 0s}
exporters:
  prometheus: {endpoint: "127.0.0.1:$1"}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {metrics: {receivers: [netsnmp], exporters: [prometheus]}}
EOF
}
serves() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -q '^system_network_tcp_active_opens_total'; }
wait_serves() { for _ in $(seq 1 100); do serves "$1" && return 0; sleep 0.1; done; return 1; }
hup_config "$port1"
"$bin" --config "$tmp/hup.yaml" >"$tmp/hup.log" 2>&1 &
hpid=$!
trap 'kill $hpid 2>/dev/null || true; wait $hpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
wait_serves "$port1" || { tail -5 "$tmp/hup.log"; echo "systemd: FAIL: collector did not serve on $port1"; exit 1; }
hup_config "$port2"
kill -HUP "$hpid"
wait_serves "$port2" || { tail -5 "$tmp/hup.log"; echo "systemd: FAIL: after SIGHUP the new config (port $port2) is not served"; exit 1; }
kill -0 "$hpid" || { echo "systemd: FAIL: the collector exited on SIGHUP"; exit 1; }
if serves "$port1"; then echo "systemd: FAIL: the old config (port $port1) is still served after SIGHUP"; exit 1; fi
kill "$hpid"; wait "$hpid" 2>/dev/null || true
echo "systemd: ok SIGHUP (ExecReload) reloads the config in the same process (pid $hpid, port $port1 -> $port2)"

DESTDIR=$tmp/root "$here/deploy/systemd/install.sh" "$bin" >/dev/null
for f in usr/local/bin/otelcol-netstack etc/systemd/system/otelcol-netstack.service etc/otelcol-netstack/config.yaml; do
  [ -f "$tmp/root/$f" ] || { echo "systemd: FAIL: install.sh did not install /$f"; exit 1; }
done
mode=$(stat -c %a "$tmp/root/etc/otelcol-netstack/otelcol-netstack.env")
[ "$mode" = 600 ] || { echo "systemd: FAIL: env file mode $mode, want 600"; exit 1; }
DESTDIR=$tmp/root "$here/deploy/systemd/install.sh" "$bin" >/dev/null   # idempotent
echo "systemd: PASS"
