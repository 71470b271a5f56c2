package sockstatereceiver

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Sizes of the kernel test's population, per address family.
const (
	popEstablished = 20 // established pairs
	popTimeWait    = 5
	popFinWait2    = 3 // FIN_WAIT_2 / CLOSE_WAIT pairs
)

// newPopulationWant is what the kernel test's population holds (see
// newPopulation), derived from its construction alone; the procfs fixtures
// under testdata/proc were captured from it.
func newPopulationWant() map[countKey]int64 {
	want := map[countKey]int64{}
	for _, fam := range []string{"ipv4", "ipv6"} {
		w := func(tr, st string, n int64) { want[countKey{tr, st, fam}] += n }
		w("tcp", "listen", 3)
		w("tcp", "established", 2*popEstablished+2*3+1)
		w("tcp", "time_wait", popTimeWait)
		w("tcp", "fin_wait_2", popFinWait2)
		w("tcp", "close_wait", popFinWait2)
		w("tcp", "syn_sent", 1)
		w("tcp", "syn_received", 1)
		w("udp", "closed", 1)
		w("udp", "established", 1)
		w("udplite", "closed", 1)
		w("raw", "closed", 1)
	}
	return want
}

// countKey names one system.network.connection.count series.
type countKey struct{ transport, state, family string }

func (k countKey) String() string { return k.transport + "/" + k.state + "/" + k.family }

// connCounts extracts system.network.connection.count per series.
func connCounts(t *testing.T, md pmetric.Metrics) map[countKey]int64 {
	t.Helper()
	got := map[countKey]int64{}
	eachPoint(md, "system.network.connection.count", func(a map[string]any, v int64) {
		k := countKey{a["network.transport"].(string), a["network.connection.state"].(string), a["network.type"].(string)}
		if _, dup := got[k]; dup {
			t.Fatalf("series %v emitted twice", k)
		}
		got[k] = v
	})
	return got
}

func eachPoint(md pmetric.Metrics, name string, fn func(attrs map[string]any, v int64)) {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				if m.Type() == pmetric.MetricTypeSum {
					dps = m.Sum().DataPoints()
				} else {
					dps = m.Gauge().DataPoints()
				}
				for l := range dps.Len() {
					fn(dps.At(l).Attributes().AsRaw(), dps.At(l).IntValue())
				}
			}
		}
	}
}
