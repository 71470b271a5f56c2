package tcpflowreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/netstack-otel/netstack/internal/configtest"
)

func TestConfigDefaultAndCustom(t *testing.T) {
	def := configtest.Load[*Config](t, NewFactory(), "")
	require.Equal(t, createDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))

	c := configtest.Load[*Config](t, NewFactory(), "custom")
	require.NoError(t, confmap.Validate(c))
	require.Equal(t, 15*time.Second, c.CollectionInterval)
	pc := c.probeConfig(42, "")
	require.True(t, pc.OnCwndChange)
	require.Equal(t, 10*time.Millisecond, pc.MinSampleInterval)
	require.Equal(t, uint32(100), pc.MaxFlows)
	require.Equal(t, uint64(42), pc.NetnsCookie)
	require.Equal(t, []uint16{443, 8080}, pc.LocalPorts)
	require.Len(t, pc.PeerCIDRs, 2)
	require.Equal(t, []uint16{5001}, pc.Ports)
	require.Equal(t, uint64(100000), pc.MaxSamplesPerSec)
	require.Equal(t, 1<<20, pc.SampleRingSize)
	require.Equal(t, 50*time.Millisecond, c.Logs.FlushInterval)
	require.True(t, c.Logs.Samples && c.Logs.FlowClose, "defaults kept")
	require.Equal(t, FallbackDisable, c.Fallback)
	require.True(t, c.LifetimeHistogram.Enabled)
	require.Equal(t, []float64{0.1, 1, 10}, c.LifetimeHistogram.Buckets)
}

func TestConfigErrorsNameTheField(t *testing.T) {
	err := confmap.Validate(configtest.Load[*Config](t, NewFactory(), "bad"))
	require.Error(t, err)
	for _, want := range []string{
		`sampling: "sometimes"`,
		"max_flows: 0",
		"local_ports: 9 ports, at most 8",
		"peer_ports[0]: 70000 is not a port",
		"peer_cidrs[0]:",
		"peer_groups[0]:",
		`aggregation: "host"`,
		"ephemeral_port_min: 0",
		"top_k: must not be negative",
		`fallback: "ebpf-or-nothing"`,
		"min_sample_interval: must not be negative",
		"idle_timeout: must not be negative",
		"lifetime_histogram.buckets[1]: 0.5 is not above the previous bound 1",
		"ports[0]: 65536 is not a port",
		"max_samples_per_second: must not be negative",
		"logs.ring_size: 5000 is not a power of two",
		"logs.flush_interval: must be positive",
		"logs.max_batch: 0 is not positive",
	} {
		require.ErrorContains(t, err, want)
	}
}

func TestConfigAllNetNS(t *testing.T) {
	c := configtest.Load[*Config](t, NewFactory(), "allns")
	require.NoError(t, confmap.Validate(c))
	require.True(t, c.AllNetNS)
	require.Equal(t, "/host/proc", c.RootPath)

	err := confmap.Validate(configtest.Load[*Config](t, NewFactory(), "allns_bad"))
	require.ErrorContains(t, err, "all_netns: cannot be combined with netns")
	require.ErrorContains(t, err, "fallback: sockdiag cannot be used with all_netns")
}
