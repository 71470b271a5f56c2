package connprobereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/configtest"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// The default distribution's section, run end to end through the factory
// and the scraper controller in a fresh namespace.
func TestDefaultConfigEndToEnd(t *testing.T) {
	ns := testnet.New(t)
	cfg := configtest.Load[*Config](t, NewFactory(), "default")
	require.NoError(t, confmap.Validate(cfg))
	targets := cfg.engineTargets()
	require.Len(t, targets, 2)
	require.Equal(t, "127.0.0.1", targets[0].Host)
	require.Equal(t, "::1", targets[1].Host)

	cfg.NetNS = ns.Path
	cfg.CollectionInterval = 300 * time.Millisecond
	d := 100 * time.Millisecond
	cfg.Defaults.Ping.Interval = &d
	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool {
		for _, md := range sink.AllMetrics() {
			m := metricNames(md)
			if _, ok := m["connprobe.ping.rtt.avg"]; ok && m["connprobe.ping.rtt.avg"].Gauge().DataPoints().Len() == 2 {
				return true
			}
		}
		return false
	}, 5*time.Second, 50*time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
}
