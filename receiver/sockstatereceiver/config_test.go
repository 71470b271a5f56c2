package sockstatereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/netstack-otel/netstack/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	def := configtest.Load[*Config](t, NewFactory(), "")
	require.NoError(t, def.Validate())
	require.Equal(t, createDefaultConfig(), def)
	require.Equal(t, MethodAuto, def.Method)
	require.Equal(t, 5*time.Minute, def.ResyncInterval)

	c := configtest.Load[*Config](t, NewFactory(), "custom")
	require.NoError(t, c.Validate())
	require.Equal(t, MethodSockDiag, c.Method)
	require.Equal(t, "/run/netns/blue", c.NetNS)
	require.Equal(t, []uint16{80, 443}, c.ListenPorts)
	require.Equal(t, 10, c.MaxListeners)
	require.Equal(t, []uint16{443}, c.Ports)
	require.Equal(t, time.Minute, c.ResyncInterval)
	require.Equal(t, 10*time.Second, c.CollectionInterval)
	require.True(t, c.Metrics.SystemNetworkConnectionLocalPortCount.Enabled)

	all := configtest.Load[*Config](t, NewFactory(), "all")
	require.NoError(t, all.Validate())
	require.True(t, all.AllNetNS)
	require.Equal(t, 8, all.MaxNetNS)
}

func TestValidateNamesFields(t *testing.T) {
	// As the Collector validates: every nested block too (the squashed
	// netns/root_path block validates itself).
	err := confmap.Validate(configtest.Load[*Config](t, NewFactory(), "bad"))
	require.Error(t, err)
	for _, want := range []string{
		`method: "magic" is not one of`,
		"netns and root_path: set at most one",
		"max_netns: must be positive",
		"max_listeners: must not be negative",
		"ports: port 0 is not a port",
		"ports: port 443 listed twice",
		"listen_ports: port 0 is not a port",
		"resync_interval: must be at least 1s",
	} {
		require.ErrorContains(t, err, want)
	}
	c := createDefaultConfig().(*Config)
	c.AllNetNS, c.NetNS = true, "/run/netns/x"
	require.ErrorContains(t, c.Validate(), "all_netns: cannot be combined with netns")
	c = createDefaultConfig().(*Config)
	for i := range maxPorts + 1 {
		c.Ports = append(c.Ports, uint16(i+1))
	}
	require.ErrorContains(t, c.Validate(), "ports: at most 64 ports")
}
