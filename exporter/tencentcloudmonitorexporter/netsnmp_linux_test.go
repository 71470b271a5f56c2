package tencentcloudmonitorexporter

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver"
)

// countingConsumer forwards to next and counts the batches it saw.
type countingConsumer struct {
	next consumer.Metrics
	n    atomic.Int32
}

func (c *countingConsumer) Capabilities() consumer.Capabilities { return c.next.Capabilities() }

func (c *countingConsumer) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	err := c.next.ConsumeMetrics(ctx, md)
	c.n.Add(1)
	return err
}

// TestNetsnmpToTencentInNetns is the seed script's job end to end on a real
// kernel: the netsnmp receiver reads a fresh network namespace, known TCP and
// UDP traffic runs in it, and the sum of the per-minute values the fake
// server stored for each of the eleven names equals the change nstat shows
// (and the traffic made); TcpCurrEstab, a gauge nstat hides, equals the
// ESTABLISHED count `ss` shows for the pairs held open.
func TestNetsnmpToTencentInNetns(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "nstat")
	ns := testnet.New(t)
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	e := startExporter(t, testConfig(f), nil)

	rf := netsnmpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*netsnmpreceiver.Config)
	rcfg.NetNS = ns.Path
	rcfg.CollectionInterval = 300 * time.Millisecond
	rcfg.InitialDelay = 0
	next := &countingConsumer{next: e}
	recv, err := rf.CreateMetrics(context.Background(), receivertest.NewNopSettings(rf.Type()), rcfg, next)
	require.NoError(t, err)
	require.NoError(t, recv.Start(context.Background(), nil))
	require.Eventually(t, func() bool { return next.n.Load() >= 1 }, 10*time.Second, 10*time.Millisecond, "baseline scrape")
	before := ns.Nstat(t)

	const conns, udpClosed, udpOpen = 5, 7, 3
	ns.Do(t, func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		for i := 0; i < conns; i++ {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			_ = c.Close()
			_ = s.Close()
		}
		// UDP to a port nobody listens on: UdpOutDatagrams and UdpNoPorts.
		// An unconnected socket, so the ICMP errors do not fail later writes.
		sender, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer sender.Close()
		for i := 0; i < udpClosed; i++ {
			if _, err := sender.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
				return err
			}
		}
		// UDP to a listening socket: UdpOutDatagrams and UdpInDatagrams.
		srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer srv.Close()
		cl, err := net.Dial("udp4", srv.LocalAddr().String())
		if err != nil {
			return err
		}
		defer cl.Close()
		buf := make([]byte, 16)
		for i := 0; i < udpOpen; i++ {
			if _, err := cl.Write([]byte("y")); err != nil {
				return err
			}
			_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := srv.ReadFrom(buf); err != nil {
				return err
			}
		}
		return nil
	})
	// Pairs held open to the end: both ends are in ns, so TcpCurrEstab is
	// twice their number.
	const held = 3
	ns.Pairs(t, ns.Listen(t, "tcp4", "127.0.0.1:0"), held)
	time.Sleep(100 * time.Millisecond) // connections finish closing
	after := ns.Nstat(t)
	seen := next.n.Load()
	require.Eventually(t, func() bool { return next.n.Load() >= seen+2 }, 10*time.Second, 10*time.Millisecond, "scrapes after the traffic")
	require.NoError(t, recv.Shutdown(context.Background()))
	final := ns.Nstat(t)
	require.Equal(t, after, final, "counters changed after the traffic; the comparison would be unfair")
	require.NoError(t, e.Shutdown(context.Background()))

	_, _, stored, counts := f.snapshot()
	sums := map[string]uint64{}
	lastTS := map[string]uint64{}
	lastVal := map[string]uint64{}
	for k, v := range stored {
		require.Equal(t, 1, counts[k], "%v sent twice", k)
		sums[k.metric] += v
		if k.ts >= lastTS[k.metric] {
			lastTS[k.metric], lastVal[k.metric] = k.ts, v
		}
	}
	for _, name := range []string{"TcpActiveOpens", "TcpPassiveOpens", "TcpAttemptFails", "TcpEstabResets", "TcpRetransSegs",
		"TcpExtListenOverflows", "UdpInDatagrams", "UdpOutDatagrams", "UdpInErrors", "UdpNoPorts", "UdpSndbufErrors"} {
		assert.Equal(t, after[name]-before[name], sums[name], "%s: sum of sent deltas vs nstat", name)
		_, ok := lastTS[name]
		assert.True(t, ok, "%s never sent", name)
	}
	assert.EqualValues(t, conns+held, sums["TcpActiveOpens"])
	assert.EqualValues(t, conns+held, sums["TcpPassiveOpens"])
	assert.EqualValues(t, udpClosed, sums["UdpNoPorts"])
	assert.EqualValues(t, udpClosed+udpOpen, sums["UdpOutDatagrams"])
	assert.EqualValues(t, udpOpen, sums["UdpInDatagrams"])
	estab := len(strings.Split(strings.TrimSpace(ns.Exec(t, "ss", "-tnH", "state", "established")), "\n"))
	assert.EqualValues(t, 2*held, estab, "ESTABLISHED sockets ss shows")
	assert.EqualValues(t, estab, lastVal["TcpCurrEstab"], "TcpCurrEstab of the last minute vs ss")
}
