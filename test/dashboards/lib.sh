# Shell helpers shared by test/dashboards/run.sh, test/deploy/e2e.sh and
# bench/soak.sh (source it; bash only).

# free_ports N: N distinct TCP ports in 20000..49999 that nothing on this
# host uses now, on one line.
free_ports() {
  local n=$1 p out=" "
  while [ "$(wc -w <<<"$out")" -lt "$n" ]; do
    p=$(( 20000 + RANDOM % 30000 ))
    case $out in *" $p "*) continue ;; esac
    ss -Htan "sport = :$p" | grep -q . && continue
    out+="$p "
  done
  echo $out
}

# stop_pids: stops the processes in the array `pids`, newest first (so a
# sender stops before what it sends to), and waits for each.
stop_pids() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}

# show_logs RC: when RC is not 0, the tails of $work/collector.log and
# $work/prometheus.log (for an EXIT trap).
show_logs() {
  [ "$1" != 0 ] || return 0
  echo "--- collector log (last 30 lines)"; tail -n 30 "$work/collector.log" 2>/dev/null | cut -c1-300 || true
  echo "--- prometheus log (last 10 lines)"; tail -n 10 "$work/prometheus.log" 2>/dev/null || true
}

# start_prometheus NAME PORT [RULE_FILE ...]: Debian's prometheus on
# 127.0.0.1:PORT, TSDB in $work, scraping every second the distribution's
# exporter ($PROM_EXPORTER_PORT, job netstack) and its telemetry
# ($TELEMETRY_PORT, job otelcol), evaluating the rule files (paths relative
# to $work); its pid joins `pids`. Returns when it is ready; exits naming
# NAME if the collector ($cpid) exits first or it never gets ready.
start_prometheus() {
  local name=$1 port=$2 rules=""
  shift 2
  [ $# -eq 0 ] || rules="rule_files: [$(IFS=,; echo "$*")]"
  cat >"$work/prometheus.yml" <<EOF_PROM
global:
  scrape_interval: 1s
  evaluation_interval: 1s
$rules
scrape_configs:
  - job_name: netstack
    static_configs: [{targets: ["127.0.0.1:$PROM_EXPORTER_PORT"]}]
  - job_name: otelcol
    static_configs: [{targets: ["127.0.0.1:$TELEMETRY_PORT"]}]
EOF_PROM
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && return 0
    kill -0 "$cpid" 2>/dev/null || { echo "$name: FAIL: the collector exited"; exit 1; }
    sleep 0.2
  done
  echo "$name: FAIL: prometheus never became ready"; exit 1
}
