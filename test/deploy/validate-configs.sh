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
# The container image's config: valid, and every port the Dockerfile
# EXPOSEs is bound on all of the container's addresses.
# The per-pod example: sockstate all_netns with the k8sattributes processor
# (validation only: there is no API server here).
k8s_cfg=$repo/config/examples/k8s-pods.yaml
if out=$(env -i PATH="$PATH" HOME="$work" K8S_NODE_NAME=node-1 "$bin" validate --config "$k8s_cfg" 2>&1); then
  echo "validate-configs: ok   config/examples/k8s-pods.yaml"
else
  echo "validate-configs: FAIL config/examples/k8s-pods.yaml:"; echo "$out" | tail -n 20; status=1
fi
docker_cfg=$repo/deploy/docker/config.yaml
if out=$("$bin" validate --config "$docker_cfg" 2>&1); then
  echo "validate-configs: ok   deploy/docker/config.yaml"
else
  echo "validate-configs: FAIL deploy/docker/config.yaml:"; echo "$out" | tail -n 20; status=1
fi
for port in $(awk '$1 == "EXPOSE" {$1 = ""; print}' "$repo/deploy/docker/Dockerfile"); do
  grep -q "endpoint: 0.0.0.0:$port\$" "$docker_cfg" ||
    { echo "validate-configs: FAIL deploy/docker/config.yaml does not bind EXPOSEd port $port on 0.0.0.0"; status=1; }
done
exit "$status"
