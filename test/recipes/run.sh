#!/usr/bin/env bash
# End-to-end test of the Tencent Cloud recipes in config/examples/ against a
# real Prometheus (Debian's `prometheus`) with its remote-write receiver and
# basic auth, all on 127.0.0.1:
#   - tencent-managed-prometheus.yaml (bearertokenauth, scheme Basic) and
#     tencent-cls-metrics.yaml (Authorization header from the environment):
#     data arrives (Prometheus HTTP API), and with a wrong password the
#     writes are rejected (401) and the collector logs the export error;
#   - tencent-apm-otlp.yaml: OTLP/gRPC into a second collector (otlp receiver
#     -> remote write) and into Prometheus, with the APM token carried as the
#     `token` resource attribute;
#   - config/tencentcloudmonitor.yaml validates, when the binary has the
#     tencentcloudmonitor exporter.
# Usage: test/recipes/run.sh path/to/otelcol-netstack
# Prints "recipes: ok" and exits 0, or the failing step with logs and exits 1.
# Finishes in well under 60 s and kills every process it started.
set -euo pipefail

BIN=$(realpath "${1:?usage: $0 path/to/otelcol-netstack}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEADLINE=$((SECONDS + 50))
WORK=$(mktemp -d /tmp/netstack-recipes.XXXXXX)
PIDS=()

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 15 lines)"
			tail -n 15 "$f"
		done
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT INT TERM

fail() { echo "recipes: FAIL: $*" >&2; exit 1; }
for tool in prometheus curl python3 base64; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bcrypt hash for Prometheus' web config: htpasswd when present, else
# libxcrypt through Python's crypt module (Debian 12).
bcrypt() {
	if command -v htpasswd >/dev/null; then
		htpasswd -nbBC 5 x "$1" | cut -d: -f2
	else
		python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))' "$1"
	fi
}

USER=netstack
PASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
GOOD=$(printf '%s:%s' "$USER" "$PASS" | base64 -w0)
BAD=$(printf '%s:%s' "$USER" "wrong-$PASS" | base64 -w0)
PP=$(free_port)
PROM=http://127.0.0.1:$PP

cat >"$WORK/web.yml" <<EOF
basic_auth_users:
  $USER: '$(bcrypt "$PASS")'
EOF
printf 'global:\n  scrape_interval: 1m\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --web.config.file="$WORK/web.yml" \
	--web.listen-address="127.0.0.1:$PP" --web.enable-remote-write-receiver \
	--storage.tsdb.path="$WORK/tsdb" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)

# run NAME CONFIG [ENV=VALUE...] [-- collector flags]: starts a collector.
run() {
	local name=$1 config=$2
	shift 2
	local envs=() flags=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	flags=("$@")
	env NETSTACK_COLLECTION_INTERVAL=1s NETSTACK_TELEMETRY_PORT="$(free_port)" "${envs[@]}" \
		"$BIN" --config="$config" "${flags[@]}" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
}

# until DESC CMD...: retries CMD until it succeeds or the deadline passes.
until_ok() {
	local desc=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $DEADLINE ] || fail "timed out: $desc"
		sleep 0.3
	done
}

# has_series SELECTOR: Prometheus holds at least one series for SELECTOR.
has_series() {
	curl -sf -u "$USER:$PASS" --data-urlencode "query=count($1)" "$PROM/api/v1/query" | grep -q '"value":\['
}

# rejected LOG: the collector logged Prometheus' 401 and the dropped export.
rejected() {
	grep -q '"status_code": 401' "$1" && grep -q 'Exporting failed. Dropping data.' "$1"
}

until_ok "prometheus ready" curl -sf -u "$USER:$PASS" "$PROM/-/ready"
# Basic auth is really on: no or wrong credentials are refused.
[ "$(curl -s -o /dev/null -w '%{http_code}' "$PROM/api/v1/query?query=up")" = 401 ] || fail "prometheus answers without credentials"

EX=$ROOT/config/examples
TMP_URL=$PROM/api/v1/write
run tmp "$EX/tencent-managed-prometheus.yaml" TENCENT_PROM_REMOTE_WRITE_URL="$TMP_URL" TENCENT_PROM_AUTH="$GOOD" \
	-- --set=exporters.prometheus_remote_write/tmp.external_labels.recipe=tmp
run tmp-bad "$EX/tencent-managed-prometheus.yaml" TENCENT_PROM_REMOTE_WRITE_URL="$TMP_URL" TENCENT_PROM_AUTH="$BAD" \
	-- --set=exporters.prometheus_remote_write/tmp.external_labels.recipe=tmp_bad
run cls "$EX/tencent-cls-metrics.yaml" TENCENT_CLS_REMOTE_WRITE_URL="$TMP_URL" TENCENT_CLS_AUTH="$GOOD" \
	-- --set=exporters.prometheus_remote_write/cls.external_labels.recipe=cls
run cls-bad "$EX/tencent-cls-metrics.yaml" TENCENT_CLS_REMOTE_WRITE_URL="$TMP_URL" TENCENT_CLS_AUTH="$BAD" \
	-- --set=exporters.prometheus_remote_write/cls.external_labels.recipe=cls_bad

# APM: a second collector stands in for the APM endpoint.
OP=$(free_port)
APM_TOKEN=apm-$RANDOM$RANDOM
cat >"$WORK/apm-sink.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OP
exporters:
  prometheus_remote_write:
    endpoint: $TMP_URL
    headers:
      Authorization: Basic $GOOD
    external_labels:
      recipe: apm
    resource_to_telemetry_conversion:
      enabled: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus_remote_write]
EOF
run apm-sink "$WORK/apm-sink.yaml"
run apm "$EX/tencent-apm-otlp.yaml" TENCENT_APM_ENDPOINT="127.0.0.1:$OP" TENCENT_APM_INSECURE=true TENCENT_APM_TOKEN="$APM_TOKEN"

until_ok "managed-prometheus recipe: netsnmp series in Prometheus" has_series '{__name__=~"system_network_.+",recipe="tmp"}'
until_ok "cls recipe: netsnmp series in Prometheus" has_series '{__name__=~"system_network_.+",recipe="cls"}'
until_ok "apm recipe: netsnmp series with the APM token via OTLP" has_series "{__name__=~\"system_network_.+\",recipe=\"apm\",token=\"$APM_TOKEN\"}"
until_ok "managed-prometheus recipe with a wrong password: 401 export error logged" rejected "$WORK/tmp-bad.log"
until_ok "cls recipe with a wrong password: 401 export error logged" rejected "$WORK/cls-bad.log"
for r in tmp_bad cls_bad; do
	! has_series "{recipe=\"$r\"}" || fail "$r: data accepted with a wrong password"
done
grep -q "$PASS" "$WORK"/tmp*.log "$WORK"/cls*.log && fail "a password appears in a collector log"

if "$BIN" components 2>/dev/null | grep -q 'name: tencentcloudmonitor$'; then
	env TENCENTCLOUD_REGION=ap-guangzhou TENCENTCLOUD_SECRET_ID=AKIDx TENCENTCLOUD_SECRET_KEY=x \
		NETSTACK_STATE_DIR="$WORK" "$BIN" validate --config="$ROOT/config/tencentcloudmonitor.yaml" ||
		fail "config/tencentcloudmonitor.yaml does not validate"
else
	echo "recipes: note: $BIN has no tencentcloudmonitor exporter; config/tencentcloudmonitor.yaml not validated"
fi
echo "recipes: ok (managed prometheus, cls, apm; wrong credentials rejected) in ${SECONDS}s"
