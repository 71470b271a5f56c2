package netsnmpreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/netstack-otel/netstack/internal/configtest"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	def := configtest.Load[*Config](t, NewFactory(), "")
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))

	c := configtest.Load[*Config](t, NewFactory(), "custom")
	require.NoError(t, confmap.Validate(c))
	assert.Equal(t, 30*time.Second, c.CollectionInterval)
	assert.Equal(t, "/run/netns/blue", c.NetNS)
	assert.Equal(t, NstatConfig{Enabled: true, Include: []string{"^TcpExt", "^Udp"}, Exclude: []string{"Mem"}}, c.Nstat)
	assert.True(t, c.Metrics.SystemNetworkTCPListenOverflows.Enabled)
	assert.Equal(t, metadata.Type, NewFactory().Type())
	assert.False(t, def.AllNetNS)
	assert.Equal(t, 64, def.MaxNetNS)

	all := configtest.Load[*Config](t, NewFactory(), "all")
	require.NoError(t, confmap.Validate(all))
	assert.True(t, all.AllNetNS)
	assert.Equal(t, 8, all.MaxNetNS)
	assert.Equal(t, "/host/proc", all.RootPath)
}

func TestValidateNamesTheField(t *testing.T) {
	for name, want := range map[string]string{
		"both":                   "netns and root_path: set at most one",
		"badregex":               "nstat.include[1]: error parsing regexp: missing closing ): `(unclosed`",
		"filters_without_enable": "nstat.include/nstat.exclude are set but nstat.enabled is false",
		"all_with_netns":         "all_netns: cannot be combined with netns",
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorContains(t, confmap.Validate(configtest.Load[*Config](t, NewFactory(), name)), want)
		})
	}
	// The squashed all_netns block validates itself, as the Collector
	// validates every nested block.
	assert.ErrorContains(t, confmap.Validate(configtest.Load[*Config](t, NewFactory(), "all_with_netns")), "max_netns: must be positive, got 0")
}
