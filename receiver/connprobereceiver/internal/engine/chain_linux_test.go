package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil/nssock"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	routerV4 = testnet.ChainRouterV4
	serverV4 = testnet.ChainServerV4
	routerV6 = testnet.ChainRouterV6
	serverV6 = testnet.ChainServerV6
)

func newChain(t *testing.T) *testnet.Chain { return testnet.NewChain(t) }

func maker(t *testing.T, ns *testnet.NS) *nssock.Maker {
	t.Helper()
	mk, err := nssock.New(ns.Path)
	require.NoError(t, err)
	t.Cleanup(mk.Close)
	return mk
}

func TestTraceTwoHops(t *testing.T) {
	c := newChain(t)
	mk := maker(t, c.Client)
	c.Client.Sysctl(t, "net.ipv4.ping_group_range", "0 2147483647")
	// A TCP listener on the server, for the tcp mode.
	var ln net.Listener
	c.Server.Do(t, func() (err error) { ln, err = net.Listen("tcp", ":7777"); return err })
	defer ln.Close()
	for _, fam := range []struct {
		family         int
		router, server string
	}{{unix.AF_INET, routerV4, serverV4}, {unix.AF_INET6, routerV6, serverV6}} {
		conn, err := ping.Open(mk, fam.family, ping.Options{})
		require.NoError(t, err)
		dgram, err := ping.Open(mk, fam.family, ping.Options{Mode: ping.ModeDatagram})
		require.NoError(t, err)
		dst := netip.MustParseAddr(fam.server)
		for _, p := range []trace.Prober{
			&trace.ICMPProber{Conn: conn, Dst: dst, PayloadSize: 16},
			&trace.ICMPProber{Conn: dgram, Dst: dst, PayloadSize: 16}, // unprivileged: error queue
			&trace.SocketProber{Maker: mk, Dst: dst, Port: 33434, SrcPort: 45001},
			&trace.SocketProber{Maker: mk, TCP: true, Dst: dst, Port: 7777, SrcPort: 45002},
			&trace.SocketProber{Maker: mk, TCP: true, Dst: dst, Port: 7778, SrcPort: 45003}, // closed port: RST
		} {
			name := fmt.Sprintf("%s/%T/%v", fam.server, p, p)
			path, err := trace.Run(context.Background(), p, trace.Options{MaxHops: 8, ProbesPerHop: 1, Timeout: time.Second, Pace: 20 * time.Millisecond})
			require.NoError(t, err, name)
			require.True(t, path.Reached, name)
			require.Len(t, path.Hops, 2, name)
			assert.Equal(t, fam.router, path.Hops[0].Addr.String(), name)
			assert.Equal(t, fam.server, path.Hops[1].Addr.String(), name)
			for _, h := range path.Hops {
				require.Len(t, h.RTTs, 1, name)
				assert.Greater(t, h.RTTs[0], time.Duration(0), name)
				assert.Less(t, h.RTTs[0], 200*time.Millisecond, name)
			}
		}
		require.NoError(t, conn.Close())
		require.NoError(t, dgram.Close())
	}
}

// Changing the route mid-test is counted as exactly one route change, and
// the path id follows it.
func TestRouteChangeCountedOnce(t *testing.T) {
	c := newChain(t)
	c.AddSecondRouter(t)

	e := New(Config{Netns: c.Client.Path, Targets: []Target{{
		Name: "server", Host: serverV4, IPFamily: "ipv4",
		TraceInterval: 150 * time.Millisecond, TraceMaxHops: 5, TraceProtocol: "icmp",
		TraceProbesPerHop: 1, TraceTimeout: 300 * time.Millisecond, TracePace: 10 * time.Millisecond,
	}}})
	require.NoError(t, e.Start())
	defer e.Shutdown()
	waitTrace := func(cond func(*TraceState) bool) *TraceState {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			s := e.Collect()
			if len(s[0].Addrs) == 1 && s[0].Addrs[0].Trace != nil && cond(s[0].Addrs[0].Trace) {
				return s[0].Addrs[0].Trace
			}
			time.Sleep(50 * time.Millisecond)
		}
		s := e.Collect()
		if len(s[0].Addrs) == 1 && s[0].Addrs[0].Trace != nil {
			t.Fatalf("condition not met in time: %+v", *s[0].Addrs[0].Trace)
		}
		t.Fatalf("condition not met in time: %+v", s)
		return nil
	}
	before := waitTrace(func(ts *TraceState) bool { return ts.Reached && ts.Path[0].String() == routerV4 })
	assert.Zero(t, before.RouteChanges)
	time.Sleep(500 * time.Millisecond)
	c.UseSecondRouter(t)
	after := waitTrace(func(ts *TraceState) bool { return ts.Reached && ts.Path[0].String() == testnet.ChainRouter2V4 })
	time.Sleep(600 * time.Millisecond) // more traces on the new path
	final := e.Collect()[0].Addrs[0].Trace
	assert.Equal(t, uint64(1), after.RouteChanges)
	assert.Equal(t, uint64(1), final.RouteChanges)
	assert.NotEqual(t, before.PathID, final.PathID)
	assert.Equal(t, after.PathID, final.PathID)
}

// nftables drops 30% of the echo requests at the server; our loss must be
// exactly the dropped count over the counted requests.
func TestLossMatchesNftCounters(t *testing.T) {
	c := newChain(t)
	c.Server.Nft(t, `table inet probe {
	chain input {
		type filter hook input priority 0;
		icmp type echo-request counter comment "all4"
		icmpv6 type echo-request counter comment "all6"
		icmp type echo-request numgen random mod 10 < 3 counter drop comment "drop4"
		icmpv6 type echo-request numgen random mod 10 < 3 counter drop comment "drop6"
	}
}`)
	// Only nft may lose a packet: the timeout (and so the interval) is far
	// above any RTT, widened under emulation where a stalled vCPU can hold
	// an answer for 100 ms.
	interval, timeout := testnet.Scaled(60*time.Millisecond), testnet.Scaled(150*time.Millisecond)
	e := New(Config{Netns: c.Client.Path, Targets: []Target{
		{Name: "v4", Host: serverV4, PingInterval: interval, PingCount: 10, PingPayload: 41, PingTimeout: timeout, PingSpacing: time.Millisecond},
		{Name: "v6", Host: serverV6, PingInterval: interval, PingCount: 10, PingPayload: 41, PingTimeout: timeout, PingSpacing: time.Millisecond},
	}})
	require.NoError(t, e.Start())
	var windows [2]PingWindow
	add := func(snaps []TargetSnapshot) {
		for i, s := range snaps {
			for _, a := range s.Addrs {
				if a.Ping != nil {
					windows[i].Bursts += a.Ping.Bursts
					windows[i].Sent += a.Ping.Sent
					windows[i].Received += a.Ping.Received
				}
			}
		}
	}
	// At least 2 s of windows, and more (bounded) until each family has
	// more than 10 bursts: a loaded machine completes fewer per second.
	deadline := time.Now().Add(testnet.Scaled(10 * time.Second))
	for w := 0; w < 8 || (windows[0].Bursts <= 10 || windows[1].Bursts <= 10) && time.Now().Before(deadline); w++ {
		time.Sleep(testnet.Scaled(250 * time.Millisecond))
		add(e.Collect())
	}
	e.Shutdown()
	add(e.Collect()) // bursts finished during Shutdown
	last := e.Collect()
	n := c.Server.NftCounters(t, "inet", "probe")
	for i, fam := range []string{"4", "6"} {
		w := windows[i]
		require.Greater(t, w.Bursts, 10)
		assert.Equal(t, n["all"+fam], uint64(w.Sent), "requests counted by nft vs sent, ipv%s", fam)
		assert.Equal(t, n["drop"+fam], uint64(w.Sent-w.Received), "nft drops vs our losses, ipv%s", fam)
		assert.Equal(t, uint64(w.Sent), last[i].Addrs[0].PacketsSent, "cumulative = sum of windows")
		assert.Equal(t, uint64(w.Received), last[i].Addrs[0].PacketsReceived)
		ratio := float64(w.Sent-w.Received) / float64(w.Sent)
		assert.InDelta(t, 0.3, ratio, 0.15, "drop ratio near the nft 30%%")
	}
}

// A listener, a closed port and an nft-dropped port give open, closed and
// filtered, over IPv4 and IPv6.
func TestPortStates(t *testing.T) {
	c := newChain(t)
	c.Server.Nft(t, `table inet probe {
	chain input {
		type filter hook input priority 0;
		tcp dport 8082 drop
	}
}`)
	var ln net.Listener
	c.Server.Do(t, func() (err error) { ln, err = net.Listen("tcp", ":8080"); return err })
	defer ln.Close()
	mk := maker(t, c.Client)
	for _, dst := range []string{serverV4, serverV6} {
		a := netip.MustParseAddr(dst)
		for port, want := range map[uint16]tcpconn.State{8080: tcpconn.Open, 8081: tcpconn.Closed, 8082: tcpconn.Filtered} {
			r := tcpconn.Probe(mk, a, port, tcpconn.Options{Timeout: 300 * time.Millisecond})
			require.NoError(t, r.Err)
			assert.Equal(t, want, r.State, "%s port %d", dst, port)
			if want == tcpconn.Filtered {
				assert.GreaterOrEqual(t, r.Duration, 300*time.Millisecond)
			} else {
				assert.Less(t, r.Duration, 100*time.Millisecond)
			}
		}
	}
	// No route: an error, not a port state.
	r := tcpconn.Probe(mk, netip.MustParseAddr("10.99.0.1"), 80, tcpconn.Options{Timeout: 300 * time.Millisecond})
	c.Client.Exec(t, "ip", "route", "add", "unreachable", "10.98.0.0/16")
	r = tcpconn.Probe(mk, netip.MustParseAddr("10.98.0.1"), 80, tcpconn.Options{Timeout: 300 * time.Millisecond})
	require.Error(t, r.Err)
	assert.Equal(t, "unreachable", ErrorType(r.Err))
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)

// pingRTTs returns the RTTs iputils ping printed.
func pingRTTs(t *testing.T, out string) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		ms, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		rtts = append(rtts, time.Duration(ms*float64(time.Millisecond)))
	}
	return rtts
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Our RTTs and iputils ping's, measured side by side against the same
// host, have medians within 50 µs.
func TestRTTAgreesWithIputilsPing(t *testing.T) {
	testnet.RequireTool(t, "ping")
	c := newChain(t)
	mk := maker(t, c.Client)
	for _, fam := range []struct {
		family int
		dst    string
	}{{unix.AF_INET, serverV4}, {unix.AF_INET6, serverV6}} {
		conn, err := ping.Open(mk, fam.family, ping.Options{})
		require.NoError(t, err)
		cmd := c.Client.Command("ping", "-n", "-c", "100", "-i", "0.01", "-s", "56", fam.dst)
		var out strings.Builder
		cmd.Stdout = &out
		require.NoError(t, cmd.Start())
		var ours []time.Duration
		for range 100 {
			p, err := conn.Send(ping.Request{Dst: netip.MustParseAddr(fam.dst), PayloadSize: 56}, nil)
			require.NoError(t, err)
			select {
			case r := <-p.C:
				ours = append(ours, r.RTT())
			case <-time.After(time.Second):
				conn.Forget(p)
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, cmd.Wait())
		require.NoError(t, conn.Close())
		theirs := pingRTTs(t, out.String())
		require.Len(t, ours, 100)
		require.GreaterOrEqual(t, len(theirs), 95)
		mo, mt := median(ours), median(theirs)
		t.Logf("%s: median RTT ours %v, iputils ping %v, diff %v", fam.dst, mo, mt, mo-mt)
		// iputils' own user-space path differs from ours by 0-50 µs on an
		// idle host; 75 µs leaves room for a busy one under -race.
		if testnet.Emulated() {
			// Under emulation user-space wake-ups take hundreds of µs:
			// iputils' user-space times are off by more than what is being
			// compared (our kernel timestamps were 245 µs against its 686).
			// TestRTTUnderNetemDelay checks accuracy there, at ms scale.
			continue
		}
		assert.InDelta(t, float64(mt), float64(mo), float64(75*time.Microsecond))
	}
}

// A name resolving only to IPv6 is probed over IPv6; an unresolvable name
// is a per-target error that leaves the other targets alone.
// TestRTTUnderNetemDelay: on a path with a real 20 ms ± 5 ms delay (netem on
// the server's egress), every RTT we measure lies within the delay's range
// and our median agrees with iputils ping's, sampled at the same time.
func TestRTTUnderNetemDelay(t *testing.T) {
	testnet.RequireTool(t, "ping")
	c := newChain(t)
	c.Server.Netem(t, c.ServerIfc, "delay", "20ms", "5ms")
	// Neighbour resolution crosses the delay too: done before measuring.
	c.Client.Exec(t, "ping", "-n", "-c", "1", "-W", "2", serverV4)
	mk := maker(t, c.Client)
	conn, err := ping.Open(mk, unix.AF_INET, ping.Options{})
	require.NoError(t, err)
	defer conn.Close()
	// The path's own cost adds to the delay: µs natively, up to a few ms
	// under emulation (test/kernels).
	slack := 2 * time.Millisecond
	if testnet.Emulated() {
		slack = 8 * time.Millisecond
	}
	const n = 100
	cmd := c.Client.Command("ping", "-n", "-c", fmt.Sprint(n), "-i", "0.02", "-s", "56", serverV4)
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	var ours []time.Duration
	for range n {
		p, err := conn.Send(ping.Request{Dst: netip.MustParseAddr(serverV4), PayloadSize: 56}, nil)
		require.NoError(t, err)
		select {
		case r := <-p.C:
			ours = append(ours, r.RTT())
		case <-time.After(2 * time.Second):
			conn.Forget(p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Wait())
	theirs := pingRTTs(t, out.String())
	require.Len(t, ours, n, "netem adds delay, not loss")
	require.Len(t, theirs, n)
	// netem's jitter is uniform in ±5 ms: no RTT can be shorter than 15 ms;
	// the rest of the path only adds (µs natively; under emulation a
	// stalled vCPU can add tens of ms to a few samples, so there the bound
	// is on the 90th percentile).
	sorted := slices.Clone(ours)
	slices.Sort(sorted)
	require.GreaterOrEqual(t, sorted[0], 15*time.Millisecond, "RTT below the netem delay's range")
	top := sorted[len(sorted)-1]
	if testnet.Emulated() {
		top = sorted[len(sorted)*9/10]
	}
	require.Less(t, top, 25*time.Millisecond+slack, "RTTs above 20 ms ± 5 ms (+%v): %v", slack, sorted[len(sorted)-10:])
	mo, mt := median(ours), median(theirs)
	t.Logf("netem 20ms±5ms: median RTT ours %v, iputils ping %v, diff %v", mo, mt, mo-mt)
	assert.InDelta(t, float64(20*time.Millisecond+slack/4), float64(mo), float64(slack), "median RTT vs the netem delay")
	// Two medians of 100 uniform samples each differ by ~0.5 ms (1 sigma).
	assert.InDelta(t, float64(mt), float64(mo), float64(slack), "median RTT vs iputils ping's")
}

func TestResolveErrorsAndIPv6OnlyName(t *testing.T) {
	ns := testnet.New(t)
	e := New(Config{Netns: ns.Path, Targets: []Target{
		{Name: "six", Host: "only6.test", IPFamily: "both", PingInterval: 50 * time.Millisecond, PingCount: 2, PingTimeout: 200 * time.Millisecond},
		{Name: "bad", Host: "nothing.invalid", IPFamily: "both", PingInterval: 50 * time.Millisecond, PingCount: 2, PingTimeout: 200 * time.Millisecond},
	}, Resolver: func(_ context.Context, host, network string) ([]netip.Addr, error) {
		if host == "only6.test" && network == "ip" {
			return []netip.Addr{netip.MustParseAddr("::1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}})
	require.NoError(t, e.Start())
	time.Sleep(400 * time.Millisecond)
	s := e.Collect()
	e.Shutdown()
	require.Len(t, s, 2)
	require.Len(t, s[0].Addrs, 1)
	assert.Equal(t, "::1", s[0].Addrs[0].Addr.String())
	require.NotNil(t, s[0].Addrs[0].Ping)
	assert.Equal(t, s[0].Addrs[0].Ping.Sent, s[0].Addrs[0].Ping.Received)
	require.NotNil(t, s[0].DNS)
	assert.NoError(t, s[0].DNS.Err)
	assert.Empty(t, s[0].Errors)
	assert.Empty(t, s[1].Addrs)
	assert.Equal(t, uint64(1), s[1].Errors["resolve"])
}

// Traces faster than the router's ICMP rate limit (Linux: 1/s per source
// after a burst of 6) get silent probes at hop 1: they are counted as
// rate_limited / no_answer, never as loss or a route change, and the known
// path keeps the router.
func TestRateLimitedHopIsNotAChange(t *testing.T) {
	c := newChain(t)
	e := New(Config{Netns: c.Client.Path, Targets: []Target{{
		Name: "server", Host: serverV4, IPFamily: "ipv4",
		TraceInterval: 40 * time.Millisecond, TraceMaxHops: 5, TraceProtocol: "udp", TracePort: 33434, TraceSourcePort: 45100,
		TraceProbesPerHop: 3, TraceTimeout: 100 * time.Millisecond,
	}}})
	require.NoError(t, e.Start())
	// Enough traces for the hops' ICMP rate limits to bite (fewer fit in a
	// second under emulation).
	time.Sleep(testnet.Scaled(1500 * time.Millisecond))
	e.Shutdown()
	tr := e.Collect()[0].Addrs[0].Trace
	require.NotNil(t, tr)
	t.Logf("hop probes: %v", tr.HopProbes)
	assert.Greater(t, tr.HopProbes["rate_limited"]+tr.HopProbes["no_answer"], uint64(0))
	assert.Greater(t, tr.HopProbes["answered"], uint64(0))
	assert.Zero(t, tr.RouteChanges)
	require.Len(t, tr.Path, 2)
	assert.Equal(t, routerV4, tr.Path[0].String())
	assert.Equal(t, serverV4, tr.Path[1].String())
}

// serveDNS answers A and AAAA questions for any name with the given
// addresses (a minimal responder: enough for Go's resolver).
func serveDNS(pc net.PacketConn, a4, a6 netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		i := 12
		for i < n && q[i] != 0 {
			i += int(q[i]) + 1
		}
		i++
		if n < 12 || i+4 > n {
			continue
		}
		qtype := uint16(q[i])<<8 | uint16(q[i+1])
		resp := append([]byte(nil), q[:i+4]...)
		resp[2], resp[3] = 0x81, 0x80
		clear(resp[6:12])
		var rdata []byte
		switch qtype {
		case 1:
			b := a4.As4()
			rdata = b[:]
		case 28:
			b := a6.As16()
			rdata = b[:]
		}
		if rdata != nil {
			resp[7] = 1
			resp = append(resp, 0xc0, 0x0c, byte(qtype>>8), byte(qtype), 0, 1, 0, 0, 0, 60, 0, byte(len(rdata)))
			resp = append(resp, rdata...)
		}
		_, _ = pc.WriteTo(resp, from)
	}
}

// A name is resolved inside the client namespace (through dns.server),
// every address it resolves to is probed and labelled, and the
// resolution is timed.
func TestResolveInNamespaceProbesEveryAddress(t *testing.T) {
	c := newChain(t)
	var pc net.PacketConn
	c.Server.Do(t, func() (err error) { pc, err = net.ListenPacket("udp", serverV4+":53"); return err })
	defer pc.Close()
	go serveDNS(pc, netip.MustParseAddr(serverV4), netip.MustParseAddr(serverV6))
	e := New(Config{Netns: c.Client.Path, Targets: []Target{{
		Name: "svc", Host: "svc.test", IPFamily: "both", DNSServer: serverV4 + ":53", DNSInterval: time.Hour,
		PingInterval: 50 * time.Millisecond, PingCount: 1, PingTimeout: 200 * time.Millisecond,
	}}})
	require.NoError(t, e.Start())
	time.Sleep(500 * time.Millisecond)
	s := e.Collect()[0]
	e.Shutdown()
	require.NotNil(t, s.DNS)
	require.NoError(t, s.DNS.Err)
	assert.Equal(t, 2, s.DNS.Addrs)
	assert.Greater(t, s.DNS.Duration, time.Duration(0))
	assert.Less(t, s.DNS.Duration, testnet.Scaled(100*time.Millisecond))
	require.Len(t, s.Addrs, 2)
	assert.Equal(t, serverV4, s.Addrs[0].Addr.String())
	assert.Equal(t, serverV6, s.Addrs[1].Addr.String())
	for _, a := range s.Addrs {
		require.NotNil(t, a.Ping, a.Addr)
		assert.Equal(t, a.Ping.Sent, a.Ping.Received, a.Addr)
	}
	assert.Empty(t, s.Errors)
}

// An unreachable network and a firewall (EPERM) are per-target errors,
// logged once per type and interval; the other target is unaffected.
func TestErrorsPerTargetAndRateLimitedLog(t *testing.T) {
	ns := testnet.New(t)
	ns.Exec(t, "ip", "route", "add", "unreachable", "10.98.0.0/16")
	ns.Exec(t, "ip", "addr", "add", "10.97.0.1/32", "dev", "lo")
	ns.Nft(t, `table ip out {
	chain output {
		type filter hook output priority 0;
		ip daddr 10.97.0.1 icmp type echo-request drop
	}
}`)
	core, logs := observer.New(zap.WarnLevel)
	spec := func(name, host string) Target {
		return Target{Name: name, Host: host, PingInterval: 20 * time.Millisecond, PingCount: 1, PingTimeout: 100 * time.Millisecond}
	}
	e := New(Config{Netns: ns.Path, Logger: zap.New(core), ErrorLogInterval: time.Hour, Targets: []Target{
		spec("noroute", "10.98.0.1"), spec("firewalled", "10.97.0.1"), spec("ok", "127.0.0.1"),
	}})
	require.NoError(t, e.Start())
	time.Sleep(300 * time.Millisecond)
	e.Shutdown()
	s := e.Collect()
	assert.Greater(t, s[0].Errors["unreachable"], uint64(3))
	assert.Greater(t, s[1].Errors["permission_denied"], uint64(3))
	assert.Empty(t, s[2].Errors)
	require.NotNil(t, s[2].Addrs[0].Ping)
	assert.Equal(t, s[2].Addrs[0].Ping.Sent, s[2].Addrs[0].Ping.Received)
	assert.Equal(t, 2, logs.FilterMessage("probe failed").Len(), "one line per target and error type")
}

// ttl, tos and dont_fragment reach the wire: TTL 1 dies at the router,
// the TOS byte is what nft sees at the server, and a don't-fragment
// request larger than the MTU fails at the sender instead of being
// fragmented.
func TestTTLTOSDontFragment(t *testing.T) {
	c := newChain(t)
	c.Server.Nft(t, `table inet probe {
	chain input {
		type filter hook input priority 0;
		ip dscp cs4 icmp type echo-request counter comment "cs4"
		ip6 dscp cs4 icmpv6 type echo-request counter comment "cs4v6"
		icmp type echo-request counter comment "all4"
	}
}`)
	base := Target{PingInterval: 40 * time.Millisecond, PingCount: 2, PingPayload: 56, PingTimeout: 200 * time.Millisecond}
	with := func(name, host string, f func(*Target)) Target {
		x := base
		x.Name, x.Host = name, host
		f(&x)
		return x
	}
	e := New(Config{Netns: c.Client.Path, Targets: []Target{
		with("ttl1", serverV4, func(x *Target) { x.TTL = 1 }),
		with("ttl2", serverV4, func(x *Target) { x.TTL = 2 }),
		with("cs4", serverV4, func(x *Target) { x.TOS = 0x80 }),
		with("cs4v6", serverV6, func(x *Target) { x.TOS = 0x80 }),
		with("df", serverV4, func(x *Target) { x.DontFragment = true; x.PingPayload = 3000 }),
		with("frag", serverV4, func(x *Target) { x.PingPayload = 3000 }),
	}})
	require.NoError(t, e.Start())
	var w [6]PingWindow
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		for i, s := range e.Collect() {
			for _, a := range s.Addrs {
				if a.Ping != nil {
					w[i].Sent += a.Ping.Sent
					w[i].Received += a.Ping.Received
				}
			}
		}
	}
	e.Shutdown()
	for i, s := range e.Collect() {
		for _, a := range s.Addrs {
			if a.Ping != nil {
				w[i].Sent += a.Ping.Sent
				w[i].Received += a.Ping.Received
			}
		}
	}
	last := e.Collect()
	require.Greater(t, w[0].Sent, 0)
	assert.Zero(t, w[0].Received, "TTL 1 ends at the router")
	assert.Equal(t, w[1].Sent, w[1].Received, "TTL 2 reaches the server")
	n := c.Server.NftCounters(t, "inet", "probe")
	assert.Equal(t, uint64(w[2].Sent), n["cs4"], "requests with TOS 0x80 (DSCP CS4)")
	assert.Equal(t, uint64(w[3].Sent), n["cs4v6"])
	assert.Zero(t, w[4].Sent, "don't fragment: 3028-byte requests do not leave")
	assert.Greater(t, last[4].Errors["other"], uint64(0), "EMSGSIZE is reported: %v", last[4].Errors)
	assert.Greater(t, w[5].Received, 0, "without DF they are fragmented and answered")
	assert.Equal(t, w[5].Sent, w[5].Received)
}
