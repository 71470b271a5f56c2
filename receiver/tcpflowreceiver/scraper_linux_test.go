//go:build linux

package tcpflowreceiver

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/flowtest"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// points returns the data points of a metric as attribute maps with values.
func points(md pmetric.Metrics, name string) map[string]float64 {
	out := map[string]float64{}
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Name() != name {
			return
		}
		v := dp.DoubleValue()
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(dp.IntValue())
		}
		out[attrString(dp.Attributes())] += v
	})
	return out
}

func attrString(m pcommon.Map) string {
	s := ""
	for _, k := range []string{"network.local.address", "network.local.port", "network.peer.address", "network.peer.port", "network.type", "tcp.retransmit.type", "network.io.direction"} {
		if v, ok := m.Get(k); ok {
			s += k + "=" + v.AsString() + " "
		}
	}
	return s
}

// TestScrapeKernel runs the receiver's scraper against real traffic in a
// namespace pair: the flow shows up with its attributes, aggregation
// local_port collapses the client's ephemeral port, and the close is counted.
func TestScrapeKernel(t *testing.T) {
	testnet.RequireRoot(t)
	cl, sv := testnet.New(t), testnet.New(t)
	testnet.Link(t, cl, sv, "10.78.0.1/24", "10.78.0.2/24")
	sink := flowtest.NewSink(t, sv, "tcp4", "10.78.0.2:9100")

	scrapers := map[string]*tcpflowScraper{}
	for _, level := range []string{AggregationFlow, AggregationLocalPort} {
		cfg := createDefaultConfig().(*Config)
		cfg.NetNS, cfg.Aggregation = cl.Path, level
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
		defer func() { require.NoError(t, s.shutdown(context.Background())) }()
		scrapers[level] = s
	}

	var c net.Conn
	cl.Do(t, func() (err error) { c, err = net.Dial("tcp4", "10.78.0.2:9100"); return err })
	t.Cleanup(func() { c.Close() }) // runs before the sink waits for its connections
	_, err := c.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	port := c.LocalAddr().(*net.TCPAddr).Port

	flowKey := "network.local.address=10.78.0.1 network.local.port=" + itoa(port) + " network.peer.address=10.78.0.2 network.peer.port=9100 network.type=ipv4 "
	var md pmetric.Metrics
	deadline := time.Now().Add(5 * time.Second)
	for {
		md, err = scrapers[AggregationFlow].scrape(context.Background())
		require.NoError(t, err)
		if points(md, "tcp.flow.bytes")[flowKey+"network.io.direction=transmit "] >= 1<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, float64(1<<20+1), points(md, "tcp.flow.bytes")[flowKey+"network.io.direction=transmit "], "bytes acked (payload + SYN): %v", points(md, "tcp.flow.bytes"))
	require.Positive(t, points(md, "tcp.flow.srtt")[flowKey])
	require.Positive(t, points(md, "tcp.flow.cwnd")[flowKey])
	rtt := histPoints(t, md, "tcp.flow.rtt")["network.type=ipv4"]
	require.GreaterOrEqual(t, rtt.Count(), uint64(points(md, "tcp.flow.samples")[flowKey]), "srtt histogram holds at least the samples read before it")
	require.Positive(t, rtt.Count())
	require.Equal(t, 1.0, points(md, "tcp.flow.active")[""])
	res := md.ResourceMetrics().At(0).Resource().Attributes()
	p, _ := res.Get("netns.path")
	require.Equal(t, cl.Path, p.Str())

	md, err = scrapers[AggregationLocalPort].scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, float64(1<<20+1), points(md, "tcp.flow.bytes")["network.peer.port=9100 network.type=ipv4 network.io.direction=transmit "],
		"outgoing flow aggregated by the service port: %v", points(md, "tcp.flow.bytes"))

	require.NoError(t, c.Close())
	require.Equal(t, int64(1<<20), sink.Wait(1))
	for time.Now().Before(deadline) {
		md, err = scrapers[AggregationLocalPort].scrape(context.Background())
		require.NoError(t, err)
		if points(md, "tcp.flow.closed")[""] == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 1.0, points(md, "tcp.flow.closed")[""])
	life := histPoints(t, md, "tcp.flow.lifetime")["network.peer.port=9100 network.type=ipv4"]
	require.Equal(t, uint64(1), life.Count(), "lifetime histogram counts the closed flow once: %v", histPoints(t, md, "tcp.flow.lifetime"))
	require.InDelta(t, points(md, "tcp.flow.closed_lifetime")[""], life.Sum(), 1e-9, "same lifetime as tcp.flow.closed_lifetime")
	require.Positive(t, life.Sum())
	md, err = scrapers[AggregationLocalPort].scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(1), histPoints(t, md, "tcp.flow.lifetime")["network.peer.port=9100 network.type=ipv4"].Count(), "not counted again by the next scrape")
	require.Equal(t, 0.0, points(md, "tcp.flow.active")[""])
	require.Equal(t, float64(1<<20+2), points(md, "tcp.flow.bytes")["network.peer.port=9100 network.type=ipv4 network.io.direction=transmit "], "final sum kept after close (+FIN)")
}

func itoa(n int) string { return pcommon.NewValueInt(int64(n)).AsString() }

// TestFallback: without the probe, fallback none fails start naming the
// cause; fallback disable starts, reports nothing and shuts down cleanly.
func TestFallback(t *testing.T) {
	cause := errors.New("missing capabilities CAP_BPF, CAP_PERFMON (or CAP_SYS_ADMIN)")
	for _, fb := range []string{FallbackNone, FallbackDisable} {
		cfg := createDefaultConfig().(*Config)
		cfg.Fallback = fb
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		s.open = func(probe.Config) (probe.Source, error) { return nil, cause }
		err := s.start(context.Background(), componenttest.NewNopHost())
		if fb == FallbackNone {
			require.ErrorIs(t, err, cause)
			require.ErrorContains(t, err, "CAP_BPF")
			continue
		}
		require.NoError(t, err)
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		require.Zero(t, md.MetricCount())
		require.NoError(t, s.shutdown(context.Background()))
	}
}

// TestSockdiagFallbackMatchesProbe: with the probe unavailable, fallback
// sockdiag reports the same flow values as the eBPF probe does for the same
// idle connection after a lossy transfer (retransmits unclassified).
func TestSockdiagFallbackMatchesProbe(t *testing.T) {
	testnet.RequireRoot(t)
	cl, sv := testnet.New(t), testnet.New(t)
	testnet.Link(t, cl, sv, "10.79.0.1/24", "10.79.0.2/24")
	sv.Nft(t, testnet.DropEvery(9200, 33)) // ~3% of the data packets
	sink := flowtest.NewSink(t, sv, "tcp4", "10.79.0.2:9200")

	newS := func(fallback bool) *tcpflowScraper {
		cfg := createDefaultConfig().(*Config)
		cfg.NetNS, cfg.Aggregation = cl.Path, AggregationPeer
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		if fallback {
			cfg.Fallback = FallbackSockdiag
			s.open = func(probe.Config) (probe.Source, error) { return nil, errors.New("no BTF (test)") }
		}
		require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
		return s
	}
	bpfS, diagS := newS(false), newS(true)
	_, isDiag := diagS.src.(*probe.Diag)
	require.True(t, isDiag)

	var c net.Conn
	cl.Do(t, func() (err error) { c, err = net.Dial("tcp4", "10.79.0.2:9200"); return err })
	t.Cleanup(func() { c.Close() }) // runs before the sink waits for its connections
	_, err := c.Write(make([]byte, 8<<20))
	require.NoError(t, err)
	const peer = "network.peer.address=10.79.0.2 network.type=ipv4 "
	retr := func(m pmetric.Metrics) (total float64) {
		for k, v := range points(m, "tcp.flow.retransmits") {
			if strings.HasPrefix(k, peer) {
				total += v
			}
		}
		return total
	}
	compared := []string{"tcp.flow.bytes", "tcp.flow.cwnd", "tcp.flow.ssthresh", "tcp.flow.srtt", "tcp.flow.rto", "tcp.flow.send_window"}
	same := func(mb, md pmetric.Metrics) bool {
		for _, name := range compared {
			if !reflect.DeepEqual(points(mb, name), points(md, name)) {
				return false
			}
		}
		return retr(mb) == retr(md)
	}
	// Once the transfer is idle the two sources read the same socket state;
	// a late window update between the two reads is retried (one sample).
	var mb, md pmetric.Metrics
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		md, err = diagS.scrape(context.Background())
		require.NoError(t, err)
		mb, err = bpfS.scrape(context.Background())
		require.NoError(t, err)
		idle := points(md, "tcp.flow.send_queue")[peer] == 0 && points(mb, "tcp.flow.send_queue")[peer] == 0 && points(md, "tcp.flow.in_flight")[peer] == 0
		if idle && same(mb, md) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Positive(t, retr(mb), "3%% loss produced no retransmits")
	require.Equal(t, retr(mb), retr(md), "retransmits: eBPF vs sockdiag")
	require.Equal(t, retr(md), points(md, "tcp.flow.retransmits")[peer+"tcp.retransmit.type=unclassified "])
	for _, name := range compared {
		require.Equal(t, points(mb, name), points(md, name), name)
	}
	require.NoError(t, c.Close())
	require.Equal(t, int64(8<<20), sink.Wait(1))
}
