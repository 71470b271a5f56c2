#!/usr/bin/env bash
# Least privilege, for real: runs the distribution as an unprivileged user
# (nobody) with exactly the capabilities deploy/systemd grants, then with
# none, then as deploy/kubernetes' agent runs it for per-pod collection, and
# checks what each receiver does.
#   with CAP_NET_RAW CAP_BPF CAP_PERFMON: every receiver reports (tcpflow's
#     eBPF probe attaches, connprobe pings over its raw ICMP socket);
#   with no capability: netsnmp and sockstate still report (sockdiag needs no
#     privilege), tcpflow says it is disabled and names CAP_BPF/CAP_PERFMON,
#     connprobe names CAP_NET_RAW and counts permission errors; no panic, and
#     a clean shutdown either way;
#   per-pod (two fake pods: a namespace each, a kubelet-named cgroup, a
#     listener; one runs as nobody, one as root with containerd's default
#     capabilities): as uid 0 with exactly the agent's capabilities.add
#     (read from deploy/kubernetes/agent.yaml), sockstate and netsnmp
#     all_netns name both pods and count their listeners and active opens as
#     ss and nstat do, tcpflow reports pod A's flow under its pod (all
#     three read every namespace, as the agent does), the ICMP socket is
#     raw; without
#     CAP_SYS_PTRACE the pods' namespaces are not even listed
#     (/proc/PID/ns/net is unreadable); with CAP_BPF + CAP_PERFMON but
#     without CAP_SYS_ADMIN, netsnmp still reads them (/proc/PID/net, no
#     setns) and sockstate's events method cannot bind them ("needs
#     CAP_SYS_ADMIN": entering each namespace).
# Usage: test/privileges/run.sh BINARY   (needs root to drop to nobody)
set -euo pipefail
bin=$(realpath "${1:?binary}")
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "privileges: SKIP: needs root to switch to an unprivileged user with chosen capabilities"; exit 0; }
command -v setpriv >/dev/null || { echo "privileges: FAIL: setpriv (util-linux) missing"; exit 1; }
tmp=$(mktemp -d); chmod 755 "$tmp"; pid=; pods=(); cgbase=
cleanup() {
  set +e
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  for p in "${pods[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$cgbase" ] && find "$cgbase" -depth -type d -exec rmdir {} + 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
url=http://127.0.0.1:18889/metrics

fail() { echo "privileges: FAIL ($1): $2"; echo "--- log"; grep -vP '\tdebug\t' "$tmp/log" | cut -c1-400 | tail -30; exit 1; }

# run NAME CAPS [CONFIG [root]]: start as nobody with CAPS (comma list like
# +net_raw,+bpf or empty) as ambient capabilities, or with "root" as uid 0
# with the bounding set reduced to CAPS and no_new_privs (what a container's
# drop ALL + add gives a uid-0 process).
run() {
  local name=$1 caps=$2 cfg=${3:-$here/config.yaml} set
  if [ -n "$caps" ]; then set="-all,$caps"; else set="-all"; fi
  if [ "${4:-}" = root ]; then
    setpriv --bounding-set="$set" --inh-caps=-all --no-new-privs -- \
      "$bin" --config "$cfg" >"$tmp/log" 2>&1 &
  else
    setpriv --reuid=65534 --regid=65534 --clear-groups \
      --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" \
      "$bin" --config "$cfg" >"$tmp/log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 60); do
    curl -fsS "$url" >"$tmp/out" 2>/dev/null && grep -q '^system_network_connection_count' "$tmp/out" \
      && grep -q '^system_network_tcp_active_opens_total' "$tmp/out" && break
    kill -0 "$pid" 2>/dev/null || fail "$name" "collector exited"
    sleep 0.25
  done
  sleep 4.5 # a few 2 s scrapes, with our own curl traffic as TCP flows
  caps_eff=$(awk '/^CapEff/ { print $2 }' "/proc/$pid/status")
  curl -fsS "$url" >"$tmp/out" || fail "$name" "no metrics"
  grep -q '^panic' "$tmp/log" && fail "$name" "panic"
  kill -TERM "$pid"; wait "$pid" || fail "$name" "exit status $? after SIGTERM"; pid=
  grep -q 'Shutdown complete' "$tmp/log" || fail "$name" "no clean shutdown"
}
has_metric() { grep -Eq "^$1(\{| )" "$tmp/out"; }
has_log() { grep -q -- "$1" "$tmp/log"; }

run with-caps +net_raw,+bpf,+perfmon
for m in system_network_tcp_active_opens_total system_network_connection_count tcp_flow_active connprobe_ping_rtt_avg_seconds; do
  has_metric "$m" || fail with-caps "metric $m missing"
done
has_log 'eBPF probe attached' || fail with-caps "tcpflow did not attach its eBPF probe"
echo "privileges: ok as nobody with CAP_NET_RAW CAP_BPF CAP_PERFMON: every receiver reports"

run no-caps ""
for m in system_network_tcp_active_opens_total system_network_connection_count; do
  has_metric "$m" || fail no-caps "metric $m missing"
done
has_metric tcp_flow_active && fail no-caps "tcpflow reported flows without CAP_BPF"
has_log 'tcpflow receiver disabled' || fail no-caps "tcpflow did not say it is disabled"
has_log 'CAP_BPF' || fail no-caps "no message naming CAP_BPF"
has_log 'CAP_NET_RAW' || fail no-caps "no message naming CAP_NET_RAW"
grep -q 'connprobe_errors.*permission_denied' "$tmp/out" || fail no-caps "connprobe did not count permission errors"
echo "privileges: ok as nobody with no capability: netsnmp and sockstate report, tcpflow and connprobe degrade with messages naming the capability"

# ---- per-pod collection, as deploy/kubernetes' agent (hostPID, uid 0) ----
cg=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
py=$(PATH=/usr/bin:/bin command -v python3 || true)
if [ -z "$cg" ] || [ -z "$py" ]; then
  echo "privileges: SKIP per-pod: needs a mounted cgroup2 hierarchy and python3 (found cgroup2 at '${cg}', python3 '${py}')"
  echo "privileges: PASS"; exit 0
fi
agent_caps=$(grep -oP '^\s+add: \[\K[^\]]+' "$here/../../deploy/kubernetes/agent.yaml" | tr 'A-Z' 'a-z' | sed 's/ //g; s/^/+/; s/,/,+/g')
[ -n "$agent_caps" ] || { echo "privileges: FAIL: no capabilities.add in deploy/kubernetes/agent.yaml"; exit 1; }
cgbase=$cg/netstack-privileges-$$
listen='import socket
s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.listen()
while True:
    c, _ = s.accept()
    while c.recv(4096): pass'
talk='import socket, time
c = socket.create_connection(("127.0.0.1", 8080))
while True: c.send(b"x"); time.sleep(0.2)'
# start_pod UID CGROUP SETPRIV-ARGS...: a process in a new network namespace
# with loopback up, moved into CGROUP (as the kubelet and containerd name
# them), then running as SETPRIV-ARGS say, listening on 127.0.0.1:8080 and
# reading what connections send.
start_pod() {
  local dir=$cgbase/$2; shift 2
  mkdir -p "$dir"; pod_dir=$dir
  unshare --net sh -c 'ip link set lo up && echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$dir" \
    setpriv "$@" -- "$py" -c "$listen" >/dev/null 2>&1 &
  pods+=("$!")
  for _ in $(seq 1 100); do
    nsenter --net="/proc/$!/ns/net" ss -Htln 2>/dev/null | grep -q ':8080 ' && return
    sleep 0.05
  done
  echo "privileges: FAIL: fake pod did not start listening"; exit 1
}
uid_a=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0; uid_b=1a2b3c4d-5e6f-4a8b-9cad-bedcfa987654
ctr_a=$(printf '%064d' 1); ctr_b=$(printf 'c%063d' 2)
start_pod "$uid_a" "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid_a//-/_}.slice/cri-containerd-$ctr_a.scope" \
  --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all
dir_a=$pod_dir
start_pod "$uid_b" "kubepods/burstable/pod$uid_b/$ctr_b" \
  --bounding-set=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write
# A second process of pod A's container, with one connection to its
# listener sending a byte every 0.2 s (a flow for tcpflow): pod A's
# namespace has one active open, pod B's none.
nsenter --net="/proc/${pods[0]}/ns/net" sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$dir_a" \
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all -- "$py" -c "$talk" >/dev/null 2>&1 &
pods+=("$!")
# pod_listeners UID: TCP listeners sockstate counted in that pod's namespace.
pod_listeners() {
  awk -v uid="k8s_pod_uid=\"$1\"" 'index($0, "system_network_connection_count{") == 1 && index($0, uid) &&
    /network_connection_state="listen"/ && /network_transport="tcp"/ { n += $NF; seen = 1 } END { if (seen) print n }' "$tmp/out"
}
# pod_opens UID: netsnmp's TCP active opens of that pod's namespace.
pod_opens() {
  awk -v uid="k8s_pod_uid=\"$1\"" 'index($0, "system_network_tcp_active_opens_total{") == 1 && index($0, uid) { print $NF }' "$tmp/out"
}
# check_opens RUN: netsnmp's active opens of each pod are nstat's in its namespace.
check_opens() {
  local i want got
  opens=
  for i in 0 1; do
    want=$(nsenter --net="/proc/${pods[i]}/ns/net" nstat -asz TcpActiveOpens | awk '$1 == "TcpActiveOpens" { print $2 }')
    got=$(pod_opens "$([ "$i" = 0 ] && echo "$uid_a" || echo "$uid_b")")
    [ "$got" = "$want" ] || fail "$1" "pod $i: netsnmp reads ${got:-no} TCP active opens, nstat in its namespace $want"
    opens+="${opens:+, }$got"
  done
}

run per-pod-agent "$agent_caps" "$here/pods.yaml" root
for i in 0 1; do
  u=$([ $i = 0 ] && echo "$uid_a" || echo "$uid_b")
  want=$(nsenter --net="/proc/${pods[i]}/ns/net" ss -Htln | wc -l)
  got=$(pod_listeners "$u")
  [ "$got" = "$want" ] || fail per-pod-agent "pod $u: sockstate counts ${got:-no series of} TCP listeners, ss counts $want"
done
grep -q "container_id=\"$ctr_a\"" "$tmp/out" || fail per-pod-agent "no container.id on pod $uid_a's namespace"
check_opens per-pod-agent
method=$(grep -oP 'sockstate counting method.*"method": "\K[a-z]+' "$tmp/log" | head -1)
# events where the kernel has it (CAP_SYS_ADMIN covers bpf()); the log says why not otherwise.
[ "$method" = events ] || grep -q 'skipped' "$tmp/log" || fail per-pod-agent "sockstate chose $method without saying why not events"
has_metric tcp_flow_active || fail per-pod-agent "tcpflow reported no flows"
grep -q "^tcp_flow_[a-z_]*{.*k8s_pod_uid=\"$uid_a\"" "$tmp/out" || fail per-pod-agent "tcpflow reported no series of pod $uid_a's flow"
has_log 'eBPF probe attached' || fail per-pod-agent "tcpflow did not attach its eBPF probe"
grep 'ICMP socket opened' "$tmp/log" | grep -q '"mode": "raw"' || fail per-pod-agent "connprobe did not open a raw ICMP socket"
echo "privileges: ok as uid 0 with ${agent_caps//+/} (CapEff $caps_eff): sockstate (method $method) and netsnmp name both pods and count their listeners and active opens ($opens) as ss and nstat do; tcpflow puts pod A's flow under its pod; raw ICMP works"

run per-pod-no-ptrace "${agent_caps/,+sys_ptrace/}" "$here/pods.yaml" root
[ -z "$(pod_listeners "$uid_a")$(pod_listeners "$uid_b")$(pod_opens "$uid_a")$(pod_opens "$uid_b")" ] || fail per-pod-no-ptrace "pods listed without CAP_SYS_PTRACE"
has_log "cannot be read and are not listed.*needs CAP_SYS_PTRACE" || fail per-pod-no-ptrace "no warning naming CAP_SYS_PTRACE for the namespaces left out"
echo "privileges: ok without CAP_SYS_PTRACE: the pods' namespaces are not listed (their /proc/PID/ns/net is unreadable), and the log says so naming CAP_SYS_PTRACE"

run per-pod-bpf-no-sysadmin +net_raw,+bpf,+perfmon,+sys_ptrace "$here/pods.yaml" root
[ -z "$(pod_listeners "$uid_a")$(pod_listeners "$uid_b")" ] || fail per-pod-bpf-no-sysadmin "pods counted without CAP_SYS_ADMIN"
has_log "/proc/${pods[0]}/ns/net: operation not permitted (needs CAP_SYS_ADMIN)" || fail per-pod-bpf-no-sysadmin "no error naming CAP_SYS_ADMIN for pod $uid_a's namespace"
has_log 'eBPF probe attached' || fail per-pod-bpf-no-sysadmin "tcpflow did not attach its eBPF probe with CAP_BPF + CAP_PERFMON"
check_opens per-pod-bpf-no-sysadmin
echo "privileges: ok with CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE, without CAP_SYS_ADMIN: netsnmp reads both pods (no setns), sockstate (events) cannot enter their namespaces and says it needs CAP_SYS_ADMIN"

echo "privileges: PASS"
