#!/bin/busybox sh
# /init of the kernel-matrix guest (see test/kernels/run.sh): set the machine
# up as a minimal host, run every test binary in /tests and the distribution
# smoke test (tests run with -short: the host run has the long non-kernel
# ones), report on the second serial port (/dev/ttyS1) and the whole
# verbose logs on the third (/dev/ttyS2), power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
exec 3>/dev/ttyS1 4>/dev/ttyS2
say() { echo "$*" >&3; }

say "UNAME $(uname -r)"
hostname netstack-guest
ip link set lo up
# The sock_diag handlers (tcp_diag, udp_diag, raw_diag) are left to the
# kernel's module autoloading (request_module -> /sbin/modprobe), as on a
# Debian host: the sock_diag tests show it works. What iproute2 and nft
# would also load on demand is loaded here up front.
for m in veth nf_tables nft_numgen nft_ct sch_netem sch_tbf sch_htb; do
	modprobe "$m" || say "NOTE modprobe $m failed"
done
# As on Debian (systemd's default): unprivileged ICMP sockets for all groups.
sysctl -qw net.ipv4.ping_group_range="0 2147483647"

ulimit -n 1048576
fails=0
if [ -f /tests/bench ]; then
	# make bench-kernels: the side-by-side sockstate benchmark instead of tests.
	cp /tests/receiver_sockstatereceiver.test /bench/sockstate.test
	cd /src
	if BENCH_PREBUILT=/bench bash bench/sockstate.sh $(cat /tests/bench) >&3 2>&3; then say "ALL PASS"; else say "BENCH FAIL"; fi
	say "GUEST DONE"
	sync
	poweroff -f
fi
run=$(cat /tests/run)
count=$(cat /tests/count 2>/dev/null || echo 1)
for bin in /tests/*.test; do
	name=$(basename "$bin" .test)
	pkg=$(grep -x "$(echo "$name" | tr _ /)" /tests/packages || echo "$name" | tr _ /)
	cd "/src/$pkg" 2>/dev/null || cd /src
	log=/tmp/$name.log
	start=$(date +%s)
	if [ -n "$run" ]; then
		"$bin" -test.v -test.short -test.count="$count" -test.timeout=$((12 * count))m -test.run "$run" >"$log" 2>&1
	else
		"$bin" -test.v -test.short -test.count="$count" -test.timeout=$((12 * count))m >"$log" 2>&1
	fi
	rc=$?
	secs=$(($(date +%s) - start))
	npass=$(grep -c -- '^--- PASS' "$log")
	nskip=$(grep -c -- '^--- SKIP' "$log")
	nfail=$(grep -c -- '^--- FAIL' "$log")
	if [ $rc -eq 0 ]; then
		say "ok   $pkg ${secs}s pass=$npass skip=$nskip"
	else
		fails=$((fails + 1))
		say "FAIL $pkg ${secs}s pass=$npass skip=$nskip fail=$nfail exit=$rc"
		grep -q '^panic:' "$log" && say "PANIC in $pkg"
		tail -n 200 "$log" | sed 's/^/    /' >&3
		grep -- '^--- FAIL' "$log" >&3
	fi
	{ echo "=== $pkg"; cat "$log"; } >&4
	# Every skipped top-level test with its reason (the line before).
	awk '/^    [^ ]/ {last = $0} /^--- SKIP/ {sub(/^ +/, "", last); print "  skip " $3 ": " last}' "$log" >&3
done

# The distribution smoke test, as on the host.
cd /src
if bash test/smoke.sh _build/otelcol-netstack config/default.yaml >/tmp/smoke.log 2>&1; then
	say "ok   smoke test"
else
	fails=$((fails + 1))
	say "SMOKE FAIL"
	sed 's/^/    /' /tmp/smoke.log >&3
fi
{ echo "=== smoke"; cat /tmp/smoke.log; } >&4

if [ $fails -eq 0 ]; then say "ALL PASS"; else say "$fails FAILED"; fi
say "GUEST DONE"
sync
poweroff -f
