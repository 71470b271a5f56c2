// Package testnet builds throwaway network namespaces for kernel tests:
// hosts with loopback up, veth links between them, sysctls and nftables
// rules, and runs commands or Go code inside them. Everything is removed in
// t.Cleanup. It is test-only: nothing outside _test.go files imports it.
package testnet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// RequireRoot skips the test, with a message saying why, unless it runs as
// root: kernel tests create network namespaces, which needs CAP_SYS_ADMIN.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test skipped: needs root to create network namespaces (CI runs it as root; run `sudo make test`)")
	}
}

// RequireTool fails the test when a command it compares against is missing:
// `make test` installs them, so a missing one is a broken setup, not a skip.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: run `make deps` (installs the tools the kernel tests compare against)", name)
	}
}

// Emulated reports whether the tests run in the kernel matrix's guest under
// software emulation (qemu TCG; test/kernels marks its kernel command line):
// every packet costs tens to hundreds of µs there, with much jitter, so
// timing comparisons made at µs precision natively need wider bounds.
func Emulated() bool {
	b, err := os.ReadFile("/proc/cmdline")
	return err == nil && strings.Contains(string(b), "netstack.emulated=1")
}

// Scaled returns a time bound that holds natively, widened tenfold under
// emulation (see Emulated).
func Scaled(d time.Duration) time.Duration {
	if Emulated() {
		return 10 * d
	}
	return d
}

// NS is a network namespace created for one test.
type NS struct {
	Name string // name under /run/netns
	Path string // /run/netns/<Name>, usable as a receiver's netns option
}

func randSuffix() string { return RandHex(8) }

// RandPodUID returns a random UUID, as the API server gives pods.
func RandPodUID() string {
	h := RandHex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// RandHex returns n random hex digits (n even), for names and IDs a test
// makes up: container IDs (64), pod UIDs (32, dashed by the caller).
func RandHex(n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// New creates a network namespace with lo up; it is deleted when the test
// ends.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	name := "nst-" + randSuffix()
	run(t, "ip", "netns", "add", name)
	ns := &NS{Name: name, Path: "/run/netns/" + name}
	t.Cleanup(func() {
		if _, err := os.Stat(ns.Path); os.IsNotExist(err) {
			return // the test deleted it itself
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("deleting netns %s: %v: %s", name, err, out)
		}
	})
	ns.Exec(t, "ip", "link", "set", "lo", "up")
	return ns
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside the namespace and returns its combined output;
// the test fails if the command fails.
func (n *NS) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Try runs a command inside the namespace and returns its output and error.
func (n *NS) Try(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Command returns an unstarted command that runs inside the namespace, for
// long-running helpers (servers, traffic generators) the test starts and
// stops itself.
func (n *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Do runs fn on an OS thread inside the namespace (see netnsutil.Do);
// sockets fn creates stay in the namespace and may be used anywhere.
func (n *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := netnsutil.Do(n.Path, fn); err != nil {
		t.Fatalf("in netns %s: %v", n.Name, err)
	}
}

// Sysctl sets a sysctl inside the namespace, e.g. Sysctl(t, "net.ipv4.ip_forward", "1").
func (n *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	n.Exec(t, "sysctl", "-qw", key+"="+value)
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace.
func (n *NS) Nft(t testing.TB, ruleset string) {
	t.Helper()
	RequireTool(t, "nft")
	cmd := n.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\nruleset:\n%s", n.Name, err, out, ruleset)
	}
}

// Netem puts a netem qdisc with the given parameters (e.g. "delay", "20ms",
// "5ms") on an interface of the namespace. It skips the test, naming the
// facility, where the kernel has no usable sch_netem (some hosts and
// sandboxes refuse it; the kernel matrix's guest has it).
func (n *NS) Netem(t testing.TB, ifc string, params ...string) {
	t.Helper()
	RequireTool(t, "tc")
	out, err := n.Try(append([]string{"tc", "qdisc", "add", "dev", ifc, "root", "netem"}, params...)...)
	if err != nil {
		t.Skipf("needs sch_netem (tc qdisc add ... netem: %v: %s); the kernel matrix (test/kernels) runs it", err, strings.TrimSpace(out))
	}
}

// DropEvery returns an input-hook ruleset (for Nft, in the receiving
// namespace) that drops every nth TCP packet carrying data (longer than 200
// bytes) to port; handshakes, pure ACKs and FINs pass. The drop is counted,
// not random: on veth a data packet is often a 64 KiB GSO super-packet, so
// a transfer of a few MiB is only ~100 packets, and a random 2% drop lost
// none of them in about one run in fifty. Every nth always loses some, and
// loses them one at a time.
func DropEvery(port, n int) string {
	return fmt.Sprintf(`table inet loss {
	chain in {
		type filter hook input priority 0;
		tcp dport %d meta length > 200 numgen inc mod %d == %d drop
	}
}
`, port, n, n-1)
}

// Link joins two namespaces with a veth pair, assigns the addresses (CIDR
// notation, IPv4 or IPv6; empty to skip) and brings both ends up. It returns
// the interface names in a and b. IPv6 addresses are added with nodad so
// they are usable at once.
func Link(t testing.TB, a, b *NS, aAddr, bAddr string) (aIf, bIf string) {
	t.Helper()
	s := randSuffix()
	aIf, bIf = "va"+s, "vb"+s
	run(t, "ip", "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	for _, e := range []struct {
		ns   *NS
		ifc  string
		addr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if e.addr != "" {
			e.ns.AddAddr(t, e.ifc, e.addr)
		}
		e.ns.Exec(t, "ip", "link", "set", e.ifc, "up")
	}
	return aIf, bIf
}

// AddAddr adds an address (CIDR notation) to an interface in the namespace.
func (n *NS) AddAddr(t testing.TB, ifc, cidr string) {
	t.Helper()
	args := []string{"ip", "addr", "add", cidr, "dev", ifc}
	if strings.Contains(cidr, ":") {
		args = append(args, "nodad")
	}
	n.Exec(t, args...)
}

// String names the namespace in test output.
func (n *NS) String() string { return fmt.Sprintf("netns %s", n.Name) }

// Listen opens a listener inside the namespace; it is closed when the test
// ends.
func (n *NS) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	n.Do(t, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Pairs makes count established connections to ln from inside the
// namespace and accepts each, so both ends exist; all are closed when the
// test ends.
func (n *NS) Pairs(t testing.TB, ln net.Listener, count int) {
	t.Helper()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	n.Do(t, func() error {
		return ConnectPairs(ln, count, func(c, s net.Conn) { conns = append(conns, c, s) })
	})
}

// Nstat runs `nstat -asz` in the namespace: absolute values, zeros
// included, history neither used nor updated. It returns name -> value,
// names as nstat prints them (it hides the non-counters such as
// TcpCurrEstab).
func (n *NS) Nstat(t testing.TB) map[string]uint64 {
	t.Helper()
	RequireTool(t, "nstat")
	out := n.Exec(t, "env", "NSTAT_HISTORY="+t.TempDir()+"/hist", "nstat", "-asz")
	vals := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("nstat line %q: %v", line, err)
		}
		vals[f[0]] = v
	}
	if len(vals) < 100 {
		t.Fatalf("nstat printed too little in %s:\n%s", n, out)
	}
	return vals
}
