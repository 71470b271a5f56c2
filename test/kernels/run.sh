#!/usr/bin/env bash
# The kernel matrix: run every kernel test, and the distribution smoke test,
# on a second kernel (Debian 12's 6.1) booted under qemu. The host kernel is
# covered by the ordinary `go test` run on the host (make gotest).
#
#   test/kernels/run.sh DIST_BINARY
#
# Steps, each readable below:
#   1. fetch + unpack the kernel package into a cache that survives between
#      runs ($NETSTACK_KERNEL_CACHE, default /var/cache/netstack/kernels);
#      nothing is installed on the host;
#   2. build an initramfs: busybox-static, the kernel's modules, the test
#      binaries of every package with kernel tests (go test -c, CGO off), the
#      distribution, the tools the tests compare against with their libraries,
#      and the repository files the tests read (testdata, scripts);
#   3. boot it under qemu (TCG: no KVM here); test/kernels/init.sh runs the
#      tests in the guest and writes their output to a second serial port;
#   4. print `kernel <uname -r>: PASS`, or FAIL and the failing tests.
#
# Environment: KERNEL_PKG (default: what linux-image-cloud-amd64 depends on),
# A soft lockup in the guest panics it at once (softlockup_panic=1): the
# console's stack traces (every CPU's) are printed below instead of waiting
# for the timeout. The guest's idle CPUs poll instead of halting
# (idle=poll): under multi-threaded TCG a halted vCPU sometimes missed the
# IPI that a tracepoint's code patching waits for (text_poke_bp ->
# smp_call_function_many_cond stuck, "timer handling issue on cpu=0"),
# and the guest hung in 1 of about 15 runs of the tcpflow probe tests;
# polling costs no guest time here (3 runs: 181 s each, as without).
# GUEST_MEM (MiB, default 3072), GUEST_CPUS (default 2), GUEST_TIMEOUT
# (seconds, default 900), TESTS (go test -run regexp, default all), COUNT
# (go test -count, default 1: more repeats the tests to chase a flaky one),
# PACKAGES (default: the packages with kernel tests), KEEP=1 keeps the work dir,
# BENCH="100000 ..." runs bench/sockstate.sh at those sizes in the guest
# instead of the tests (make bench-kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
dist=$(realpath "${1:?usage: test/kernels/run.sh DIST_BINARY}")

cache=${NETSTACK_KERNEL_CACHE:-/var/cache/netstack/kernels}
mem=${GUEST_MEM:-3072}
cpus=${GUEST_CPUS:-2}
timeout_s=${GUEST_TIMEOUT:-900}
# Packages whose tests need a kernel (namespaces, BPF, sock_diag, ICMP).
packages=${PACKAGES:-$(grep -rlE 'internal/testnet"|Geteuid\(\)' --include='*_test.go' . |
	xargs -n1 dirname | sort -u | sed 's|^\./||' | tr '\n' ' ')}

log() { echo "test-kernels: $*" >&2; }

# ---- 0. host tools ---------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx modprobe || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
file /bin/busybox 2>/dev/null | grep -q 'statically linked' || ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
	{ log "/bin/busybox is not static (install busybox-static)"; exit 1; }

# ---- 1. kernel -------------------------------------------------------------
mkdir -p "$cache"
pkg=${KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then apt-get update -qq; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); fi
fi
[ -n "$pkg" ] || { log "cannot tell which kernel package linux-image-cloud-amd64 depends on"; exit 1; }
kdir=$cache/$pkg
# Runs in parallel (several checkouts) share the cache: one fetches, the
# others wait for it instead of unpacking over each other.
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$kdir/.unpacked" ]; then
	log "fetching $pkg into $cache"
	rm -rf "$kdir" && mkdir -p "$kdir"
	(cd "$cache" && rm -f "${pkg}"_*.deb && apt-get download "$pkg" >/dev/null 2>&1) ||
		{ apt-get update -qq && (cd "$cache" && apt-get download "$pkg" >/dev/null); }
	dpkg-deb -x "$cache/${pkg}"_*.deb "$kdir"
	release=$(ls "$kdir/lib/modules")
	depmod -b "$kdir" "$release" # the package carries no modules.dep
	touch "$kdir/.unpacked"
fi
flock -u 9
exec 9>&-
release=$(ls "$kdir/lib/modules")
vmlinuz=$kdir/boot/vmlinuz-$release

# ---- 2. initramfs ----------------------------------------------------------
work=$(mktemp -d /tmp/netstack-kernels.XXXXXX)
[ "${KEEP:-}" = 1 ] && log "work dir $work" || trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,run,tmp,var,root,src,tests}
ln -s ../run "$root/var/run"

if [ -n "${BENCH:-}" ]; then
	packages=receiver/sockstatereceiver
	mkdir -p "$root/bench"
	(cd bench/sockstate && CGO_ENABLED=0 go build -o "$root/bench/holder" ./holder && CGO_ENABLED=0 go build -o "$root/bench/gopsutil" ./gopsutil)
	echo "$BENCH" >"$root/tests/bench"
	mem=${GUEST_MEM:-6144}
fi
log "building test binaries: $packages"
# One binary per package, named after its path; CGO off makes them static.
# -race needs cgo, so the guest runs without it (the host run has it).
for p in $packages; do
	CGO_ENABLED=0 go test -c -o "$root/tests/$(echo "$p" | tr / _).test" "./$p"
done

cp /bin/busybox "$root/bin/busybox"
# sh is bash, as on a host: busybox's sh would run its own applets (ip,
# sysctl…) in preference to the real tools a test calls through sh -c.
ln -s /usr/bin/bash "$root/bin/sh"
for app in $(/bin/busybox --list); do
	[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done

# copy_bin PATH...: a host binary and the shared libraries it loads.
copy_bin() {
	local b
	for b in "$@"; do
		mkdir -p "$root$(dirname "$b")"
		cp -L "$b" "$root$b"
		ldd "$b" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			[ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
		done
	done
}
# The tools the tests compare against, and what the smoke test runs (and
# util-linux's setpriv and unshare: busybox's lack --reuid, --bounding-set). These
# shadow busybox's applets of the same name (busybox is in /bin, these in
# /usr/bin and /usr/sbin, which come first in PATH).
tools=(ss nstat ip tc nft ping fping traceroute jq bpftool bash curl sysctl tcpdump nsenter setpriv unshare bc)
for t in "${tools[@]}"; do
	p=$(command -v "$t") || { log "missing host tool $t (make deps installs it)"; exit 1; }
	copy_bin "$(realpath "$p")"
	[ "$(realpath "$p")" = "$p" ] || { mkdir -p "$root$(dirname "$p")"; ln -sf "$(realpath "$p")" "$root$p"; }
done
# Debian's kmod as /sbin/modprobe, the kernel's module loader (busybox's
# modprobe applet only lives in /bin).
copy_bin "$(realpath "$(command -v kmod)")"
for m in modprobe insmod rmmod lsmod depmod; do ln -sf "$(realpath "$(command -v kmod)")" "$root/sbin/$m"; done
# tc's netem distribution tables; iproute2's name tables.
cp -r /usr/lib/x86_64-linux-gnu/tc "$root/usr/lib/x86_64-linux-gnu/" 2>/dev/null || true
cp -r /usr/share/iproute2 "$root/usr/share/" 2>/dev/null || { mkdir -p "$root/usr/share"; cp -r /etc/iproute2 "$root/etc/" 2>/dev/null || true; }
cp /etc/services /etc/protocols "$root/etc/"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$root/etc/hosts"
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"

# Kernel modules: the whole tree, so that modprobe and the kernel's own
# module autoloading (request_module -> /sbin/modprobe) work as on a host.
mkdir -p "$root/lib/modules"
cp -a "$kdir/lib/modules/$release" "$root/lib/modules/"
# The kernel config, as /boot/config-* on a real host (tests read CONFIG_*).
mkdir -p "$root/boot" && cp "$kdir/boot/config-$release" "$root/boot/"

# The repository files tests read (testdata, scripts, configs).
git ls-files -z | grep -zvE '\.(o)$|^dashboards/|^deploy/' | xargs -0 cp --parents -t "$root/src" 2>/dev/null || true
mkdir -p "$root/src/_build" && cp "$dist" "$root/src/_build/otelcol-netstack"
cp test/kernels/init.sh "$root/init"
chmod +x "$root/init"
printf '%s\n' $packages >"$root/tests/packages"
printf '%s' "${TESTS:-}" >"$root/tests/run"
printf '%s' "${COUNT:-1}" >"$root/tests/count"

log "packing initramfs ($(du -sh "$root" | cut -f1))"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/initrd.cpio"

# ---- 3. boot ---------------------------------------------------------------
log "booting $release under qemu (TCG, ${cpus} CPUs, ${mem} MiB)"
out=$work/guest.out
console=$work/console.log
start=$(date +%s)
set +e
timeout --foreground "$timeout_s" qemu-system-x86_64 \
	-accel "tcg,thread=${GUEST_TCG_THREAD:-multi}" -cpu max -smp "$cpus" -m "$mem" \
	-kernel "$vmlinuz" -initrd "$work/initrd.cpio" \
	-append "console=ttyS0 quiet panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 idle=poll ${GUEST_CMDLINE:-} rdinit=/init netstack.emulated=1" \
	-nographic -no-reboot -nic none \
	-serial "file:$console" -serial "file:$out" -serial "file:$work/full.log" -monitor none
qrc=$?
set -e
elapsed=$(($(date +%s) - start))

# ---- 4. verdict ------------------------------------------------------------
# The guest's verbose test logs, kept for reading after the run.
mkdir -p "$repo/_build" && tr -d '\r' <"$work/full.log" >"$repo/_build/kernel-guest-$release.log" || true
guest_release=$(sed -n 's/^UNAME //p' "$out" | tr -d '\r' | head -1)
guest_release=${guest_release:-$release}
# Everything the guest printed goes to our stdout (it is the test log).
tr -d '\r' <"$out" | grep -v '^UNAME '
if grep -q '^ALL PASS' "$out"; then
	echo "kernel $guest_release: PASS (guest run ${elapsed}s; verbose log: _build/kernel-guest-$release.log)"
	exit 0
fi
echo "kernel $guest_release: FAIL (guest run ${elapsed}s, qemu exit $qrc)"
tr -d '\r' <"$out" | grep -E '^(--- FAIL|FAIL |SMOKE FAIL|PANIC)' | sed 's/^/  /' || true
if ! grep -q '^GUEST DONE' "$out"; then
	echo "  the guest did not finish (timeout ${timeout_s}s or crash); kernel console:"
	tail -n 120 "$console" | sed 's/^/  | /'
fi
exit 1
