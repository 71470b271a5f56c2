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

DESTDIR=$tmp/root "$here/deploy/systemd/install.sh" "$bin" >/dev/null
for f in usr/local/bin/otelcol-netstack etc/systemd/system/otelcol-netstack.service etc/otelcol-netstack/config.yaml; do
  [ -f "$tmp/root/$f" ] || { echo "systemd: FAIL: install.sh did not install /$f"; exit 1; }
done
mode=$(stat -c %a "$tmp/root/etc/otelcol-netstack/otelcol-netstack.env")
[ "$mode" = 600 ] || { echo "systemd: FAIL: env file mode $mode, want 600"; exit 1; }
DESTDIR=$tmp/root "$here/deploy/systemd/install.sh" "$bin" >/dev/null   # idempotent
echo "systemd: PASS"
