package metricwalk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestNumberPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("g")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	s := ms.AppendEmpty()
	s.SetName("s")
	dps := s.SetEmptySum().DataPoints()
	dps.AppendEmpty().SetIntValue(2)
	dps.AppendEmpty().SetDoubleValue(3.5)
	h := ms.AppendEmpty()
	h.SetName("h")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(9)

	var got []string
	var sum float64
	NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		got = append(got, m.Name())
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			sum += float64(dp.IntValue())
		} else {
			sum += dp.DoubleValue()
		}
	})
	assert.Equal(t, []string{"g", "s", "s"}, got)
	assert.Equal(t, 6.5, sum)

	var all []string
	Metrics(md, func(m pmetric.Metric) { all = append(all, m.Name()) })
	assert.Equal(t, []string{"g", "s", "h"}, all, "Metrics visits every metric, histograms included")
}
