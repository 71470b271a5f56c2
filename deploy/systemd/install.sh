#!/usr/bin/env bash
# Installs otelcol-netstack as a systemd service: binary, unit, config and an
# environment file for secrets. Idempotent; keeps an existing config and env.
# Usage: sudo deploy/systemd/install.sh [BINARY] [CONFIG]
#   BINARY defaults to _build/otelcol-netstack (make build), CONFIG to
#   deploy/systemd/config.yaml. Set DESTDIR to install into a staging root
#   (then systemctl is not called).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../_build/otelcol-netstack}
config=${2:-$here/config.yaml}
root=${DESTDIR:-}

[ -x "$bin" ] || { echo "no binary at $bin: run 'make build' first" >&2; exit 1; }
install -D -m 0755 "$bin" "$root/usr/local/bin/otelcol-netstack"
install -D -m 0644 "$here/otelcol-netstack.service" "$root/etc/systemd/system/otelcol-netstack.service"
install -d -m 0755 "$root/etc/otelcol-netstack"
[ -e "$root/etc/otelcol-netstack/config.yaml" ] || install -m 0644 "$config" "$root/etc/otelcol-netstack/config.yaml"
if [ ! -e "$root/etc/otelcol-netstack/otelcol-netstack.env" ]; then
  install -m 0600 /dev/null "$root/etc/otelcol-netstack/otelcol-netstack.env"
  cat >"$root/etc/otelcol-netstack/otelcol-netstack.env" <<'ENV'
# Secrets for /etc/otelcol-netstack/config.yaml (referenced as ${env:NAME}).
# TENCENTCLOUD_SECRET_ID=
# TENCENTCLOUD_SECRET_KEY=
# REMOTE_WRITE_TOKEN=
ENV
fi
chmod 0600 "$root/etc/otelcol-netstack/otelcol-netstack.env"
if [ -z "$root" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now otelcol-netstack.service
  systemctl --no-pager status otelcol-netstack.service | head -5
else
  echo "installed under ${root:-/}; start with: systemctl enable --now otelcol-netstack"
fi
