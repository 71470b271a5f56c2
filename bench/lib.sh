# Shell helpers for bench/*.sh (source it from the repository root; bash).

# need [--root] CMD[:DEBIAN_PACKAGE] ...: before any work, checks that the
# script runs as root (--root) and that every command exists. Missing ones
# are installed from their Debian package (the command's name when none is
# given) when running as root with apt-get; otherwise, or if that fails, the
# script exits naming what is missing — never minutes into a run.
need() {
  local me spec cmd missing=() pkgs=()
  me=$(basename "$0")
  for spec in "$@"; do
    if [ "$spec" = --root ]; then
      [ "$(id -u)" = 0 ] || { echo "$me: FAIL: needs root (network namespaces, eBPF, nft)" >&2; exit 1; }
      continue
    fi
    cmd=${spec%%:*}
    command -v "$cmd" >/dev/null 2>&1 || { missing+=("$cmd"); pkgs+=("${spec#*:}"); }
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$me: installing ${pkgs[*]} (for ${missing[*]})" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >/dev/null 2>&1 || true
  fi
  for cmd in "${missing[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 ||
      { echo "$me: FAIL: $cmd is missing (Debian packages: ${pkgs[*]})" >&2; exit 1; }
  done
}
