// Package pdatautil builds the metrics a receiver writes into pmetric by
// hand, next to the ones its generated metrics builder emits: what mdatagen
// v0.159.0 cannot declare (histograms) or does not know at build time (the
// nstat.<Name> family); and joins a builder's outputs when a scrape emits
// it several times (Joined).
package pdatautil // import "github.com/netstack-otel/netstack/internal/pdatautil"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	conventions "go.opentelemetry.io/otel/semconv/v1.38.0"
)

// Scope identifies the receiver's instrumentation scope: metadata.ScopeName
// and the build version.
type Scope struct {
	Name    string
	Version string
}

// Metrics returns the metric slice of md's first resource and scope: the
// receiver's, as its metrics builder emitted them. When nothing was
// emitted it creates them as the builder would: resource a copy of res with
// the schema URL of the semantic conventions every receiver's metadata.yaml
// declares, and scope sc.
func Metrics(md pmetric.Metrics, res pcommon.Resource, sc Scope) pmetric.MetricSlice {
	rms := md.ResourceMetrics()
	if rms.Len() == 0 {
		rm := rms.AppendEmpty()
		rm.SetSchemaUrl(conventions.SchemaURL)
		res.CopyTo(rm.Resource())
	}
	sms := rms.At(0).ScopeMetrics()
	if sms.Len() == 0 {
		s := sms.AppendEmpty().Scope()
		s.SetName(sc.Name)
		s.SetVersion(sc.Version)
	}
	return sms.At(0).Metrics()
}

// AppendHistogram adds an empty cumulative histogram metric to ms and
// returns it for its data points.
func AppendHistogram(ms pmetric.MetricSlice, name, description, unit string) pmetric.Histogram {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(description)
	m.SetUnit(unit)
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return h
}

// EmitEvery is how many units of work (series, targets) a receiver records
// into its generated metrics builder between two Emits. The generated
// Record functions compare each new point with every point of its metric
// recorded since the last Emit (to merge duplicates), so a single Emit per
// scrape costs time in the square of the points: 59 s for tcpflow's 4,096
// flow series.
const EmitEvery = 64

// Joined joins the outputs of a builder emitted every EmitEvery units
// under one resource into one resource and scope (MoveMetrics).
type Joined struct {
	md   pmetric.Metrics
	have bool
	n    int
}

// Due counts one more unit recorded and reports whether to emit now.
func (j *Joined) Due() bool {
	j.n++
	return j.n%EmitEvery == 0
}

// Add joins one Emit's output to what j holds.
func (j *Joined) Add(md pmetric.Metrics) {
	if !j.have {
		j.md, j.have = md, true
		return
	}
	MoveMetrics(j.md, md)
}

// Take adds the last Emit's output and returns everything joined; j is
// empty again.
func (j *Joined) Take(md pmetric.Metrics) pmetric.Metrics {
	j.Add(md)
	md = j.md
	*j = Joined{}
	return md
}

// MoveMetrics moves what src's first resource and scope hold into dst's
// first resource and scope, both emitted by one generated metrics builder
// under the same resource: the points of a metric dst has (by name) are
// appended to its points, other metrics are appended whole. src is empty
// afterwards. It joins the outputs of several Emits of one scrape.
func MoveMetrics(dst, src pmetric.Metrics) {
	if src.ResourceMetrics().Len() == 0 || src.ResourceMetrics().At(0).ScopeMetrics().Len() == 0 {
		return
	}
	if dst.ResourceMetrics().Len() == 0 || dst.ResourceMetrics().At(0).ScopeMetrics().Len() == 0 {
		dst.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { return true })
		src.ResourceMetrics().MoveAndAppendTo(dst.ResourceMetrics())
		return
	}
	to := dst.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	at := make(map[string]int, to.Len())
	for i := range to.Len() {
		at[to.At(i).Name()] = i
	}
	from := src.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range from.Len() {
		m := from.At(i)
		j, ok := at[m.Name()]
		if !ok || to.At(j).Type() != m.Type() {
			m.MoveTo(to.AppendEmpty())
			continue
		}
		switch d := to.At(j); m.Type() {
		case pmetric.MetricTypeSum:
			m.Sum().DataPoints().MoveAndAppendTo(d.Sum().DataPoints())
		case pmetric.MetricTypeGauge:
			m.Gauge().DataPoints().MoveAndAppendTo(d.Gauge().DataPoints())
		case pmetric.MetricTypeHistogram:
			m.Histogram().DataPoints().MoveAndAppendTo(d.Histogram().DataPoints())
		default:
			m.MoveTo(to.AppendEmpty())
		}
	}
	src.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { return true })
}
