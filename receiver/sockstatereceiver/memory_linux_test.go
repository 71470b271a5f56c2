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
	ctx := context.Background()
	testnet.MemoryPerNetNS(b, func() (func() (int, error), func() error) {
		cfg := createDefaultConfig().(*Config)
		cfg.AllNetNS, cfg.MaxNetNS, cfg.ResyncInterval = true, 100000, time.Hour
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		require.NoError(b, s.start(ctx, nil))
		return func() (int, error) { md, err := s.scrape(ctx); return md.ResourceMetrics().Len(), err },
			func() error { return s.shutdown(ctx) }
	})
}
