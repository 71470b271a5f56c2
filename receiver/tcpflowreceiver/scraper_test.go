package tcpflowreceiver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/pdatautil"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// recorded is a probe.Source replaying fixed records.
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

func (r *recorded) Closed(_ context.Context, fn func(*probe.Flow)) error {
	for i := range r.closed {
		fn(&r.closed[i])
	}
	return nil
}
func (r *recorded) Counters() (probe.Counters, error) { return r.counters, nil }
func (r *recorded) RTOKnown() bool                    { return true }
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
			s.open = func(probe.Config) (probe.Source, error) { return sampleFlows(), nil }
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

// histPoints returns a histogram metric's points by attribute string.
func histPoints(t *testing.T, md pmetric.Metrics, name string) map[string]pmetric.HistogramDataPoint {
	out := map[string]pmetric.HistogramDataPoint{}
	metricwalk.Metrics(md, func(m pmetric.Metric) {
		if m.Name() != name {
			return
		}
		require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality())
		dps := m.Histogram().DataPoints()
		for d := 0; d < dps.Len(); d++ {
			var key []string
			dps.At(d).Attributes().Range(func(k string, v pcommon.Value) bool {
				key = append(key, k+"="+v.AsString())
				return true
			})
			slices.Sort(key)
			out[strings.Join(key, " ")] = dps.At(d)
		}
	})
	return out
}

// TestLifetimeHistogram: each closed-flow summary is counted once, in the
// bucket of its duration, cumulatively across scrapes, per the attributes
// the aggregation level leaves (network.type only at flow level).
func TestLifetimeHistogram(t *testing.T) {
	closedFlow := func(id uint64, local, peer string, d time.Duration) probe.Flow {
		return probe.Flow{ID: id, Kind: probe.KindClosed, Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer),
			IPv6: netip.MustParseAddrPort(local).Addr().Is6(), Duration: d}
	}
	for _, level := range []string{AggregationLocalPort, AggregationFlow} {
		t.Run(level, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Aggregation = level
			cfg.LifetimeHistogram.Buckets = []float64{0.01, 1}
			src := &recorded{}
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			s.open = func(probe.Config) (probe.Source, error) { return src, nil }
			require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, s.shutdown(context.Background())) }()
			scrape := func() map[string]pmetric.HistogramDataPoint {
				md, err := s.scrape(context.Background())
				require.NoError(t, err)
				return histPoints(t, md, "tcp.flow.lifetime")
			}
			require.Empty(t, scrape(), "no point before a flow closed")

			src.closed = []probe.Flow{
				closedFlow(1, "10.0.0.1:443", "10.9.0.1:40001", 5*time.Millisecond),
				closedFlow(2, "10.0.0.1:443", "10.9.0.2:40002", 10*time.Millisecond), // on a bound: the lower bucket
				closedFlow(3, "10.0.0.1:51000", "10.8.0.1:5432", 2*time.Second),
				closedFlow(4, "[fd00::1]:443", "[fd00::2]:40000", 500*time.Millisecond),
			}
			got := scrape()
			src.closed = nil
			again := scrape() // nothing new closed: same counts
			src.closed = []probe.Flow{closedFlow(5, "10.0.0.1:443", "10.9.0.3:40003", 3*time.Second)}
			third := scrape()

			counts := func(dp pmetric.HistogramDataPoint) []uint64 { return dp.BucketCounts().AsRaw() }
			if level == AggregationFlow {
				require.Len(t, got, 2)
				require.Equal(t, []uint64{2, 0, 1}, counts(got["network.type=ipv4"]))
				require.Equal(t, []uint64{0, 1, 0}, counts(got["network.type=ipv6"]))
				require.Equal(t, []uint64{2, 0, 1}, counts(again["network.type=ipv4"]))
				require.Equal(t, []uint64{2, 0, 2}, counts(third["network.type=ipv4"]))
				require.Equal(t, uint64(4), third["network.type=ipv4"].Count())
				require.InDelta(t, 5.015, third["network.type=ipv4"].Sum(), 1e-9)
				return
			}
			svc, db := "network.local.port=443 network.type=ipv4", "network.peer.port=5432 network.type=ipv4"
			require.Len(t, got, 3, "%v", got)
			require.Equal(t, []uint64{2, 0, 0}, counts(got[svc]))
			require.Equal(t, []uint64{0, 0, 1}, counts(got[db]))
			require.Equal(t, []uint64{0, 1, 0}, counts(got["network.local.port=443 network.type=ipv6"]))
			require.Equal(t, uint64(2), again[svc].Count())
			require.Equal(t, []uint64{2, 0, 1}, counts(third[svc]))
			require.Equal(t, uint64(3), third[svc].Count())
			require.Equal(t, 0.005, third[svc].Min())
			require.Equal(t, 3.0, third[svc].Max())
			require.Equal(t, uint64(1), third[db].Count(), "a series with no new close keeps its counts")
		})
	}
}

// withRTT adds the probe's srtt histogram to a replayed source.
type withRTT struct {
	*recorded
	h   probe.RTTHistogram
	err error
}

func (w *withRTT) RTTHistogram() (probe.RTTHistogram, error) { return w.h, w.err }

// TestRTTHistogram: tcp.flow.rtt carries the kernel's log2 buckets as
// explicit power-of-two bounds, per network.type with samples, and a read
// failure is a partial scrape error.
func TestRTTHistogram(t *testing.T) {
	src := &withRTT{recorded: &recorded{}}
	src.h[0][0], src.h[0][7], src.h[0][probe.RTTBuckets-1] = 1, 5, 2
	cfg := createDefaultConfig().(*Config)
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.open = func(probe.Config) (probe.Source, error) { return src, nil }
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	var dps pmetric.HistogramDataPointSlice
	for i := 0; i < md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len(); i++ {
		if m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(i); m.Name() == "tcp.flow.rtt" {
			require.Equal(t, "s", m.Unit())
			dps = m.Histogram().DataPoints()
		}
	}
	require.Equal(t, 1, dps.Len(), "one point: IPv6 had no sample")
	dp := dps.At(0)
	nt, _ := dp.Attributes().Get("network.type")
	require.Equal(t, "ipv4", nt.Str())
	require.Equal(t, uint64(8), dp.Count())
	require.False(t, dp.HasSum(), "the kernel keeps no sum")
	bounds := dp.ExplicitBounds().AsRaw()
	require.Len(t, bounds, probe.RTTBuckets-1)
	require.Equal(t, 1e-6, bounds[0])
	require.Equal(t, 128e-6, bounds[7], "bucket 7 holds (64, 128] µs")
	require.Equal(t, float64(1<<30)/1e6, bounds[len(bounds)-1])
	counts := dp.BucketCounts().AsRaw()
	require.Len(t, counts, probe.RTTBuckets)
	require.Equal(t, []uint64{1, 5, 2}, []uint64{counts[0], counts[7], counts[probe.RTTBuckets-1]})

	src.err = errors.New("map lookup failed")
	md, err = s.scrape(context.Background())
	require.ErrorContains(t, err, "map lookup failed")
	require.True(t, scrapererror.IsPartialScrapeError(err))
	require.Positive(t, md.MetricCount(), "other metrics still reported")

	cfg.RTTHistogram.Enabled = false
	src.err = nil
	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	require.NotContains(t, metricNames(md), "tcp.flow.rtt")
}

func metricNames(md pmetric.Metrics) []string {
	var names []string
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		for j := 0; j < rms.At(i).ScopeMetrics().Len(); j++ {
			ms := rms.At(i).ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				names = append(names, ms.At(k).Name())
			}
		}
	}
	return names
}

// TestFlowStartTimes: under aggregation flow each flow's cumulative points
// start at its admission, gauges and receiver-wide sums keep the receiver's.
func TestFlowStartTimes(t *testing.T) {
	src := sampleFlows()
	t0 := time.Now().Add(-time.Hour)
	for i := range src.flows {
		src.flows[i].Start = t0.Add(time.Duration(i) * time.Minute)
	}
	src.closed[0].Start = t0.Add(-time.Minute)
	cfg := createDefaultConfig().(*Config)
	cfg.Aggregation = AggregationFlow
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.open = func(probe.Config) (probe.Source, error) { return src, nil }
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	want := map[int64]pcommon.Timestamp{}
	for _, f := range append(slices.Clone(src.flows), src.closed...) {
		want[int64(f.Peer.Port())] = pcommon.NewTimestampFromTime(f.Start)
	}
	checked := 0
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		port, ok := dp.Attributes().Get("network.peer.port")
		if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() || !ok {
			return
		}
		require.Equal(t, want[port.Int()], dp.StartTimestamp(), "%s port %d", m.Name(), port.Int())
		checked++
	})
	require.Greater(t, checked, 4*5)
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Name() == "tcp.flow.closed" {
			require.Equal(t, s.startTime, dp.StartTimestamp())
		}
	})
}

// TestSockdiagFallbackOmits: metrics the sockdiag fallback cannot know are
// absent rather than zero; what it knows is reported.
func TestSockdiagFallbackOmits(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Fallback = FallbackSockdiag
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.open = func(probe.Config) (probe.Source, error) { return nil, errors.New("no BTF (test)") }
	src := sampleFlows()
	src.closed = nil
	for i := range src.flows {
		f := &src.flows[i]
		f.RetransUnclassified, f.RetransByType, f.Samples, f.Events = 2, [probe.NumRetransTypes]uint64{}, 0, 0
	}
	s.openFallback = func(probe.Config, error) (probe.Source, error) { return src, nil }
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	names := metricNames(md)
	for _, absent := range []string{"tcp.flow.probe.events", "tcp.flow.closed", "tcp.flow.closed_lifetime", "tcp.flow.evicted",
		"tcp.flow.zero_window", "tcp.flow.samples", "tcp.flow.srtt_min", "tcp.flow.srtt_max", "tcp.flow.lifetime", "tcp.flow.rtt"} {
		require.NotContains(t, names, absent)
	}
	for _, present := range []string{"tcp.flow.srtt", "tcp.flow.cwnd", "tcp.flow.bytes", "tcp.flow.retransmits", "tcp.flow.active", "tcp.flow.probe.dropped"} {
		require.Contains(t, names, present)
	}
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		switch m.Name() {
		case "tcp.flow.retransmits":
			typ, _ := dp.Attributes().Get("tcp.retransmit.type")
			require.Equal(t, "unclassified", typ.Str(), "no retransmit causes without the probe")
		case "tcp.flow.probe.dropped":
			r, _ := dp.Attributes().Get("tcp.flow.drop.reason")
			require.Equal(t, "table_full", r.Str(), "the only drop the fallback has")
		}
	})
}

// TestScrapeManySeriesJoined: series recorded over several builder Emits
// (pdatautil.EmitEvery) come out as one resource with one metric per name, every
// series' point in it once.
func TestScrapeManySeriesJoined(t *testing.T) {
	const n = 3*pdatautil.EmitEvery + 5
	cfg := createDefaultConfig().(*Config)
	cfg.Aggregation, cfg.TopK = AggregationFlow, 0
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	src := manyFlows(n)
	s.open = func(probe.Config) (probe.Source, error) { return src, nil }
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	names := map[string]bool{}
	for i := range ms.Len() {
		require.False(t, names[ms.At(i).Name()], "%s once", ms.At(i).Name())
		names[ms.At(i).Name()] = true
	}
	peers := map[string]bool{}
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Name() != "tcp.flow.srtt" {
			return
		}
		p, _ := dp.Attributes().Get("network.peer.address")
		pp, _ := dp.Attributes().Get("network.peer.port")
		k := fmt.Sprint(p.Str(), ":", pp.Int())
		require.False(t, peers[k], "series %s once", k)
		peers[k] = true
	})
	require.Len(t, peers, n)
	require.True(t, names["tcp.flow.active"], "node-wide metrics joined in")
}
