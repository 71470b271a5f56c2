package sockstatereceiver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// population is a known set of sockets held open in a test namespace.
type population struct {
	ns   *testnet.NS
	fds  []int
	want map[countKey]int64
	// queuePort is the listener whose accept queue is full: length 3, limit 2.
	queuePort map[string]uint16
}

// newPopulation builds, in a fresh namespace and for IPv4 and IPv6 on
// loopback: a plain listener with popEstablished accepted pairs,
// popTimeWait TIME_WAIT sockets (their peers closed), popFinWait2
// half-closed pairs (FIN_WAIT_2 + CLOSE_WAIT), a listener with backlog 2
// whose accept queue is full (3 queued) and one connection stuck in
// SYN_SENT behind it, one request socket in SYN_RECV (its final ACK
// dropped by nftables), a bound and a connected UDP socket, a bound UDP-Lite
// socket and a RAW socket. want holds the resulting counts, derived from the
// construction alone.
func newPopulation(t *testing.T) *population {
	t.Helper()
	p := &population{ns: testnet.New(t), want: map[countKey]int64{}, queuePort: map[string]uint16{}}
	t.Cleanup(func() {
		for _, fd := range p.fds {
			unix.Close(fd)
		}
	})
	const synRecvPort = 7001
	p.ns.Nft(t, fmt.Sprintf(`table inet sockstate_test {
	chain out {
		type filter hook output priority 0;
		tcp dport %d tcp flags & (syn | ack) == ack drop
	}
}`, synRecvPort))
	p.want = newPopulationWant()
	for _, fam := range []struct {
		name string
		af   int
		lo   netip.Addr
	}{{"ipv4", unix.AF_INET, netip.MustParseAddr("127.0.0.1")}, {"ipv6", unix.AF_INET6, netip.IPv6Loopback()}} {
		p.ns.Do(t, func() error { return p.build(fam.name, fam.af, fam.lo, synRecvPort) })
	}
	p.waitSettled(t)
	return p
}

func (p *population) build(fam string, af int, lo netip.Addr, synRecvPort uint16) error {
	ap := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(lo, port) }
	l, lport, err := p.listen(af, ap(0), 128)
	if err != nil {
		return err
	}
	pair := func() (c, s int, err error) {
		if c, err = p.socket(af, unix.SOCK_STREAM, 0); err != nil {
			return
		}
		if err = unix.Connect(c, sockaddr(ap(lport))); err != nil {
			return
		}
		s, _, err = unix.Accept4(l, unix.SOCK_CLOEXEC)
		p.fds = append(p.fds, s)
		return
	}
	for range popEstablished {
		if _, _, err := pair(); err != nil {
			return fmt.Errorf("established pair: %w", err)
		}
	}
	for range popTimeWait {
		c, s, err := pair()
		if err != nil {
			return fmt.Errorf("time-wait pair: %w", err)
		}
		// The client closes first, so it is the one left in TIME_WAIT.
		unix.Close(c)
		if err := waitState(s, tcpCloseWait); err != nil {
			return err
		}
		unix.Close(s)
		p.forget(c, s)
	}
	for range popFinWait2 {
		c, s, err := pair()
		if err != nil {
			return fmt.Errorf("half-closed pair: %w", err)
		}
		if err := unix.Shutdown(c, unix.SHUT_WR); err != nil {
			return err
		}
		if err := waitState(s, tcpCloseWait); err != nil {
			return err
		}
	}
	// A listener with backlog 2 accepts 3 handshakes into its queue (the
	// kernel's "full" test is length > limit); the 4th SYN is dropped.
	_, qport, err := p.listen(af, ap(0), 2)
	if err != nil {
		return err
	}
	p.queuePort[fam] = qport
	for range 3 {
		c, err := p.socket(af, unix.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		if err := unix.Connect(c, sockaddr(ap(qport))); err != nil {
			return fmt.Errorf("filling accept queue: %w", err)
		}
	}
	c, err := p.socket(af, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if err := waitQueued(p, af, qport, 3); err != nil {
		return err
	}
	if err := unix.Connect(c, sockaddr(ap(qport))); err != unix.EINPROGRESS {
		return fmt.Errorf("connect behind a full queue: want EINPROGRESS, got %v", err)
	}
	// SYN_RECV: the client's final ACK to synRecvPort is dropped.
	if _, _, err := p.listen(af, ap(synRecvPort), 128); err != nil {
		return err
	}
	if c, err = p.socket(af, unix.SOCK_STREAM, 0); err != nil {
		return err
	}
	if err := unix.Connect(c, sockaddr(ap(synRecvPort))); err != nil {
		return fmt.Errorf("connect to the syn_recv listener: %w", err)
	}
	// UDP: one bound (close, ss says UNCONN), one connected to it.
	u, err := p.socket(af, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(u, sockaddr(ap(0))); err != nil {
		return err
	}
	sa, err := unix.Getsockname(u)
	if err != nil {
		return err
	}
	if u, err = p.socket(af, unix.SOCK_DGRAM, 0); err != nil {
		return err
	}
	if err := unix.Connect(u, sa); err != nil {
		return err
	}
	if u, err = p.socket(af, unix.SOCK_DGRAM, unix.IPPROTO_UDPLITE); err != nil {
		return err
	}
	if err := unix.Bind(u, sockaddr(ap(0))); err != nil {
		return err
	}
	icmp := unix.IPPROTO_ICMP
	if af == unix.AF_INET6 {
		icmp = unix.IPPROTO_ICMPV6
	}
	_, err = p.socket(af, unix.SOCK_RAW, icmp)
	return err
}

func (p *population) socket(af, typ, proto int) (int, error) {
	fd, err := unix.Socket(af, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("socket(%d, %d, %d): %w", af, typ, proto, err)
	}
	p.fds = append(p.fds, fd)
	return fd, nil
}

func (p *population) forget(fds ...int) {
	for _, fd := range fds {
		for i, f := range p.fds {
			if f == fd {
				p.fds = append(p.fds[:i], p.fds[i+1:]...)
				break
			}
		}
	}
}

func (p *population) listen(af int, a netip.AddrPort, backlog int) (fd int, port uint16, err error) {
	if fd, err = p.socket(af, unix.SOCK_STREAM, 0); err != nil {
		return
	}
	if err = unix.Bind(fd, sockaddr(a)); err != nil {
		return
	}
	if err = unix.Listen(fd, backlog); err != nil {
		return
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		port = uint16(sa.Port)
	case *unix.SockaddrInet6:
		port = uint16(sa.Port)
	}
	return
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
	}
	return &unix.SockaddrInet6{Addr: a.Addr().As16(), Port: int(a.Port())}
}

const tcpCloseWait = 8 // include/net/tcp_states.h

// waitState waits until a TCP socket reaches state st (loopback delivers
// within microseconds; the bound only guards against a hang).
func waitState(fd int, st uint8) error {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return err
		}
		if ti.State == st {
			return nil
		}
	}
	return fmt.Errorf("socket %d did not reach TCP state %d", fd, st)
}

// waitQueued waits until the listener on port holds n completed handshakes.
func waitQueued(p *population, af int, port uint16, n int) error {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		fam := "-4"
		if af == unix.AF_INET6 {
			fam = "-6"
		}
		out, err := p.ns.Try("ss", "-Htln", fam, "sport", "=", fmt.Sprint(port))
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) > 2 && f[1] == fmt.Sprint(n) {
			return nil
		}
	}
	return fmt.Errorf("listener on port %d never held %d queued connections", port, n)
}

// waitSettled waits until ss sees every TCP socket of the population, so the
// last ACKs and FINs of the construction have been processed.
func (p *population) waitSettled(t *testing.T) {
	t.Helper()
	var got map[countKey]int64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = ssCounts(t, p.ns)
		if sameCounts(got, p.want, map[string]bool{"udplite": true}) {
			return
		}
	}
	t.Fatalf("population did not settle: ss sees %v, want %v", got, p.want)
}

// ssStates maps ss's state column to semconv names.
var ssStates = map[string]string{
	"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_received", "FIN-WAIT-1": "fin_wait_1",
	"FIN-WAIT-2": "fin_wait_2", "TIME-WAIT": "time_wait", "UNCONN": "closed", "CLOSE-WAIT": "close_wait",
	"LAST-ACK": "last_ack", "LISTEN": "listen", "CLOSING": "closing",
}

// ssCounts counts the namespace's sockets with ss, per transport, state and
// family. ss has no UDP-Lite option: those keys are left out.
func ssCounts(t *testing.T, ns *testnet.NS) map[countKey]int64 {
	t.Helper()
	got := map[countKey]int64{}
	for _, tr := range []struct{ name, flag string }{{"tcp", "-t"}, {"udp", "-u"}, {"raw", "-w"}} {
		for _, fam := range []struct{ name, flag string }{{"ipv4", "-4"}, {"ipv6", "-6"}} {
			out := ns.Exec(t, "ss", "-Han", tr.flag, fam.flag)
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) == 0 {
					continue
				}
				st, ok := ssStates[f[0]]
				if !ok {
					t.Fatalf("ss printed unknown state %q in %q", f[0], line)
				}
				got[countKey{tr.name, st, fam.name}]++
			}
		}
	}
	return got
}

// sameCounts compares non-zero counts, ignoring transports in skip.
func sameCounts(got, want map[countKey]int64, skip map[string]bool) bool {
	for k, v := range want {
		if !skip[k.transport] && got[k] != v {
			return false
		}
	}
	for k, v := range got {
		if !skip[k.transport] && v != 0 && want[k] != v {
			return false
		}
	}
	return true
}
