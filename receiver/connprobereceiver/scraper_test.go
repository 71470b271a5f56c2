package connprobereceiver

import (
	"errors"
	"flag"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

var update = flag.Bool("update", false, "rewrite testdata/expected.yaml")

func window(bursts, sent int, rtts ...time.Duration) *engine.PingWindow {
	w := &engine.PingWindow{Bursts: bursts, Sent: sent, Received: len(rtts), RTTs: rtts}
	for _, r := range rtts {
		w.RTT.Add(r)
	}
	return w
}

func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

// One window of every kind of result, recorded into metrics and compared
// with testdata/expected.yaml (regenerate with -update).
func TestRecordGolden(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.NetNS = "/run/netns/blue"
	cfg.PingHistogram.Buckets = []float64{0.0001, 0.001}
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.startTime = pcommon.NewTimestampFromTime(time.Unix(1700000000, 0))
	s.mb = metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, s.set, metadata.WithStartTime(s.startTime))
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath("/run/netns/blue")
	rb.SetNetnsInode(4026532001)
	s.resource = rb.Emit()
	router, srv := netip.MustParseAddr("10.61.1.1"), netip.MustParseAddr("10.61.2.2")
	snaps := []engine.TargetSnapshot{{
		Name: "web", Host: "web.example",
		DNS:    &engine.DNSResult{Duration: 2 * time.Millisecond, Addrs: 2},
		Errors: map[string]uint64{"unreachable": 3},
		Addrs: []engine.AddrSnapshot{{
			Addr:        srv,
			Ping:        window(2, 4, us(100), us(200), us(300)),
			PacketsSent: 40, PacketsReceived: 37,
			Trace: &engine.TraceState{
				Hops: []trace.Hop{
					{TTL: 1, Addr: router, RTTs: []time.Duration{us(50), us(70)}, Sent: 3, Answered: 2},
					{TTL: 2, Addr: srv, RTTs: []time.Duration{us(90)}, Sent: 1, Answered: 1},
				},
				Reached: true, Path: []netip.Addr{router, srv}, PathID: 12345, RouteChanges: 1,
				HopProbes: map[string]uint64{"answered": 3, "rate_limited": 1},
			},
			Ports: []engine.PortResult{
				{Port: 22, State: tcpconn.Closed, Duration: us(40)},
				{Port: 80, State: tcpconn.Open, Duration: us(80)},
				{Port: 443, State: tcpconn.Filtered, Duration: time.Second},
				{Port: 8080, Err: errors.New("no route")},
			},
		}, {
			Addr:        netip.MustParseAddr("fd61:2::2"),
			Ping:        window(1, 2),
			PacketsSent: 2,
		}},
	}}
	md := s.record(pcommon.NewTimestampFromTime(time.Unix(1700000010, 0)), snaps)
	expected := filepath.Join("testdata", "expected.yaml")
	if *update {
		require.NoError(t, golden.WriteMetrics(t, expected, md))
	}
	want, err := golden.ReadMetrics(expected)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, md,
		pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
		pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp()))
}
