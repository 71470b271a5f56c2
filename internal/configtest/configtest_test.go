package configtest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

type config struct {
	Name  string `mapstructure:"name"`
	Count int    `mapstructure:"count"`
}

type factory struct{ component.Factory }

func (factory) Type() component.Type                  { return component.MustNewType("demo") }
func (factory) CreateDefaultConfig() component.Config { return &config{Name: "default", Count: 1} }

func TestLoad(t *testing.T) {
	f := factory{}
	c := Load[*config](t, f, "")
	require.Equal(t, &config{Name: "default", Count: 1}, c, "an empty section keeps the defaults")
	c = Load[*config](t, f, "custom")
	require.Equal(t, &config{Name: "default", Count: 5}, c, "fields not set keep their defaults")
}
