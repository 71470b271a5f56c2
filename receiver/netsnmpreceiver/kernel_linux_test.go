package netsnmpreceiver

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
)

func nstatFamily(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	for k, v := range metricValues(md) {
		if name, ok := strings.CutPrefix(k, "nstat."); ok {
			out[name] = v
		}
	}
	return out
}

// settle waits until the namespace has no socket left in a transient
// state, so counters stop moving before the next snapshot.
func settle(t *testing.T, ns *testnet.NS) {
	t.Helper()
	require.Eventually(t, func() bool {
		out := ns.Exec(t, "ss", "-Htan", "state", "syn-sent", "state", "syn-recv", "state", "fin-wait-1", "state", "last-ack", "state", "closing")
		return strings.TrimSpace(out) == ""
	}, 5*time.Second, 20*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
}

// TestKernelCountersMatchNstat generates known traffic in a fresh network
// namespace and checks the scraped counters against the expected deltas
// and against `nstat -az` in the same namespace, for every counter.
func TestKernelCountersMatchNstat(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "nstat")
	ns := testnet.New(t)

	cfg := defaultConfig()
	cfg.NetNS = ns.Path
	cfg.Nstat.Enabled = true
	s, _ := newTestScraper(t, cfg)

	ino, err := netnsutil.Inode(ns.Path)
	require.NoError(t, err)
	attrs := func(md pmetric.Metrics) (string, int64) {
		r := md.ResourceMetrics().At(0).Resource().Attributes()
		p, _ := r.Get("netns.path")
		i, _ := r.Get("netns.inode")
		return p.Str(), i.Int()
	}

	md0, err := s.scrape(context.Background())
	require.NoError(t, err)
	before := nstatFamily(md0)
	nstat0 := ns.Nstat(t)
	p, i := attrs(md0)
	assert.Equal(t, ns.Path, p)
	assert.Equal(t, int64(ino), i)

	tr := trafficSpec{nConns: 5, mRefused: 3, kUDP: 7, lOverflowed: 4}
	ns.Do(t, tr.run)
	settle(t, ns)

	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	after := nstatFamily(md1)
	nstat1 := ns.Nstat(t)
	assertNstat(t, ns.Path, before, after, nstat0, nstat1)
	tr.assertDeltas(t, ns.Path, before, after)

	// The curated metrics carry the same kernel values.
	v := metricValues(md1)
	assert.Equal(t, after["TcpActiveOpens"], v["system.network.tcp.active_opens"])
	assert.Equal(t, after["TcpExtListenOverflows"], v["system.network.tcp.listen.overflows"])
	assert.Equal(t, after["UdpNoPorts"], v["system.network.udp.no_ports{network.type=ipv4}"])
	assert.Equal(t, after["TcpCurrEstab"], v["system.network.tcp.current_established"])
	assert.Equal(t, after["Udp6NoPorts"], v["system.network.udp.no_ports{network.type=ipv6}"])
}

// assertNstat checks every counter nstat shows, with the same value,
// before and after, for the namespace at path.
func assertNstat(t *testing.T, path string, before, after map[string]int64, nstat0, nstat1 map[string]uint64) {
	t.Helper()
	for name, v := range nstat0 {
		assert.Equal(t, int64(v), before[name], "%s before: %s", path, name)
	}
	for name, v := range nstat1 {
		assert.Equal(t, int64(v), after[name], "%s after: %s", path, name)
	}
	assert.Len(t, after, len(nstat1)+7, "%s: nstat hides exactly 7 non-counters; we export them as gauges", path)
}

// trafficSpec is the known traffic of one namespace (see traffic).
type trafficSpec struct{ nConns, mRefused, kUDP, lOverflowed int }

func (tr trafficSpec) run() error { return traffic(tr.nConns, tr.mRefused, tr.kUDP, tr.lOverflowed) }

// assertDeltas checks the counters the traffic moves by known amounts.
func (tr trafficSpec) assertDeltas(t *testing.T, path string, before, after map[string]int64) {
	t.Helper()
	delta := func(name string) int64 { return after[name] - before[name] }
	filled := int64(0)
	if tr.lOverflowed > 0 {
		filled = 1 // one more accepted connection fills the overflowing listener's queue
	}
	assert.Equal(t, int64(tr.nConns+tr.mRefused+tr.lOverflowed)+filled, delta("TcpActiveOpens"), path)
	assert.Equal(t, int64(tr.nConns)+filled, delta("TcpPassiveOpens"), path)
	// Refused connects fail the attempt (SYN-SENT -> CLOSED on RST);
	// closing a socket whose SYN was dropped does not count here.
	assert.Equal(t, int64(tr.mRefused), delta("TcpAttemptFails"), path)
	assert.Equal(t, int64(tr.lOverflowed), delta("TcpExtListenOverflows"), path)
	assert.Equal(t, int64(tr.lOverflowed), delta("TcpExtListenDrops"), path)
	assert.Equal(t, int64(tr.kUDP), delta("UdpNoPorts"), path)
	assert.Equal(t, int64(tr.kUDP), delta("UdpOutDatagrams"), path)
	assert.Equal(t, int64(0), delta("UdpInDatagrams"), path)
	assert.Equal(t, int64(tr.kUDP), delta("IcmpOutDestUnreachs"), path)
}

// traffic runs inside the namespace: it must create every socket itself.
func traffic(nConns, mRefused, kUDP, lOverflowed int) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		for i := 0; i < nConns; i++ {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			c.Close()
		}
		accepted <- nil
	}()
	for i := 0; i < nConns; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		c.Close()
	}
	if err := <-accepted; err != nil {
		return err
	}

	// A port nobody listens on: reserve one, then close it.
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for i := 0; i < mRefused; i++ {
		if c, err := net.Dial("tcp4", closedAddr); err == nil {
			c.Close()
			return fmt.Errorf("connect to closed port %s succeeded", closedAddr)
		}
	}

	// An unconnected socket: ICMP errors are not reported back to it, so
	// every datagram is really sent.
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dst, err := net.ResolveUDPAddr("udp4", closedAddr)
	if err != nil {
		return err
	}
	for i := 0; i < kUDP; i++ {
		if _, err := u.WriteTo([]byte("x"), dst); err != nil {
			return err
		}
	}
	u.Close()

	if lOverflowed == 0 {
		return nil
	}
	return overflow(lOverflowed)
}

// overflow fills a backlog-0 listener's accept queue with one connection,
// then sends lOverflowed SYNs that the kernel drops (ListenOverflows and
// ListenDrops count each), closing them before their SYN is retransmitted.
func overflow(lOverflowed int) error {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(lfd, 0); err != nil {
		return err
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return err
	}
	first, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
	if err != nil {
		return err
	}
	defer first.Close()
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for i := 0; i < lOverflowed; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, sa); err != nil && err != syscall.EINPROGRESS {
			return err
		}
	}
	// The SYNs are dropped at once; close the sockets well before the 1 s
	// retransmission timer would send them again.
	time.Sleep(100 * time.Millisecond)
	return nil
}

// TestKernelNamespaceRecreated deletes and recreates the namespace under
// the same path: the receiver follows it, with a new inode on the resource
// and a new start time, never a negative delta.
func TestKernelNamespaceRecreated(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.New(t)
	cfg := defaultConfig()
	cfg.NetNS = ns.Path
	s, _ := newTestScraper(t, cfg)

	ns.Do(t, trafficSpec{nConns: 3}.run)
	md0, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(3), metricValues(md0)["system.network.tcp.active_opens"])

	out, err := exec.Command("sh", "-c", fmt.Sprintf("ip netns del %[1]s && ip netns add %[1]s", ns.Name)).CombinedOutput()
	require.NoError(t, err, string(out))

	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(0), metricValues(md1)["system.network.tcp.active_opens"])
	assert.NotEqual(t, startTimes(md0), startTimes(md1))
	i0, _ := md0.ResourceMetrics().At(0).Resource().Attributes().Get("netns.inode")
	i1, _ := md1.ResourceMetrics().At(0).Resource().Attributes().Get("netns.inode")
	assert.NotEqual(t, i0.Int(), i1.Int())
}
