#!/usr/bin/env bash
# Checks every Collector configuration embedded in deploy/kubernetes (the
# ConfigMap key each container's --config points at) against the real
# components: `BINARY validate --config FILE`, with the container's
# environment (literal values from the manifest, dummies for fieldRef and
# Secret values). Also runs the manifest validator (strict typed decoding
# and policy). Usage: test/deploy/validate-configs.sh BINARY
set -euo pipefail
bin=$(realpath "${1:?usage: validate-configs.sh BINARY}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/validate-configs.XXXXXX)
trap 'rm -rf "$work"' EXIT

cd "$repo/deploy/kubernetes/validate"
go test -count=1 ./...
mapfile -t configs < <(go run ./cmd/extract-configs .. "$work")
[ ${#configs[@]} -gt 0 ] || { echo "validate-configs: FAIL: no configuration extracted"; exit 1; }

status=0
for cfg in "${configs[@]}"; do
  envs=()
  while IFS= read -r kv; do [ -n "$kv" ] && envs+=("$kv"); done <"${cfg%.yaml}.env"
  name=$(basename "$cfg")
  if out=$(env -i PATH="$PATH" HOME="$work" "${envs[@]}" "$bin" validate --config "$cfg" 2>&1); then
    echo "validate-configs: ok   $name (env: ${envs[*]%%=*})"
  else
    echo "validate-configs: FAIL $name:"; echo "$out" | tail -n 20; status=1
  fi
done
exit "$status"
