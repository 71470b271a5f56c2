package pdatautil

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestMetricsCreatesResourceAndScopeOnce(t *testing.T) {
	md := pmetric.NewMetrics()
	sc := Scope{Name: "scope", Version: "v1"}
	res := pcommon.NewResource()
	res.Attributes().PutStr("netns.path", "/run/netns/blue")
	Metrics(md, res, sc).AppendEmpty().SetName("a")
	Metrics(md, res, sc).AppendEmpty().SetName("b")

	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	require.Equal(t, "https://opentelemetry.io/schemas/1.38.0", rm.SchemaUrl())
	v, ok := rm.Resource().Attributes().Get("netns.path")
	require.True(t, ok)
	require.Equal(t, "/run/netns/blue", v.Str())
	require.Equal(t, 1, rm.ScopeMetrics().Len())
	sm := rm.ScopeMetrics().At(0)
	require.Equal(t, "scope", sm.Scope().Name())
	require.Equal(t, "v1", sm.Scope().Version())
	require.Equal(t, 2, sm.Metrics().Len())
	require.Equal(t, "b", sm.Metrics().At(1).Name())
}

// What the metrics builder emitted is kept: its resource and scope are not
// overwritten and no second one is added.
func TestMetricsUsesEmitted(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("k", "emitted")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("generated")
	sm.Metrics().AppendEmpty().SetName("m")

	res := pcommon.NewResource()
	res.Attributes().PutStr("k", "other")
	ms := Metrics(md, res, Scope{Name: "scope", Version: "v1"})
	require.Equal(t, 1, ms.Len())
	require.Equal(t, 1, md.ResourceMetrics().Len())
	v, _ := rm.Resource().Attributes().Get("k")
	require.Equal(t, "emitted", v.Str())
	require.Equal(t, "generated", sm.Scope().Name())

	// A resource without a scope gets one.
	md = pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty()
	Metrics(md, res, Scope{Name: "scope"})
	require.Equal(t, "scope", md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name())
}

func TestAppendHistogram(t *testing.T) {
	ms := pmetric.NewMetricSlice()
	h := AppendHistogram(ms, "x.duration", "Durations.", "s")
	h.DataPoints().AppendEmpty()
	require.Equal(t, 1, ms.Len())
	m := ms.At(0)
	require.Equal(t, "x.duration", m.Name())
	require.Equal(t, "Durations.", m.Description())
	require.Equal(t, "s", m.Unit())
	require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
	require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality())
	require.Equal(t, 1, m.Histogram().DataPoints().Len())
}

func TestMoveMetricsJoinsByName(t *testing.T) {
	emit := func(names ...string) pmetric.Metrics {
		md := pmetric.NewMetrics()
		ms := Metrics(md, pcommon.NewResource(), Scope{Name: "s"})
		for _, n := range names {
			m := ms.AppendEmpty()
			m.SetName(n)
			m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(int64(len(n)))
		}
		return md
	}
	dst := pmetric.NewMetrics()
	MoveMetrics(dst, emit("a", "bb"))
	MoveMetrics(dst, emit("bb", "ccc"))
	MoveMetrics(dst, pmetric.NewMetrics())
	require.Equal(t, 1, dst.ResourceMetrics().Len())
	ms := dst.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 3, ms.Len())
	got := map[string]int{}
	for i := range ms.Len() {
		got[ms.At(i).Name()] = ms.At(i).Gauge().DataPoints().Len()
	}
	require.Equal(t, map[string]int{"a": 1, "bb": 2, "ccc": 1}, got)
	require.Equal(t, 4, dst.DataPointCount())
}
