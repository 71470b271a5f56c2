package connprobereceiver

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/netstack-otel/netstack/internal/configtest"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/connmonitor"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
)

// The connvitals-monitor file and its YAML equivalent give the same
// targets.
func TestConnmonitorFileEqualsYAML(t *testing.T) {
	cfg := configtest.Load[*Config](t, NewFactory(), "equivalent")
	require.NoError(t, confmap.Validate(cfg))
	f, err := os.Open(filepath.Join("testdata", "connmonitor.conf"))
	require.NoError(t, err)
	defer f.Close()
	entries, err := connmonitor.Parse(f)
	require.NoError(t, err)
	var fromFile []engine.Target
	for _, e := range entries {
		fromFile = append(fromFile, fromConnmonitor(e, cfg.Defaults))
	}
	assert.Equal(t, cfg.engineTargets(), fromFile)
	assert.Equal(t, []uint16{22, 80, 443}, fromFile[0].ScanPorts)
	assert.Zero(t, fromFile[0].TraceInterval, "trace off by default")
}

func TestValidateNamesFields(t *testing.T) {
	err := confmap.Validate(configtest.Load[*Config](t, NewFactory(), "bad"))
	require.Error(t, err)
	for _, field := range []string{
		"defaults.ip_family", "targets[0].host", "targets[0].ping.count", "targets[0].ping.timeout",
		"targets[0].trace.protocol", "targets[0].trace.max_hops", "targets[0].scan.ports[0]", "targets[0].scan.ports[1]", "targets[0].dns.server",
		"targets[1].ttl", "targets[1].tos", "logs.queue_size", "logs.max_batch",
	} {
		assert.Contains(t, err.Error(), field)
	}
	err = confmap.Validate(configtest.Load[*Config](t, NewFactory(), "empty"))
	require.ErrorContains(t, err, "targets: at least one target")
}

// ping_histogram is an explicithist.Config: NaN, bounds <= 0, unordered
// bounds and an empty list while enabled are rejected, naming the field.
func TestValidatePingHistogram(t *testing.T) {
	require.ErrorContains(t, confmap.Validate(configtest.Load[*Config](t, NewFactory(), "nan_bound")),
		"ping_histogram.buckets[1]: NaN is not a positive finite bound")
	require.ErrorContains(t, confmap.Validate(configtest.Load[*Config](t, NewFactory(), "no_bounds")),
		"ping_histogram.buckets: at least one bound is needed when enabled")
	off := configtest.Load[*Config](t, NewFactory(), "histogram_off")
	require.NoError(t, confmap.Validate(off), "a disabled histogram needs no bounds")
	require.False(t, off.PingHistogram.Enabled)

	for _, c := range []struct {
		buckets []float64
		want    string
	}{
		{[]float64{0, 1}, "ping_histogram.buckets[0]: 0 is not a positive finite bound"},
		{[]float64{-0.5, 1}, "ping_histogram.buckets[0]: -0.5 is not a positive finite bound"},
		{[]float64{0.1, math.Inf(1)}, "ping_histogram.buckets[1]: +Inf is not a positive finite bound"},
		{[]float64{0.1, 0.1}, "ping_histogram.buckets[1]: 0.1 is not above the previous bound 0.1"},
		{[]float64{0.2, 0.1}, "ping_histogram.buckets[1]: 0.1 is not above the previous bound 0.2"},
	} {
		cfg := configtest.Load[*Config](t, NewFactory(), "nan_bound")
		cfg.PingHistogram.Buckets = c.buckets
		require.ErrorContains(t, confmap.Validate(cfg), c.want)
	}
}
