package connprobereceiver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// BenchmarkMemoryPerTarget is the Go memory (heap and stacks) the
// receiver holds per target in steady state, from 100 and 1000 targets
// with the default ping bursts and a TCP scan of 3 ports every second, on
// loopback addresses (127.0.x.y) of a namespace of its own, after 4 s of
// probing and scrapes every second. bench/memory.sh runs it.
func BenchmarkMemoryPerTarget(b *testing.B) {
	testnet.RequireRoot(b)
	ns := testnet.New(b)
	var targets []TargetConfig
	testnet.MemoryPerUnit(b, "target", 100, 1000, testnet.Workload{
		Grow: func(n int) {
			for i := len(targets); i < n; i++ {
				targets = append(targets, TargetConfig{Host: fmt.Sprintf("127.0.%d.%d", i/250, i%250+1)})
			}
		},
		Start: func() (int, func()) {
			cfg := createDefaultConfig().(*Config)
			cfg.NetNS, cfg.Targets = ns.Path, targets
			scan := time.Second
			cfg.Defaults.Scan.Interval = &scan
			require.NoError(b, cfg.Validate())
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
			var probed int
			for range 4 {
				time.Sleep(time.Second)
				md, err := s.scrape(context.Background())
				require.NoError(b, err)
				probed = metricNames(md)["connprobe.ping.loss"].Gauge().DataPoints().Len()
			}
			require.Equal(b, len(targets), probed, "targets with ping results")
			return probed, func() { require.NoError(b, s.shutdown(context.Background())) }
		},
	})
}
