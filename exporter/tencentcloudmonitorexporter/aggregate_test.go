package tencentcloudmonitorexporter

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func newTestAggregator(t *testing.T, mut func(*Config)) (*aggregator, *observer.ObservedLogs) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mut != nil {
		mut(cfg)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	return newAggregator(cfg, zap.New(core)), logs
}

// flat reads flushed requests back as name@minute -> value, checking each
// request holds one timestamp and at most 30 pairs, in chronological order.
func flat(t *testing.T, mds []pmetric.Metrics) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var last pcommon.Timestamp
	for _, md := range mds {
		reqs, err := requestsOf(md)
		require.NoError(t, err)
		require.Len(t, reqs, 1, "one request per queued item")
		require.LessOrEqual(t, len(reqs[0].metrics), maxPairsPerRequest)
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := 0; i < ms.Len(); i++ {
			dp := ms.At(i).Gauge().DataPoints().At(0)
			require.GreaterOrEqual(t, dp.Timestamp(), last, "chronological order")
			last = dp.Timestamp()
			out[ms.At(i).Name()+"@"+dp.Timestamp().AsTime().UTC().Format("15:04")] = dp.IntValue()
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func gaugeMetric(ms pmetric.MetricSlice, name string, ts time.Time, v float64, attrs ...string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(v)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
}

func TestGaugesLastValuePerSeriesSummedAcrossSeries(t *testing.T) {
	a, _ := newTestAggregator(t, func(c *Config) {
		c.Metrics = []MetricMapping{{Metric: "conns", Name: "Conns"}}
	})
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	gaugeMetric(ms, "conns", t0.Add(10*time.Second), 3, "cpu", "0")
	gaugeMetric(ms, "conns", t0.Add(40*time.Second), 5.4, "cpu", "0") // last of cpu 0 in minute 0
	gaugeMetric(ms, "conns", t0.Add(20*time.Second), 2, "cpu", "1")
	gaugeMetric(ms, "conns", t0.Add(70*time.Second), 7.5, "cpu", "1")
	gaugeMetric(ms, "other", t0, 1) // unmapped: dropped
	a.consume(md, t0)
	assert.Nil(t, a.flush(t0.Add(64*time.Second), false), "minute 0 still open for flush_delay")
	got := flat(t, a.flush(t0.Add(65*time.Second), false))
	assert.Equal(t, map[string]int64{"Conns@10:00": 7}, got, "round(5.4 + 2)")
	got = flat(t, a.flush(t0.Add(time.Hour), false))
	assert.Equal(t, map[string]int64{"Conns@10:01": 8}, got, "7.5 rounds half away from zero")
}

func TestLateAndInvalidPoints(t *testing.T) {
	a, logs := newTestAggregator(t, func(c *Config) { c.SendUnmapped = true })
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	gaugeMetric(ms, "g", t0, 1)
	a.consume(md, t0)
	require.Len(t, a.flush(t0.Add(2*time.Minute), false), 1)

	// A late gauge is dropped, a late delta moves to the next minute.
	md = pmetric.NewMetrics()
	ms = md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	gaugeMetric(ms, "g", t0.Add(30*time.Second), 2)
	m := ms.AppendEmpty()
	m.SetName("g") // same name, delta sum
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := s.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(30 * time.Second)))
	dp.SetIntValue(4)
	gaugeMetric(ms, "neg", t0.Add(time.Minute), -3)
	gaugeMetric(ms, "nan", t0.Add(time.Minute), math.NaN())
	gaugeMetric(ms, "big", t0.Add(time.Minute), 1e30)
	a.consume(md, t0.Add(2*time.Minute))
	got := flat(t, a.flush(t0.Add(3*time.Minute), true))
	assert.Equal(t, map[string]int64{"g@10:01": 4}, got)
	for _, msg := range []string{"dropping gauge point for a minute already sent", "negative or beyond int64", "NaN"} {
		assert.NotEmpty(t, logs.FilterMessageSnippet(msg).All(), msg)
	}
}

func TestHistogramStatistics(t *testing.T) {
	a, logs := newTestAggregator(t, func(c *Config) {
		c.Metrics = []MetricMapping{
			{Metric: "lat", Name: "LatCount", Statistic: StatisticCount},
			{Metric: "lat", Name: "LatSum", Statistic: StatisticSum},
			{Metric: "nostat", Name: "NoStat"},
		}
	})
	hist := func(name string, ts time.Time, count uint64, sum float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(name)
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(-time.Hour)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetCount(count)
		dp.SetSum(sum)
		return md
	}
	a.consume(hist("lat", t0.Add(5*time.Second), 10, 1.5), t0)
	a.consume(hist("lat", t0.Add(65*time.Second), 25, 4.25), t0)
	a.consume(hist("nostat", t0.Add(65*time.Second), 25, 4.25), t0)
	got := flat(t, a.flush(t0.Add(time.Hour), false))
	assert.Equal(t, map[string]int64{"LatCount@10:01": 15, "LatSum@10:01": 3}, got, "round(2.75)")
	assert.NotEmpty(t, logs.FilterMessageSnippet("set `statistic: count`").All())

	// Unmapped histograms send _count and _sum.
	b, _ := newTestAggregator(t, func(c *Config) { c.SendUnmapped = true })
	b.consume(hist("rpc.duration", t0.Add(5*time.Second), 1, 1), t0)
	b.consume(hist("rpc.duration", t0.Add(65*time.Second), 4, 10), t0)
	got = flat(t, b.flush(t0.Add(time.Hour), false))
	assert.Equal(t, map[string]int64{"rpc_duration_count@10:01": 3, "rpc_duration_sum@10:01": 9}, got)
}

func TestSplitAt30PerMinute(t *testing.T) {
	a, _ := newTestAggregator(t, func(c *Config) { c.SendUnmapped = true })
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for i := 0; i < 65; i++ {
		gaugeMetric(ms, names("m", 65)[i], t0.Add(time.Duration(i%2)*time.Minute), float64(i))
	}
	a.consume(md, t0)
	out := a.flush(t0.Add(time.Hour), false)
	// minute 0: 33 names -> 30 + 3; minute 1: 32 -> 30 + 2
	require.Len(t, out, 4)
	assert.Len(t, flat(t, out), 65)
	sizes := []int{}
	for _, md := range out {
		sizes = append(sizes, md.DataPointCount())
	}
	assert.Equal(t, []int{30, 3, 30, 2}, sizes)
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"system.network.tcp.active_opens": "system_network_tcp_active_opens",
		"9lives":                          "m_9lives",
		".hidden":                         "m_hidden",
		"":                                "m_",
		"Tcp-Estab/Resets":                "Tcp_Estab_Resets",
	} {
		assert.Equal(t, want, sanitizeName(in), in)
	}
}

func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"system.network.udp.datagrams", "9", "", "ü.名前", string(make([]byte, 300))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := sanitizeName(s)
		if !tencentNameRe.MatchString(out) {
			t.Fatalf("sanitizeName(%q) = %q, not a valid Tencent name", s, out)
		}
	})
}

// FuzzRequestsOf feeds arbitrary queued data (as the persistent queue could
// hold after an upgrade or corruption) to the request builder.
func FuzzRequestsOf(f *testing.F) {
	m := &pmetric.ProtoMarshaler{}
	md := gauges(names("a", 40), t0, func(i int) int64 { return int64(i) })
	b, err := m.MarshalMetrics(md)
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte{})
	u := &pmetric.ProtoUnmarshaler{}
	f.Fuzz(func(t *testing.T, in []byte) {
		md, err := u.UnmarshalMetrics(in)
		if err != nil {
			return
		}
		reqs, _ := requestsOf(md)
		total := 0
		for _, r := range reqs {
			if len(r.metrics) == 0 || len(r.metrics) > maxPairsPerRequest {
				t.Fatalf("request with %d pairs", len(r.metrics))
			}
			total += len(r.metrics)
		}
		if total > md.DataPointCount() {
			t.Fatalf("%d pairs from %d points", total, md.DataPointCount())
		}
		back := metricsOf(reqs)
		if back.DataPointCount() != total {
			t.Fatalf("metricsOf lost points: %d != %d", back.DataPointCount(), total)
		}
	})
}

func TestClassify(t *testing.T) {
	assert.Equal(t, 503, httpStatus("Request fail with http status code: 503 Service Unavailable, with body: x"))
	assert.Equal(t, 0, httpStatus("no status"))
	assert.Equal(t, 0, httpStatus("status code: 5"))
}
