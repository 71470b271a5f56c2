package tcpflowreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// BenchmarkMemoryPerFlow is the Go memory the scraper holds per tracked
// flow between scrapes under aggregation: flow and the default top_k (its
// copy of the flow table, the series and their indexes), from 4096 and
// 40960 flows of a fake source (whose own flows are not counted).
// bench/memory.sh runs it. The kernel side is probe.BenchmarkMemoryKernel's,
// closed flows BenchmarkMemoryPerClosedFlowWaiting's.
func BenchmarkMemoryPerFlow(b *testing.B) {
	var src *recorded
	testnet.MemoryPerUnit(b, "flow", 4096, 40960, testnet.Workload{
		Grow: func(n int) { src = manyFlows(n) },
		Start: func() (int, func()) {
			cfg := createDefaultConfig().(*Config)
			cfg.Aggregation, cfg.MaxFlows = AggregationFlow, len(src.flows)
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			s.open = func(probe.Config) (probe.Source, error) { return src, nil }
			require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
			var points int
			for range 3 {
				md, err := s.scrape(context.Background())
				require.NoError(b, err)
				points = md.DataPointCount()
			}
			require.Positive(b, points)
			return len(src.flows), func() { require.NoError(b, s.shutdown(context.Background())) }
		},
	})
}
