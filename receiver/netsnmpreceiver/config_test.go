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
}

func TestValidateNamesTheField(t *testing.T) {
	for name, want := range map[string]string{
		"both":                   "netns and root_path: set at most one",
		"badregex":               "nstat.include[1]: error parsing regexp: missing closing ): `(unclosed`",
		"filters_without_enable": "nstat.include/nstat.exclude are set but nstat.enabled is false",
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorContains(t, confmap.Validate(configtest.Load[*Config](t, NewFactory(), name)), want)
		})
	}
}
