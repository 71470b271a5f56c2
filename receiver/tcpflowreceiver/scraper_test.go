package tcpflowreceiver

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// recorded is a flowSource replaying fixed records.
type recorded struct {
	flows, closed []probe.Flow
	counters      probe.Counters
}

func (r *recorded) Flows(fn func(*probe.Flow)) error {
	for i := range r.flows {
		fn(&r.flows[i])
	}
	return nil
}

func (r *recorded) Closed(_ context.Context, buf []probe.Flow) ([]probe.Flow, error) {
	return append(buf[:0], r.closed...), nil
}
func (r *recorded) Counters() (probe.Counters, error) { return r.counters, nil }
func (r *recorded) HZ() int                           { return 250 }
func (r *recorded) Close() error                      { return nil }

func sampleFlows() *recorded {
	live := func(id uint64, local, peer string, srtt time.Duration, cwnd uint32) probe.Flow {
		f := probe.Flow{ID: id, Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer),
			SRTT: srtt, RTTVar: srtt / 4, RTO: 204 * time.Millisecond, Cwnd: cwnd, Ssthresh: 2147483647,
			InFlight: 3, SendWindow: 65535, SendQueue: 100, BytesAcked: 1000 * id, BytesReceived: 10 * id,
			Samples: 5, SRTTMin: srtt / 2, SRTTMax: srtt * 2, Events: 7}
		f.RetransByType[probe.RetransFast] = id
		f.RetransByType[probe.RetransTimeout] = 1
		return f
	}
	closed := live(4, "10.0.0.1:443", "10.9.0.3:40003", time.Millisecond, 10)
	closed.Kind, closed.Duration = probe.KindClosed, 3*time.Second
	return &recorded{
		flows: []probe.Flow{
			live(1, "10.0.0.1:443", "10.9.0.1:40001", 100*time.Microsecond, 10),
			live(2, "10.0.0.1:443", "10.9.0.2:40002", 300*time.Microsecond, 30),
			live(3, "10.0.0.1:51000", "10.8.0.1:5432", 50*time.Microsecond, 20),
		},
		closed:   []probe.Flow{closed},
		counters: probe.Counters{Tracked: 3, TableFull: 2, Evicted: 1},
	}
}

// TestScrapeGolden checks the metrics recorded from fixed flows at two
// aggregation levels against golden files (UPDATE_GOLDEN=1 rewrites them).
func TestScrapeGolden(t *testing.T) {
	for _, level := range []string{AggregationFlow, AggregationLocalPort} {
		t.Run(level, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Aggregation = level
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			s.open = func(probe.Config) (flowSource, error) { return sampleFlows(), nil }
			require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, s.shutdown(context.Background())) }()
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			file := filepath.Join("testdata", "golden", level+".yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, golden.WriteMetrics(t, file, md))
			}
			want, err := golden.ReadMetrics(file)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, md,
				pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp(),
				pmetrictest.IgnoreResourceAttributeValue("netns.inode"),
				pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()))
		})
	}
}
