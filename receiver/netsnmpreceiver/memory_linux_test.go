package netsnmpreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// BenchmarkMemoryPerNetNS is the Go memory an all_netns scraper (curated
// metrics and the whole nstat family) holds per network namespace between
// scrapes, from the host's namespaces plus 20 and 200 more, each with a
// process and a few sockets in it. bench/memory.sh runs it.
func BenchmarkMemoryPerNetNS(b *testing.B) {
	testnet.RequireRoot(b)
	var nss []*testnet.NS
	testnet.MemoryPerUnit(b, "netns", 20, 200, testnet.Workload{
		Grow: func(n int) { testnet.Populate(b, &nss, n, 2) },
		Start: func() (int, func()) {
			cfg := defaultConfig()
			cfg.AllNetNS, cfg.MaxNetNS, cfg.Nstat.Enabled = true, 100000, true
			s, err := newScraper(cfg, newBenchSettings())
			require.NoError(b, err)
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
