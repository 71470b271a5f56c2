// Package metricwalk visits the metrics and number data points of
// pmetric.Metrics, for the components' post-processing and for tests that
// read scrapes back.
package metricwalk

import "go.opentelemetry.io/collector/pdata/pmetric"

// Metrics calls fn for every metric in md, in order.
func Metrics(md pmetric.Metrics, fn func(m pmetric.Metric)) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				fn(ms.At(k))
			}
		}
	}
}

// NumberPoints calls fn for every gauge and sum data point in md, with the
// metric it belongs to.
func NumberPoints(md pmetric.Metrics, fn func(m pmetric.Metric, dp pmetric.NumberDataPoint)) {
	Metrics(md, func(m pmetric.Metric) {
		var dps pmetric.NumberDataPointSlice
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			dps = m.Gauge().DataPoints()
		case pmetric.MetricTypeSum:
			dps = m.Sum().DataPoints()
		default:
			return
		}
		for l := 0; l < dps.Len(); l++ {
			fn(m, dps.At(l))
		}
	})
}
