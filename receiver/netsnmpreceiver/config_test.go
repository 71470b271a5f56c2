package netsnmpreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

func loadConfig(t *testing.T, id string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	var cid component.ID
	require.NoError(t, cid.UnmarshalText([]byte(id)))
	sub, err := cm.Sub(cid.String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "netsnmp")
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)
	require.NoError(t, confmap.Validate(def))

	c := loadConfig(t, "netsnmp/custom")
	require.NoError(t, confmap.Validate(c))
	assert.Equal(t, 30*time.Second, c.CollectionInterval)
	assert.Equal(t, "/run/netns/blue", c.NetNS)
	assert.Equal(t, NstatConfig{Enabled: true, Include: []string{"^TcpExt", "^Udp"}, Exclude: []string{"Mem"}}, c.Nstat)
	assert.True(t, c.Metrics.SystemNetworkTCPListenOverflows.Enabled)
	assert.Equal(t, metadata.Type, NewFactory().Type())
}

func TestValidateNamesTheField(t *testing.T) {
	for id, want := range map[string]string{
		"netsnmp/both":                   "netns and root_path: set at most one",
		"netsnmp/badregex":               "nstat.include[1]: error parsing regexp: missing closing ): `(unclosed`",
		"netsnmp/filters_without_enable": "nstat.include/nstat.exclude are set but nstat.enabled is false",
	} {
		t.Run(id, func(t *testing.T) {
			assert.ErrorContains(t, confmap.Validate(loadConfig(t, id)), want)
		})
	}
}
