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
	ctx := context.Background()
	testnet.MemoryPerNetNS(b, func() (func() (int, error), func() error) {
		cfg := defaultConfig()
		cfg.AllNetNS, cfg.MaxNetNS, cfg.Nstat.Enabled = true, 100000, true
		s, err := newScraper(cfg, newBenchSettings())
		require.NoError(b, err)
		require.NoError(b, s.start(ctx, nil))
		return func() (int, error) { md, err := s.scrape(ctx); return md.ResourceMetrics().Len(), err },
			func() error { return s.shutdown(ctx) }
	})
}
