package tcpflowreceiver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
)

// BenchmarkMemoryPerClosedFlowWaiting is the Go memory the scraper, on the
// real eBPF probe, holds per closed flow between two scrapes under
// aggregation: flow and the default top_k, from 1000 and 10000 flows
// closed on loopback in a namespace of its own (the scraper folds them as
// they arrive). bench/memory.sh runs it.
func BenchmarkMemoryPerClosedFlowWaiting(b *testing.B) {
	testnet.RequireRoot(b)
	ns := testnet.New(b)
	var ln net.Listener
	ns.Do(b, func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err })
	defer ln.Close()
	var conns int
	testnet.MemoryPerUnit(b, "closed-flow", 1000, 10000, testnet.Workload{
		Grow: func(n int) { conns = n / 2 },
		Start: func() (int, func()) {
			cfg := createDefaultConfig().(*Config)
			cfg.NetNS, cfg.Aggregation, cfg.MaxFlows = ns.Path, AggregationFlow, 65536
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
			_, err := s.scrape(context.Background())
			require.NoError(b, err)
			ns.Churn(b, ln, conns)
			folded := func() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.closedN }
			// the probe's ring buffer reader polls every second
			for deadline := time.Now().Add(10 * time.Second); folded() < uint64(2*conns) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			return int(folded()), func() { require.NoError(b, s.shutdown(context.Background())) }
		},
	})
}
