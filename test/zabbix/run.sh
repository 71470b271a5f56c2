#!/usr/bin/env bash
# End-to-end test of deploy/zabbix/netstack_template.yaml against a real
# Zabbix 6.0 from Debian's packages (zabbix-server-pgsql, PostgreSQL 15, the
# PHP frontend for the API), all private to this run:
#  - a PostgreSQL cluster in a temporary directory (unix socket only), the
#    Zabbix schema and data imported;
#  - zabbix_server on that database; the frontend under `php -S` on a free
#    127.0.0.1 port (its config file /etc/zabbix/zabbix.conf.php exists only
#    during the run);
#  - otelcol-netstack reading a network namespace this script creates, where
#    a listener (backlog 7) holds 3 accepted connections and 2 waiting in
#    its accept queue;
# then imports the template through the API (configuration.import), adds a
# host with {$NETSTACK.URL} pointing at the distribution, and waits until
# the Zabbix items — plain and discovered (listeners, probe targets) — hold
# the values the distribution's Prometheus endpoint shows for the same
# series. Not part of `make test` (package install, ~1-2 minutes): run
# `make test-zabbix`.
#
#   test/zabbix/run.sh BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:?usage: run.sh BINARY}")
# shellcheck source=../dashboards/lib.sh
. "$repo/test/dashboards/lib.sh"
. "$repo/bench/lib.sh"
need --root zabbix_server:zabbix-server-pgsql php:php-cli psql:postgresql /usr/lib/postgresql/15/bin/initdb:postgresql-15 \
  ip:iproute2 curl python3
[ -f /usr/share/zabbix/api_jsonrpc.php ] ||
  { echo "zabbix: FAIL: no Zabbix frontend (apt-get install zabbix-frontend-php; make test-zabbix installs it)"; exit 1; }
php -m | grep -qi '^pgsql$' ||
  { echo "zabbix: FAIL: PHP has no pgsql module (apt-get install php-pgsql; make test-zabbix installs it)"; exit 1; }
webconf=/etc/zabbix/zabbix.conf.php
[ ! -e "$webconf" ] || { echo "zabbix: FAIL: $webconf exists; this test writes its own and removes it"; exit 1; }

start=$(date +%s)
work=$(mktemp -d /tmp/zabbix-test.XXXXXX)
chmod 755 "$work"
ns=netstack-zbx-$$
pids=()
pgbin=/usr/lib/postgresql/15/bin
cleanup() {
  local rc=$?
  stop_pids
  if [ -f "$work/zabbix_server.pid" ]; then
    # zabbix_server runs in a session of its own: stop the whole group (the
    # HA manager outlives a TERM to the main process alone).
    zpid=$(cat "$work/zabbix_server.pid")
    kill -- -"$zpid" 2>/dev/null || true
    for _ in $(seq 50); do pgrep -g "$zpid" >/dev/null || break; sleep 0.2; done
    kill -KILL -- -"$zpid" 2>/dev/null || true
  fi
  [ -d "$work/pg" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -f "$webconf"
  ip netns del "$ns" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "--- zabbix_server log (last 20 lines)"; tail -n 20 "$work/zabbix_server.log" 2>/dev/null || true
    echo "--- collector log (last 10 lines)"; tail -n 10 "$work/collector.log" 2>/dev/null | cut -c1-300 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

read -r pgport webport PROM_EXPORTER_PORT zport < <(free_ports 4)
while [ "$zport" -gt 32767 ] || [ "$zport" = "$pgport" ] || [ "$zport" = "$webport" ] || [ "$zport" = "$PROM_EXPORTER_PORT" ]; do
  read -r zport < <(free_ports 1) # zabbix_server's ListenPort must be below 32768
done
export PROM_EXPORTER_PORT NETNS=/run/netns/$ns

# PostgreSQL, private to this run.
mkdir "$work/pg" "$work/pgsock"; chown postgres: "$work/pg" "$work/pgsock"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
  -o "-p $pgport -k $work/pgsock -c listen_addresses=''" start >/dev/null
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$work/pgsock" -p "$pgport" -U postgres "$@"; }
psql -c "CREATE DATABASE zabbix ENCODING 'UTF8'" postgres
for f in schema images data; do
  zcat "/usr/share/zabbix-server-pgsql/$f.sql.gz" | psql -d zabbix >/dev/null
done
echo "zabbix: database ready after $(( $(date +%s) - start ))s"

cat >"$work/zabbix_server.conf" <<EOF_CONF
LogFile=$work/zabbix_server.log
PidFile=$work/zabbix_server.pid
SocketDir=$work
DBHost=$work/pgsock
DBPort=$pgport
DBName=zabbix
DBUser=postgres
ListenIP=127.0.0.1
ListenPort=$zport
AllowRoot=1
CacheUpdateFrequency=2
StartPollers=1
StartHTTPPollers=2
StartPreprocessors=2
StartLLDProcessors=1
StartDiscoverers=0
StartPingers=0
StartTrappers=1
Timeout=5
EOF_CONF
zabbix_server -c "$work/zabbix_server.conf"

cat >"$webconf" <<EOF_PHP
<?php
\$DB['TYPE'] = 'POSTGRESQL';
\$DB['SERVER'] = '$work/pgsock';
\$DB['PORT'] = '$pgport';
\$DB['DATABASE'] = 'zabbix';
\$DB['USER'] = 'postgres';
\$DB['PASSWORD'] = '';
\$DB['SCHEMA'] = '';
\$DB['ENCRYPTION'] = false;
\$DB['KEY_FILE'] = '';
\$DB['CERT_FILE'] = '';
\$DB['CA_FILE'] = '';
\$DB['VERIFY_HOST'] = false;
\$DB['CIPHER_LIST'] = '';
\$DB['VAULT_URL'] = '';
\$DB['VAULT_DB_PATH'] = '';
\$DB['VAULT_TOKEN'] = '';
\$DB['DOUBLE_IEEE754'] = true;
\$ZBX_SERVER = '127.0.0.1';
\$ZBX_SERVER_PORT = '$zport';
\$ZBX_SERVER_NAME = 'netstack-test';
\$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
EOF_PHP
php -S "127.0.0.1:$webport" -t /usr/share/zabbix >"$work/php.log" 2>&1 &
pids+=("$!")

# The namespace the distribution reads, with values that stay put.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" python3 "$here/hold.py" 3 2 >"$work/hold.out" &
pids+=("$!")
for _ in $(seq 50); do grep -q ready "$work/hold.out" && break; sleep 0.1; done
"$bin" --config "$here/config.yaml" >"$work/collector.log" 2>&1 &
pids+=("$!")

api() { # api METHOD PARAMS_JSON -> result JSON (fails on an API error)
  python3 - "$webport" "$1" "$2" "${token:-}" <<'EOF_PY'
import json, sys, urllib.request
port, method, params, token = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
if token:
    body["auth"] = token
req = urllib.request.Request(f"http://127.0.0.1:{port}/api_jsonrpc.php", json.dumps(body).encode(),
                             {"Content-Type": "application/json-rpc"})
resp = json.load(urllib.request.urlopen(req, timeout=30))
if "error" in resp:
    sys.exit(f"zabbix API {method}: {resp['error']}")
print(json.dumps(resp["result"]))
EOF_PY
}
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$webport/api_jsonrpc.php" -H 'Content-Type: application/json-rpc' \
    -d '{"jsonrpc":"2.0","method":"apiinfo.version","params":{},"id":1}' >/dev/null 2>&1 && break
  sleep 0.2
done
echo "zabbix: API version $(api apiinfo.version '{}')"
token=$(api user.login '{"username":"Admin","password":"zabbix"}' | tr -d '"')

template=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$repo/deploy/zabbix/netstack_template.yaml")
api configuration.import "{\"format\":\"yaml\",\"source\":$template,\"rules\":{
  \"groups\":{\"createMissing\":true},
  \"templates\":{\"createMissing\":true,\"updateExisting\":true},
  \"items\":{\"createMissing\":true,\"updateExisting\":true},
  \"discoveryRules\":{\"createMissing\":true,\"updateExisting\":true},
  \"triggers\":{\"createMissing\":true,\"updateExisting\":true}}}" >/dev/null
tid=$(api template.get '{"filter":{"host":["netstack by HTTP"]},"output":["templateid"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["templateid"])')
gid=$(api hostgroup.get '{"filter":{"name":["Linux servers"]},"output":["groupid"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["groupid"])')
hid=$(api host.create "{\"host\":\"netstack-test\",\"groups\":[{\"groupid\":\"$gid\"}],\"templates\":[{\"templateid\":\"$tid\"}],
  \"macros\":[{\"macro\":\"{\$NETSTACK.URL}\",\"value\":\"http://127.0.0.1:$PROM_EXPORTER_PORT/metrics\"},
              {\"macro\":\"{\$NETSTACK.INTERVAL}\",\"value\":\"2s\"}]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hostids"][0])')
echo "zabbix: template imported and linked to host $hid after $(( $(date +%s) - start ))s"

# Item key -> the series (summed) whose value the item must equal.
cat >"$work/expect.json" <<'EOF_EXP'
{
  "netstack.tcp.current_established": "system_network_tcp_current_established",
  "netstack.tcp.state[established]": "system_network_connection_count{network_transport=\"tcp\",network_connection_state=\"established\"}",
  "netstack.tcp.state[listen]": "system_network_connection_count{network_transport=\"tcp\",network_connection_state=\"listen\"}",
  "netstack.tcp.time_wait": "system_network_tcp_time_wait_count",
  "netstack.tcp.listen_overflows": "system_network_tcp_listen_overflows_total",
  "netstack.listen.queue.limit[127.0.0.1,8080]": "system_network_tcp_listen_queue_limit{network_local_address=\"127.0.0.1\",network_local_port=\"8080\"}",
  "netstack.listen.queue.usage[127.0.0.1,8080]": "system_network_tcp_listen_queue_usage{network_local_address=\"127.0.0.1\",network_local_port=\"8080\"}"
}
EOF_EXP
compare() { # prints one line per expected item; exit 0 when all equal
  api item.get "{\"hostids\":[\"$hid\"],\"output\":[\"key_\",\"lastvalue\",\"lastclock\"]}" >"$work/items.json"
  curl -fsS "http://127.0.0.1:$PROM_EXPORTER_PORT/metrics" >"$work/metrics.txt" || return 1
  python3 - "$work/expect.json" "$work/items.json" "$work/metrics.txt" <<'EOF_CMP'
import json, re, sys
expect = json.load(open(sys.argv[1]))
items = {i["key_"]: i for i in json.load(open(sys.argv[2]))}
series = []
for line in open(sys.argv[3]):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
    if m:
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        series.append((m.group(1), labels, float(m.group(4))))
def value(sel):
    name, _, rest = sel.partition("{")
    want = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    vals = [v for n, l, v in series if n == name and all(l.get(k) == x for k, x in want.items())]
    return sum(vals) if vals else None
ok = True
for key, sel in expect.items():
    prom, it = value(sel), items.get(key)
    z = None if it is None or it["lastclock"] == "0" else float(it["lastvalue"])
    equal = prom is not None and z is not None and abs(prom - z) < 1e-9
    ok &= equal
    print(f"  {'ok  ' if equal else 'wait'} {key}: zabbix={z} prometheus={prom}")
discovered = sorted(k for k in items if k.startswith("netstack.ping.rtt.avg["))
print(f"  discovered probe targets: {discovered}")
ok &= bool(discovered) and all(items[k]["lastclock"] != "0" for k in discovered)
sys.exit(0 if ok else 1)
EOF_CMP
}
for _ in $(seq 60); do
  if compare >"$work/compare.txt"; then
    cat "$work/compare.txt"
    triggers=$(api trigger.get "{\"hostids\":[\"$hid\"],\"countOutput\":true}" | tr -d '"')
    [ "$triggers" -ge 15 ] || { echo "zabbix: FAIL: the host has $triggers triggers, want the template's 13 and the discovered ones"; exit 1; }
    echo "zabbix: ok $triggers triggers on the host (13 from the template, the rest discovered)"
    echo "zabbix: PASS: items equal the exporter's values after $(( $(date +%s) - start ))s"
    exit 0
  fi
  sleep 2
done
cat "$work/compare.txt"
echo "zabbix: FAIL: items did not reach the exporter's values"
exit 1
