//go:build linux

package probe

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/flowtest"
)

// env is two namespaces joined by a veth: the client (sender) side and a
// server that accepts on several ports and discards what it reads.
type env struct {
	client, server *testnet.NS
	cookie         uint64 // client netns
	serverAddr     netip.Addr
	serverIf       string // the server's end of the veth
}

const (
	clientIP = "10.77.0.1"
	serverIP = "10.77.0.2"
)

func newEnv(t *testing.T, ports ...int) *env {
	testnet.RequireRoot(t)
	e := &env{client: testnet.New(t), server: testnet.New(t), serverAddr: netip.MustParseAddr(serverIP)}
	_, e.serverIf = testnet.Link(t, e.client, e.server, clientIP+"/24", serverIP+"/24")
	var err error
	e.cookie, err = NetnsCookie(e.client.Path)
	require.NoError(t, err)
	for _, port := range ports {
		flowtest.NewSink(t, e.server, "tcp4", fmt.Sprintf("%s:%d", serverIP, port))
	}
	return e
}

// dropRules drops pct% of the data packets to port (every 100/pct-th).
func dropRules(port, pct int) string {
	return testnet.DropEvery(port, 100/pct)
}

// dial connects from the client namespace.
func (e *env) dial(t *testing.T, port int) *net.TCPConn {
	var c net.Conn
	e.client.Do(t, func() (err error) {
		c, err = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", serverIP, port), 5*time.Second)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func open(t *testing.T, cfg Config) *Probe {
	p, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func flows(t *testing.T, p *Probe) []Flow {
	var out []Flow
	require.NoError(t, p.Flows(func(f *Flow) { out = append(out, *f) }))
	return out
}

func find(fs []Flow, local netip.AddrPort) *Flow {
	for i := range fs {
		if fs[i].Local == local {
			return &fs[i]
		}
	}
	return nil
}

var ssKV = regexp.MustCompile(`\b([a-z_]+):([0-9./]+)`)

// ssInfo runs `ss -tinH` for one connection in the client namespace and
// returns its key:value fields (rtt, cwnd, ssthresh, retrans, bytes_acked…).
func (e *env) ssInfo(t *testing.T, local netip.AddrPort) map[string]string {
	out := e.client.Exec(t, "ss", "-tinH", "src", local.String())
	m := map[string]string{}
	for _, kv := range ssKV.FindAllStringSubmatch(out, -1) {
		m[kv[1]] = kv[2]
	}
	require.Contains(t, m, "rtt", "ss output for %s: %q", local, out)
	return m
}

// nstat returns one kernel counter of the client namespace (nstat -saz:
// absolute, history untouched).
func (e *env) nstat(t *testing.T, name string) uint64 {
	f := strings.Fields(e.client.Exec(t, "nstat", "-saz", name))
	require.GreaterOrEqual(t, len(f), 3, "nstat output %q", f)
	require.Equal(t, name, f[len(f)-3])
	return atoi(t, f[len(f)-2])
}

func atoi(t *testing.T, s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, s)
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	deadline := time.Now().Add(testnet.Scaled(10 * time.Second))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLossyTransfer: a bulk transfer through an nftables rule dropping 2% of
// data segments; retransmits, bytes, cwnd and srtt agree with ss -ti, the
// retransmit types add up to the total, and the close summary carries the
// same totals.
func TestLossyTransfer(t *testing.T) {
	testnet.RequireTool(t, "ss")
	e := newEnv(t, 5001)
	// Drop only segments carrying data, so the handshake and FINs are never
	// retransmitted and totals taken at idle equal those at close.
	e.server.Nft(t, dropRules(5001, 2))
	p := open(t, Config{MaxFlows: 64, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	misses0, err := p.RetransmitMisses()
	require.NoError(t, err)

	c := e.dial(t, 5001)
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	buf := make([]byte, 64<<10)
	var mid *Flow
	for i := 0; i < 320; i++ { // 20 MiB
		_, err := c.Write(buf)
		require.NoError(t, err)
		if i == 160 {
			mid = find(flows(t, p), local)
		}
	}
	require.NotNil(t, mid, "flow %s not tracked mid-transfer", local)
	require.Equal(t, KindLive, mid.Kind)

	var f *Flow
	waitFor(t, "all data acknowledged", func() bool {
		f = find(flows(t, p), local)
		return f != nil && f.SendQueue == 0 && f.InFlight == 0
	})
	ss := e.ssInfo(t, local)
	f = find(flows(t, p), local)
	require.NotNil(t, f)

	retrans := strings.Split(ss["retrans"], "/")
	require.Len(t, retrans, 2, "ss retrans field %q", ss["retrans"])
	total := atoi(t, retrans[1])
	require.Positive(t, total, "2%% loss produced no retransmits")
	require.Equal(t, total, f.Retransmits, "retransmits vs ss total")
	require.Equal(t, atoi(t, ss["bytes_acked"]), f.BytesAcked, "bytes_acked vs ss")
	require.Equal(t, uint64(20<<20), f.BytesAcked-1, "bytes acked = payload + SYN")
	require.Equal(t, atoi(t, ss["cwnd"]), uint64(f.Cwnd), "cwnd vs ss")
	require.Contains(t, ss, "ssthresh", "ssthresh still infinite after losses")
	require.Equal(t, atoi(t, ss["ssthresh"]), uint64(f.Ssthresh), "ssthresh vs ss")
	ssRTT, err := strconv.ParseFloat(strings.Split(ss["rtt"], "/")[0], 64)
	require.NoError(t, err)
	require.InEpsilon(t, ssRTT, f.SRTT.Seconds()*1e3, 0.10, "srtt %v vs ss rtt %vms", f.SRTT, ssRTT)
	// RTO is kept in jiffies: converted with the HZ measured from the
	// kernel's clocks it equals tcp_info's (the kernel's own conversion).
	require.Positive(t, p.HZ(), "kernel HZ not measured: %v", p.HZError())
	ssRTO, err := strconv.ParseFloat(ss["rto"], 64)
	require.NoError(t, err, "ss rto field %q", ss["rto"])
	require.InDelta(t, ssRTO, float64(f.RTO.Microseconds())/1e3, 0.001, "rto %v vs ss rto %vms (HZ %d)", f.RTO, ssRTO, p.HZ())
	require.Zero(t, f.Lost, "lost_out at idle")

	var byType uint64
	for _, n := range f.RetransByType {
		byType += n
	}
	// total_retrans counts a retransmit before it is sent; the tracepoint
	// that classifies it fires only once the send succeeded, and a failed
	// send (a local queue full, on a loaded machine) is counted in
	// TcpExtTCPRetransFail instead. This namespace has no other flow. On a
	// loaded machine the kernel may also skip the classifying program
	// (recursion protection: it was running for another socket on that
	// CPU when a softirq retransmitted ours); it counts those skips, for
	// every socket on the host, so they bound what may be missing.
	failed := e.nstat(t, "TcpExtTCPRetransFail")
	misses, err := p.RetransmitMisses()
	require.NoError(t, err)
	misses -= misses0
	if f.Retransmits != byType+failed {
		t.Logf("unclassified %d, skipped runs %d", f.Retransmits-byType-failed, misses)
	}
	require.LessOrEqual(t, byType+failed, f.Retransmits, "retransmits by type %v plus %d failed sends exceed the total", f.RetransByType, failed)
	require.LessOrEqual(t, f.Retransmits, byType+failed+misses,
		"retransmits by type %v plus %d failed sends plus %d skipped runs must add up to the total", f.RetransByType, failed, misses)
	require.Positive(t, f.RetransByType[RetransFast]+f.RetransByType[RetransTimeout]+f.RetransByType[RetransTailLossProbe])
	require.Zero(t, f.RetransByType[RetransSYN]+f.RetransByType[RetransSYNACK], "no SYN was dropped")
	require.Positive(t, f.Samples)
	require.LessOrEqual(t, f.SRTTMin, f.SRTTMax)
	require.Positive(t, f.SRTTMin)
	require.Equal(t, f.Samples, f.Events, "every_ack: every event with an RTT is a sample")
	require.InDelta(t, f.SRTT.Seconds(), (f.SRTTSum / time.Duration(f.Samples)).Seconds(), f.SRTTMax.Seconds())
	t.Logf("flow %s: retrans %d %v, srtt %v (ss %vms), cwnd %d ssthresh %d, samples %d",
		local, f.Retransmits, f.RetransByType, f.SRTT, ssRTT, f.Cwnd, f.Ssthresh, f.Samples)

	// The srtt sample histogram holds the samples of this, the only
	// tracked flow: read between two flow reads, its count and its lowest
	// and highest buckets sit between theirs, it grew since mid-transfer,
	// and its range brackets the srtt ss shows.
	h, err := p.RTTHistogram()
	require.NoError(t, err)
	after := find(flows(t, p), local)
	require.NotNil(t, after)
	var n uint64
	lo, hi := -1, -1
	for b, c := range h[0] {
		n += c
		if c > 0 {
			hi = b
			if lo < 0 {
				lo = b
			}
		}
	}
	require.Equal(t, RTTHistogram{}[1], h[1], "no IPv6 sample")
	require.Greater(t, n, mid.Samples, "histogram grew with traffic")
	require.GreaterOrEqual(t, n, f.Samples, "histogram %v vs samples", h[0])
	require.LessOrEqual(t, n, after.Samples, "histogram %v vs samples", h[0])
	bucket := func(d time.Duration) int { return min(bits.Len32(uint32(d.Microseconds())-1), RTTBuckets-1) }
	require.True(t, bucket(after.SRTTMin) <= lo && lo <= bucket(f.SRTTMin), "lowest bucket %d vs srtt min %v..%v", lo, f.SRTTMin, after.SRTTMin)
	require.True(t, bucket(f.SRTTMax) <= hi && hi <= bucket(after.SRTTMax), "highest bucket %d vs srtt max %v..%v", hi, f.SRTTMax, after.SRTTMax)
	lower := 0.0
	if lo > 0 {
		lower = RTTBound(lo - 1)
	}
	require.True(t, lower < ssRTT/1e3 && ssRTT/1e3 <= RTTBound(hi), "ss srtt %vms outside the histogram's range (%v, %v] s: %v", ssRTT, lower, RTTBound(hi), h[0])
	t.Logf("rtt histogram: %d samples in buckets %d..%d (%v..%v s]", n, lo, hi, lower, RTTBound(hi))

	require.NoError(t, c.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var closed []Flow
	waitFor(t, "close summary", func() bool {
		closed = closed[:0]
		require.NoError(t, p.Closed(ctx, func(f *Flow) { closed = append(closed, *f) }))
		return len(closed) > 0
	})
	require.Len(t, closed, 1)
	s := closed[0]
	require.Equal(t, KindClosed, s.Kind)
	require.Equal(t, f.ID, s.ID)
	require.Equal(t, local, s.Local)
	// The client namespace never had another connection, so its
	// TcpRetransSegs (incremented with total_retrans) is this flow's exact
	// total at close, including a FIN retransmitted after the ss snapshot.
	require.Equal(t, e.nstat(t, "TcpRetransSegs"), s.Retransmits, "close summary retransmits vs nstat TcpRetransSegs")
	require.GreaterOrEqual(t, s.Retransmits, total, "close summary retransmits vs ss at idle")
	var sumClosed uint64
	for _, n := range s.RetransByType {
		sumClosed += n
	}
	failed = e.nstat(t, "TcpExtTCPRetransFail")
	require.Equal(t, s.Retransmits, sumClosed+failed, "summary by type %v plus %d failed sends", s.RetransByType, failed)
	require.GreaterOrEqual(t, s.BytesAcked, f.BytesAcked)
	require.Positive(t, s.Duration)
	require.Nil(t, find(flows(t, p), local), "closed flow still in the table")
	cnt, err := p.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(1), cnt.Closed)
	require.Zero(t, cnt.RingFull)
	require.Zero(t, cnt.Tracked)
}

// TestDelayAndLoss: through a link with a real 20 ms delay (netem on the
// server's egress, so on every ACK) and every 50th data segment dropped, a
// bulk transfer's srtt, rttvar, cwnd, ssthresh and retransmits equal ss -ti's
// once all data is acknowledged.
func TestDelayAndLoss(t *testing.T) {
	testnet.RequireTool(t, "ss")
	e := newEnv(t, 5005)
	e.server.Netem(t, e.serverIf, "delay", "20ms")
	e.server.Nft(t, dropRules(5005, 2))
	p := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	c := e.dial(t, 5005)
	local := localOf(c)
	send(t, c, 1<<20)
	var f *Flow
	var ss map[string]string
	deadline := time.Now().Add(testnet.Scaled(30 * time.Second))
	for {
		f = find(flows(t, p), local)
		if f != nil && f.SendQueue == 0 && f.InFlight == 0 {
			ss = e.ssInfo(t, local)
			again := find(flows(t, p), local)
			if again != nil && again.SRTT == f.SRTT && again.RTTVar == f.RTTVar && again.Cwnd == f.Cwnd &&
				again.Ssthresh == f.Ssthresh && again.Retransmits == f.Retransmits && again.BytesAcked == f.BytesAcked {
				break // no ACK between the two reads: ss saw the same state
			}
		}
		require.True(t, time.Now().Before(deadline), "transfer never completed")
		time.Sleep(50 * time.Millisecond)
	}
	rtt := strings.Split(ss["rtt"], "/")
	require.Len(t, rtt, 2, "ss rtt field %q", ss["rtt"])
	ssSRTT, err := strconv.ParseFloat(rtt[0], 64)
	require.NoError(t, err)
	ssVar, err := strconv.ParseFloat(rtt[1], 64)
	require.NoError(t, err)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	require.GreaterOrEqual(t, f.SRTT, 20*time.Millisecond, "srtt below the netem delay")
	require.InDelta(t, ssSRTT, ms(f.SRTT), 0.0011, "srtt %v vs ss %vms", f.SRTT, ssSRTT)
	require.InDelta(t, ssVar, ms(f.RTTVar), 0.0011, "rttvar %v vs ss %vms", f.RTTVar, ssVar)
	require.Equal(t, atoi(t, ss["cwnd"]), uint64(f.Cwnd), "cwnd vs ss")
	require.Contains(t, ss, "ssthresh", "no loss seen: ssthresh still infinite")
	require.Equal(t, atoi(t, ss["ssthresh"]), uint64(f.Ssthresh), "ssthresh vs ss")
	retrans := strings.Split(ss["retrans"], "/")
	require.Len(t, retrans, 2, "ss retrans field %q", ss["retrans"])
	require.Positive(t, f.Retransmits)
	require.Equal(t, atoi(t, retrans[1]), f.Retransmits, "retransmits vs ss")
	t.Logf("20 ms netem + loss: srtt %v rttvar %v cwnd %d ssthresh %d retrans %d (ss rtt:%s cwnd:%s)", f.SRTT, f.RTTVar, f.Cwnd, f.Ssthresh, f.Retransmits, ss["rtt"], ss["cwnd"])
}

func send(t *testing.T, c *net.TCPConn, n int) {
	_, err := c.Write(make([]byte, n))
	require.NoError(t, err)
}

func locals(fs []Flow, kind Kind) map[netip.AddrPort]bool {
	m := map[netip.AddrPort]bool{}
	for _, f := range fs {
		if f.Kind == kind {
			m[f.Local] = true
		}
	}
	return m
}

func localOf(c *net.TCPConn) netip.AddrPort { return netip.MustParseAddrPort(c.LocalAddr().String()) }

// TestFilters: peer port and peer CIDR filters keep only the matching flows,
// and refusals are counted.
func TestFilters(t *testing.T) {
	e := newEnv(t, 6001, 6002)
	byPort := open(t, Config{MaxFlows: 64, NetnsCookie: e.cookie, NetnsPath: e.client.Path, PeerPorts: []uint16{6001}})
	byCIDR := open(t, Config{MaxFlows: 64, NetnsCookie: e.cookie, NetnsPath: e.client.Path, PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/32")}})
	otherCIDR := open(t, Config{MaxFlows: 64, NetnsCookie: e.cookie, NetnsPath: e.client.Path, PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16"), netip.MustParsePrefix("fd00::/8")}})
	byLocalPort := open(t, Config{MaxFlows: 64, NetnsCookie: e.cookie, NetnsPath: e.client.Path, LocalPorts: []uint16{1}})
	otherNetns := open(t, Config{MaxFlows: 64, NetnsCookie: 1 << 62}) // no such netns (cookies are sequential; the server netns is e.cookie+1)

	a, b := e.dial(t, 6001), e.dial(t, 6002)
	send(t, a, 1<<20)
	send(t, b, 1<<20)
	waitFor(t, "both flows tracked by the CIDR probe", func() bool { return len(flows(t, byCIDR)) == 2 })

	got := locals(flows(t, byPort), KindLive)
	require.Equal(t, map[netip.AddrPort]bool{localOf(a): true}, got, "port filter")
	require.Equal(t, map[netip.AddrPort]bool{localOf(a): true, localOf(b): true}, locals(flows(t, byCIDR), KindLive))
	for name, p := range map[string]*Probe{"other CIDR": otherCIDR, "local port": byLocalPort, "other netns": otherNetns} {
		require.Empty(t, flows(t, p), name)
		c, err := p.Counters()
		require.NoError(t, err)
		require.Positive(t, c.Filtered, name)
		require.Zero(t, c.Tracked, name)
	}
}

// TestMaxFlowsAndIdle: max_flows caps the table and counts refusals; idle
// flows are evicted with a last record and the eviction is counted.
func TestMaxFlowsAndIdle(t *testing.T) {
	e := newEnv(t, 7001)
	// Idle means no segment for the timeout: long enough that five
	// transfers and a read fit in it on a slow (emulated) machine.
	idle := testnet.Scaled(300 * time.Millisecond)
	p := open(t, Config{MaxFlows: 2, NetnsCookie: e.cookie, NetnsPath: e.client.Path, IdleTimeout: idle})
	var conns []*net.TCPConn
	for i := 0; i < 5; i++ {
		c := e.dial(t, 7001)
		send(t, c, 64<<10)
		conns = append(conns, c)
	}
	fs := flows(t, p)
	require.Len(t, fs, 2, "table capped at max_flows")
	c, err := p.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(2), c.Tracked)
	require.Equal(t, uint64(2), c.Admitted)
	require.Positive(t, c.TableFull, "refused flows counted")

	time.Sleep(idle + 100*time.Millisecond)
	evictedAt := time.Now()
	fs = flows(t, p)
	require.Len(t, fs, 2)
	for _, f := range fs {
		require.Equal(t, KindEvicted, f.Kind, "idle %v", f.Idle)
		require.GreaterOrEqual(t, f.Idle, idle)
	}
	c, err = p.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(2), c.Evicted)
	require.Zero(t, c.Tracked)
	require.Empty(t, flows(t, p), "evicted flows left the table")

	// Room again: the next active flow is admitted (counting from now).
	send(t, conns[4], 64<<10)
	// Keep what the poll read: reading evicts a flow idle for longer than
	// the timeout (the next read could be empty on a slow machine).
	var readmitted []Flow
	waitFor(t, "re-admission", func() bool { readmitted = flows(t, p); return len(readmitted) == 1 })
	f := readmitted[0]
	require.Equal(t, localOf(conns[4]), f.Local)
	require.LessOrEqual(t, f.BytesAcked, uint64(64<<10), "counts from admission")
	require.True(t, f.Start.After(evictedAt), "re-admitted flow has a new start (%v, evicted at %v)", f.Start, evictedAt)
}

// TestMinSampleInterval: with min_sample_interval a flow is sampled at most
// once per interval, so over a paced transfer the samples are bounded by the
// elapsed time while an every-ACK probe on the same flow samples each ACK.
func TestMinSampleInterval(t *testing.T) {
	e := newEnv(t, 7101)
	const interval = 100 * time.Millisecond
	every := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	paced := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path, MinSampleInterval: interval})
	c := e.dial(t, 7101)
	begin := time.Now()
	for i := 0; i < 50; i++ { // ~1 s of 64 KiB writes every 20 ms
		send(t, c, 64<<10)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "data acknowledged", func() bool {
		fs := flows(t, every)
		return len(fs) == 1 && fs[0].SendQueue == 0
	})
	elapsed := time.Since(begin)
	fe, fp := flows(t, every)[0], flows(t, paced)[0]
	require.Equal(t, fe.Local, fp.Local)
	limit := uint64(elapsed/interval) + 1
	require.LessOrEqual(t, fp.Samples, limit, "at most one sample per %v over %v", interval, elapsed)
	require.GreaterOrEqual(t, fp.Samples, uint64(5), "the paced transfer spans several intervals")
	require.Greater(t, fe.Samples, 4*fp.Samples, "every-ACK samples each ACK")
	require.Greater(t, fp.Events, 4*fp.Samples, "events are seen, not sampled")
	t.Logf("%v: every_ack %d samples, min_sample_interval %v: %d samples (%d events)", elapsed, fe.Samples, interval, fp.Samples, fp.Events)
}

// TestCwndChangeMode: in on_cwnd_change mode a sample is taken only when cwnd
// changed, so samples never exceed cwnd changes; every_ack samples more.
func TestCwndChangeMode(t *testing.T) {
	e := newEnv(t, 8001)
	e.server.Nft(t, dropRules(8001, 1))
	every := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	onChange := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path, OnCwndChange: true})
	c := e.dial(t, 8001)
	send(t, c, 8<<20)
	waitFor(t, "data acknowledged", func() bool {
		fs := flows(t, every)
		return len(fs) == 1 && fs[0].SendQueue == 0
	})
	// An ACK may still arrive between the two reads: read until both agree.
	var fe, fc Flow
	waitFor(t, "both probes see every event", func() bool {
		fe, fc = flows(t, every)[0], flows(t, onChange)[0]
		return fe.Events == fc.Events
	})
	require.Positive(t, fc.CwndChanges)
	require.LessOrEqual(t, fc.Samples, fc.CwndChanges)
	require.Positive(t, fc.Samples)
	require.Greater(t, fc.Events, fc.Samples, "events without a cwnd change are not sampled")
	require.Equal(t, fe.Events, fc.Events, "both see every event")
	require.Greater(t, fe.Samples, fc.Samples)
	require.Equal(t, fe.Cwnd, fc.Cwnd, "both read the same socket")
}

// TestIPv6: an IPv6 flow is tracked with its addresses, and a v6 peer CIDR
// filter admits it while a v4 one does not.
func TestIPv6(t *testing.T) {
	testnet.RequireRoot(t)
	cl, sv := testnet.New(t), testnet.New(t)
	testnet.Link(t, cl, sv, "fd77::1/64", "fd77::2/64")
	cookie, err := NetnsCookie(cl.Path)
	require.NoError(t, err)
	v6 := open(t, Config{MaxFlows: 8, NetnsCookie: cookie, NetnsPath: cl.Path, PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("fd77::/16")}})
	v4 := open(t, Config{MaxFlows: 8, NetnsCookie: cookie, NetnsPath: cl.Path, PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	sink := flowtest.NewSink(t, sv, "tcp6", "[fd77::2]:9300")
	var c net.Conn
	cl.Do(t, func() (err error) { c, err = net.Dial("tcp6", "[fd77::2]:9300"); return err })
	t.Cleanup(func() { c.Close() }) // runs before the sink waits for its connections
	send(t, c.(*net.TCPConn), 256<<10)
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	waitFor(t, "IPv6 flow", func() bool { return find(flows(t, v6), local) != nil })
	f := find(flows(t, v6), local)
	require.True(t, f.IPv6)
	require.Equal(t, netip.MustParseAddrPort("[fd77::2]:9300"), f.Peer)
	require.Empty(t, flows(t, v4), "an IPv4 CIDR does not match an IPv6 peer")
	require.NoError(t, c.Close())
	require.Equal(t, int64(256<<10), sink.Wait(1))
}

// TestBlackholeLoss: with the path cut while data is in flight, the RTO
// fires, the kernel marks the outstanding segments lost and backs off; in
// that quiet window lost, retrans_out and cwnd equal ss -ti's, and the
// retransmits are classified as timeouts.
func TestBlackholeLoss(t *testing.T) {
	testnet.RequireTool(t, "ss")
	e := newEnv(t, 5002)
	p := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	c := e.dial(t, 5002)
	local := localOf(c)
	send(t, c, 256<<10)
	e.server.Nft(t, "table inet bh {\n chain in {\n  type filter hook input priority 0;\n  tcp dport 5002 drop\n }\n}\n")
	t.Cleanup(func() { _, _ = e.server.Try("nft", "delete", "table", "inet", "bh") })
	// This data sits in flight and in the send queue. The write may not
	// complete at all (a full send buffer once the path is cut, when the
	// first write was still queued on a slow machine): what it queued in a
	// second is enough.
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
	if _, err := c.Write(make([]byte, 256<<10)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		require.NoError(t, err)
	}
	var f *Flow
	var ss map[string]string
	waitFor(t, "an RTO with segments marked lost", func() bool {
		f = find(flows(t, p), local)
		return f != nil && f.Lost > 0 && f.RetransByType[RetransTimeout] > 0
	})
	byType := func() uint64 {
		return f.RetransByType[RetransTimeout] + f.RetransByType[RetransFast] + f.RetransByType[RetransTailLossProbe]
	}
	var retrans []string
	// Backed-off RTOs keep the state still for hundreds of ms; a read that
	// straddles one (or a retransmit counted in total_retrans whose
	// tracepoint has not run yet) is retried: within one sample.
	for try := 0; try < 10; try++ {
		ss = e.ssInfo(t, local)
		f = find(flows(t, p), local)
		retrans = strings.Split(ss["retrans"], "/")
		if atoi(t, ss["lost"]) == uint64(f.Lost) && atoi(t, retrans[1]) == f.Retransmits &&
			atoi(t, retrans[0]) == uint64(f.RetransOut) && f.Retransmits == byType() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, atoi(t, ss["lost"]), uint64(f.Lost), "lost vs ss")
	require.Equal(t, atoi(t, ss["cwnd"]), uint64(f.Cwnd), "cwnd vs ss")
	require.Equal(t, uint32(1), f.Cwnd, "cwnd collapses to 1 after an RTO")
	require.Equal(t, atoi(t, retrans[0]), uint64(f.RetransOut), "retrans_out vs ss")
	require.Equal(t, atoi(t, retrans[1]), f.Retransmits, "total retrans vs ss")
	require.Equal(t, f.Retransmits, byType(), "retransmits by type %v", f.RetransByType)
}

// TestTailLossProbe: the only data packet of a burst is dropped once; with
// nothing after it to trigger fast retransmit, the kernel's tail loss probe
// usually recovers it, and the retransmit is classified so. Which mechanism
// recovers is the kernel's timing (on a starved machine the RACK reorder
// timer or the RTO can fire first), so the check is exact against the
// kernel's own count of probes sent, TcpExtTCPLossProbes of the client's
// namespace (which holds only this flow), and the scenario is repeated on a
// fresh flow until a probe was sent, at most three times.
func TestTailLossProbe(t *testing.T) {
	for attempt := 1; ; attempt++ {
		probes, f := tailLossAttempt(t, 5003)
		t.Logf("attempt %d: retransmits %d by type %v, TcpExtTCPLossProbes %d", attempt, f.Retransmits, f.RetransByType, probes)
		require.Equal(t, probes, f.RetransByType[RetransTailLossProbe], "tail loss probes: ours against the kernel's counter")
		var sum uint64
		for _, n := range f.RetransByType {
			sum += n
		}
		require.Equal(t, f.Retransmits, sum, "by type %v", f.RetransByType)
		if probes > 0 {
			return
		}
		require.Less(t, attempt, 3, "the kernel sent no tail loss probe in 3 attempts")
	}
}

func tailLossAttempt(t *testing.T, port int) (uint64, *Flow) {
	e := newEnv(t, port)
	p := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	c := e.dial(t, port)
	local := localOf(c)
	send(t, c, 100)
	waitFor(t, "first write acknowledged", func() bool {
		f := find(flows(t, p), local)
		return f != nil && f.BytesAcked == 101
	})
	before := e.client.Nstat(t)["TcpExtTCPLossProbes"]
	e.server.Nft(t, fmt.Sprintf("table inet once {\n chain in {\n  type filter hook input priority 0;\n  tcp dport %d meta length > 1000 numgen inc mod 1000000 == 0 drop\n }\n}\n", port))
	send(t, c, 4000)
	var f *Flow
	waitFor(t, "burst acknowledged", func() bool {
		f = find(flows(t, p), local)
		return f != nil && f.BytesAcked == 4101
	})
	return e.client.Nstat(t)["TcpExtTCPLossProbes"] - before, f
}

// TestHandshakeRetransmits: the first SYN-ACK is dropped; the client
// retransmits its SYN, the server its SYN-ACK, and both flows, admitted at
// ESTABLISHED, carry them as syn / synack retransmits equal to ss's totals.
func TestHandshakeRetransmits(t *testing.T) {
	testnet.RequireTool(t, "ss")
	e := newEnv(t, 5004)
	serverCookie, err := NetnsCookie(e.server.Path)
	require.NoError(t, err)
	cp := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	sp := open(t, Config{MaxFlows: 8, NetnsCookie: serverCookie, NetnsPath: e.server.Path})
	e.client.Nft(t, "table inet once {\n chain in {\n  type filter hook input priority 0;\n  tcp sport 5004 tcp flags & (syn|ack) == syn|ack numgen inc mod 1000000 == 0 drop\n }\n}\n")
	c := e.dial(t, 5004) // ~1 s: the SYN retransmit timer
	send(t, c, 1000)
	local := localOf(c)
	var cf, sf *Flow
	waitFor(t, "both ends tracked", func() bool {
		cf = find(flows(t, cp), local)
		for _, f := range flows(t, sp) {
			if f.Peer == local {
				sf = &f
			}
		}
		return cf != nil && sf != nil
	})
	t.Logf("client %v, server %v", cf.RetransByType, sf.RetransByType)
	require.Positive(t, cf.RetransByType[RetransSYN])
	require.Equal(t, cf.Retransmits, cf.RetransByType[RetransSYN], "client: only SYNs were retransmitted")
	require.Positive(t, sf.RetransByType[RetransSYNACK])
	require.Equal(t, sf.Retransmits, sf.RetransByType[RetransSYNACK], "server: only SYN-ACKs were retransmitted")
	ss := e.ssInfo(t, local)
	require.Equal(t, atoi(t, strings.Split(ss["retrans"], "/")[1]), cf.Retransmits, "client total vs ss")
}

// TestZeroWindow: a peer that stops reading closes its window; the flow
// counts the transition and reports a zero send window, as ss does.
func TestZeroWindow(t *testing.T) {
	testnet.RequireTool(t, "ss")
	e := newEnv(t)
	p := open(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path})
	var ln net.Listener
	// A small receive buffer set on the listener, so the accepted socket
	// starts with it: set after accept, the window already advertised
	// cannot shrink and the receiver drops data instead (seen on 6.1).
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) }); cerr != nil {
			return cerr
		}
		return err
	}}
	e.server.Do(t, func() (err error) { ln, err = lc.Listen(context.Background(), "tcp4", serverIP+":5005"); return err })
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		held <- c // never read until the end
	}()
	c := e.dial(t, 5005)
	local := localOf(c)
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(500*time.Millisecond)))
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			break // the window and our send buffer are full
		}
	}
	var f *Flow
	for deadline := time.Now().Add(testnet.Scaled(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		f = find(flows(t, p), local)
		if f != nil && f.ZeroWindow > 0 && f.SendWindow == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for a zero window: flow %+v; ss: %v", f, e.ssInfo(t, local))
		}
	}
	ss := e.ssInfo(t, local)
	// ss prints snd_wnd only when it is not zero.
	require.NotContains(t, ss, "snd_wnd", "ss sees a zero send window too")
	if sc := <-held; sc != nil {
		sc.Close()
	}
}
