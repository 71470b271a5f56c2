// Package explicithist holds cumulative explicit-bucket histograms built by
// hand: mdatagen v0.159.0 cannot declare histogram metrics, so receivers that
// export one keep its state here and write it into a pmetric data point.
package explicithist // import "github.com/netstack-otel/netstack/internal/explicithist"

import (
	"fmt"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Config is a histogram's configuration block: `{enabled, buckets}`.
type Config struct {
	Enabled bool `mapstructure:"enabled"`
	// Buckets are the explicit upper bounds, strictly increasing.
	Buckets []float64 `mapstructure:"buckets"`
}

// Validate checks that the bounds are finite, positive and strictly
// increasing; errors name field (e.g. "lifetime_histogram.buckets").
func (c Config) Validate(field string) error {
	if !c.Enabled {
		return nil
	}
	if len(c.Buckets) == 0 {
		return fmt.Errorf("%s: at least one bound is needed when enabled", field)
	}
	for i, b := range c.Buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || b <= 0 {
			return fmt.Errorf("%s[%d]: %v is not a positive finite bound", field, i, b)
		}
		if i > 0 && b <= c.Buckets[i-1] {
			return fmt.Errorf("%s[%d]: %v is not above the previous bound %v (bounds must be strictly increasing)", field, i, b, c.Buckets[i-1])
		}
	}
	return nil
}

// Hist is one cumulative histogram series over fixed bounds.
type Hist struct {
	counts   []uint64 // len(bounds)+1; bucket i holds (bounds[i-1], bounds[i]]
	count    uint64
	sum      float64
	min, max float64
}

// New returns an empty histogram for bounds (validated by Config.Validate).
func New(bounds []float64) *Hist {
	return &Hist{counts: make([]uint64, len(bounds)+1), min: math.Inf(1), max: math.Inf(-1)}
}

// Observe adds one value.
func (h *Hist) Observe(bounds []float64, v float64) {
	i, _ := slices.BinarySearch(bounds, v)
	h.counts[i]++
	h.count++
	h.sum += v
	h.min = math.Min(h.min, v)
	h.max = math.Max(h.max, v)
}

// Count is the number of values observed.
func (h *Hist) Count() uint64 { return h.count }

// WriteTo fills dp's bounds, bucket counts, count, sum, min and max (the
// latter two only once a value was observed).
func (h *Hist) WriteTo(dp pmetric.HistogramDataPoint, bounds []float64) {
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(h.counts)
	dp.SetCount(h.count)
	dp.SetSum(h.sum)
	if h.count > 0 {
		dp.SetMin(h.min)
		dp.SetMax(h.max)
	}
}
