package connprobereceiver

import (
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
