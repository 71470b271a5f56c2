package sockstatereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// BenchmarkMemoryPerNetNS is the Go memory an all_netns scraper (default
// method) holds per network namespace between scrapes, from the host's
// namespaces plus 20 and 200 more, each with a process and a few sockets
// in it. bench/memory.sh runs it.
func BenchmarkMemoryPerNetNS(b *testing.B) {
	testnet.RequireRoot(b)
	var nss []*testnet.NS
	testnet.MemoryPerUnit(b, "netns", 20, 200, testnet.Workload{
		Grow: func(n int) { testnet.Populate(b, &nss, n, 2) },
		Start: func() (int, func()) {
			cfg := createDefaultConfig().(*Config)
			cfg.AllNetNS, cfg.MaxNetNS, cfg.ResyncInterval = true, 100000, time.Hour
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			require.NoError(b, s.start(context.Background(), nil))
			var nns int
			for range 3 {
				md, err := s.scrape(context.Background())
				require.NoError(b, err)
				nns = md.ResourceMetrics().Len()
			}
			require.GreaterOrEqual(b, nns, len(nss))
			return nns, func() { require.NoError(b, s.shutdown(context.Background())) }
		},
	})
}
