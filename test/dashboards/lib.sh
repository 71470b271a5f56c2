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
