package explicithist

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestObserveAndWrite(t *testing.T) {
	bounds := []float64{1, 10}
	h := New(bounds)
	dp := pmetric.NewHistogramDataPoint()
	h.WriteTo(dp, bounds)
	require.Equal(t, []uint64{0, 0, 0}, dp.BucketCounts().AsRaw())
	require.False(t, dp.HasMin())
	for _, v := range []float64{0.5, 1, 1.5, 10, 11} { // a bound belongs to the bucket it closes
		h.Observe(bounds, v)
	}
	h.WriteTo(dp, bounds)
	require.Equal(t, []uint64{2, 2, 1}, dp.BucketCounts().AsRaw())
	require.Equal(t, []float64{1, 10}, dp.ExplicitBounds().AsRaw())
	require.Equal(t, uint64(5), dp.Count())
	require.Equal(t, uint64(5), h.Count())
	require.InDelta(t, 24.0, dp.Sum(), 1e-9)
	require.Equal(t, 0.5, dp.Min())
	require.Equal(t, 11.0, dp.Max())
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{Buckets: []float64{2, 1}}.Validate("h.buckets"), "disabled is not checked")
	require.NoError(t, Config{Enabled: true, Buckets: []float64{0.1, 1}}.Validate("h.buckets"))
	for _, c := range []struct {
		b    []float64
		want string
	}{
		{nil, "h.buckets: at least one bound"},
		{[]float64{0, 1}, "h.buckets[0]: 0 is not a positive"},
		{[]float64{1, math.Inf(1)}, "h.buckets[1]: +Inf"},
		{[]float64{1, math.NaN()}, "h.buckets[1]: NaN"},
		{[]float64{1, 1}, "h.buckets[1]: 1 is not above the previous bound 1"},
		{[]float64{2, 1}, "h.buckets[1]: 1 is not above"},
	} {
		require.ErrorContains(t, Config{Enabled: true, Buckets: c.b}.Validate("h.buckets"), c.want)
	}
}
