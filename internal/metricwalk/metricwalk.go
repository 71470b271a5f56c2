// Package metricwalk visits the number data points of pmetric.Metrics, for
// the receivers' post-processing and for tests that read scrapes back.
package metricwalk

import "go.opentelemetry.io/collector/pdata/pmetric"

// NumberPoints calls fn for every gauge and sum data point in md, with the
// metric it belongs to.
func NumberPoints(md pmetric.Metrics, fn func(m pmetric.Metric, dp pmetric.NumberDataPoint)) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				for l := 0; l < dps.Len(); l++ {
					fn(m, dps.At(l))
				}
			}
		}
	}
}
