// Package configtest loads a component's configuration from its
// testdata/config.yaml, for config tests (import it from _test.go files
// only).
package configtest // import "github.com/netstack-otel/netstack/internal/configtest"

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// Load returns f's default configuration with the section of
// testdata/config.yaml named by f's type and name ("netsnmp" for name "",
// "netsnmp/custom" for "custom") unmarshalled over it, as the Collector
// builds it. It is not validated, so tests can check the errors of a bad
// section. C is the component's configuration type (e.g. *Config).
func Load[C component.Config](t testing.TB, f component.Factory, name string) C {
	t.Helper()
	id := component.NewIDWithName(f.Type(), name)
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(id.String())
	require.NoError(t, err, "section %s", id)
	cfg := f.CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg), "section %s", id)
	c, ok := cfg.(C)
	require.Truef(t, ok, "the default configuration is a %T", cfg)
	return c
}
