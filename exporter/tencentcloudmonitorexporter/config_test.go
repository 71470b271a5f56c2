package tencentcloudmonitorexporter

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/netstack-otel/netstack/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	seed := configtest.Load[*Config](t, NewFactory(), "")
	require.NoError(t, confmap.Validate(seed))
	assert.Equal(t, DefaultEndpoint, seed.Endpoint)
	assert.Equal(t, CredentialsAuto, seed.Credentials)
	assert.Empty(t, seed.Metrics, "empty table means the default table")
	assert.Equal(t, 1, seed.QueueConfig.Get().NumConsumers)

	full := configtest.Load[*Config](t, NewFactory(), "full")
	require.NoError(t, confmap.Validate(full))
	assert.Equal(t, "ap-shanghai", full.Region)
	assert.Equal(t, "examplekey", string(full.SecretKey))
	assert.Equal(t, 10*time.Second, full.FlushDelay)
	assert.Equal(t, 3*time.Second, full.TimeoutConfig.Timeout)
	assert.Equal(t, "file_storage", full.QueueConfig.Get().StorageID.String())
	require.Len(t, full.Metrics, 3)
	assert.Equal(t, map[string]string{"network.io.direction": "receive", "network.type": "ipv6"}, full.Metrics[2].Attributes)
	assert.Equal(t, StatisticCount, full.Metrics[1].Statistic)
}

func TestValidateNamesEveryField(t *testing.T) {
	err := confmap.Validate(configtest.Load[*Config](t, NewFactory(), "bad"))
	require.Error(t, err)
	for _, field := range []string{"region:", "endpoint:", "credentials:", "secret_id, secret_key", "announce_ip:",
		"flush_delay:", "requests_per_second:", "netns and root_path", "sending_queue::batch", "metrics[0].metric",
		"metrics[0].name", "metrics[0].counter_bits", "metrics[0].statistic"} {
		assert.ErrorContains(t, err, field)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Region = "ap-guangzhou"
	cfg.Credentials = CredentialsConfig
	assert.ErrorContains(t, cfg.Validate(), "both must be set with credentials: config")
	cfg.Credentials = CredentialsAuto
	cfg.Metrics = []MetricMapping{{Metric: "a", Name: "A"}, {Metric: "a", Name: "A"}}
	assert.ErrorContains(t, cfg.Validate(), "metrics[1]: duplicate")
	for _, ep := range []string{"https://user:pw@h", "https://h/?q=1", "http://", "monitor.tencentcloudapi.com"} {
		cfg.Metrics = nil
		cfg.Endpoint = ep
		assert.ErrorContains(t, cfg.Validate(), "endpoint:", ep)
	}
}

func TestDefaultTableIsValid(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Region = "ap-guangzhou"
	cfg.Metrics = DefaultMetrics()
	require.NoError(t, cfg.Validate())
	names := map[string]bool{}
	for _, m := range cfg.Metrics {
		names[m.Name] = true
	}
	for _, n := range []string{"TcpActiveOpens", "TcpPassiveOpens", "TcpAttemptFails", "TcpEstabResets", "TcpRetransSegs",
		"TcpExtListenOverflows", "UdpInDatagrams", "UdpOutDatagrams", "UdpInErrors", "UdpNoPorts", "UdpSndbufErrors", "TcpCurrEstab"} {
		assert.True(t, names[n], n)
	}
	assert.Len(t, names, 12)
}

// TestSecretsRedacted checks secrets do not leak through the config as
// zpages and the debug output print it.
func TestSecretsRedacted(t *testing.T) {
	cfg := configtest.Load[*Config](t, NewFactory(), "full")
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	text := fmt.Sprintf("%v %+v %#v", conf.ToStringMap(), *cfg, *cfg)
	for _, s := range []string{"examplekey", "exampletoken"} {
		assert.NotContains(t, text, s)
	}
	assert.Contains(t, fmt.Sprint(conf.ToStringMap()), "[REDACTED]")
}

func TestCredentialSources(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Region = "ap-guangzhou"
	t.Setenv("TENCENTCLOUD_SECRET_ID", "AKIDfromenv")
	t.Setenv("TENCENTCLOUD_SECRET_KEY", "keyfromenv")
	t.Setenv("HOME", t.TempDir()) // no profile file
	cred, err := resolveCredential(cfg)
	require.NoError(t, err)
	assert.Equal(t, "AKIDfromenv", cred.GetSecretId())

	cfg.SecretID, cfg.SecretKey, cfg.Token = "AKIDcfg", "keycfg", "tok"
	cred, err = resolveCredential(cfg)
	require.NoError(t, err)
	id, key, tok := cred.GetCredential()
	assert.Equal(t, []string{"AKIDcfg", "keycfg", "tok"}, []string{id, key, tok})

	cfg.Credentials = CredentialsEnv
	cred, err = resolveCredential(cfg)
	require.NoError(t, err)
	assert.Equal(t, "AKIDfromenv", cred.GetSecretId())

	t.Setenv("TENCENTCLOUD_SECRET_KEY", "")
	_, err = resolveCredential(cfg)
	require.ErrorContains(t, err, `credentials "env"`)
	assert.NotContains(t, err.Error(), "AKIDfromenv")

	cfg.Credentials = CredentialsProfile
	_, err = resolveCredential(cfg)
	require.ErrorContains(t, err, `credentials "profile"`)
}

// TestExampleConfig loads the exporter section of config/tencentcloudmonitor.yaml
// with its ${env:...} references resolved as the collector would.
func TestExampleConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "tencentcloudmonitor.yaml"))
	require.NoError(t, err)
	env := map[string]string{
		"TENCENTCLOUD_REGION": "ap-guangzhou", "TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k",
	}
	envRef := regexp.MustCompile(`\$\{env:([A-Z_]+)(:-([^}]*))?\}`)
	expanded := envRef.ReplaceAllStringFunc(string(raw), func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		if v, ok := env[sub[1]]; ok {
			return v
		}
		return sub[3]
	})
	path := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte(expanded), 0o600))
	cm, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	sub, err := cm.Sub("exporters::tencentcloudmonitor")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	c := cfg.(*Config)
	assert.Equal(t, "ap-guangzhou", c.Region)
	assert.Equal(t, "file_storage", c.QueueConfig.Get().StorageID.String())
	assert.Empty(t, c.Metrics, "the default (seed) table")
}
