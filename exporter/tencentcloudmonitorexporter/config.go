package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

import (
	"github.com/netstack-otel/netstack/internal/netnsutil"

	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Credential sources accepted by `credentials`.
const (
	// CredentialsAuto uses secret_id/secret_key when set, otherwise the
	// environment (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY), otherwise
	// the SDK's profile file (~/.tencentcloud/credentials).
	CredentialsAuto = "auto"
	// CredentialsConfig uses secret_id/secret_key (and token) only.
	CredentialsConfig = "config"
	// CredentialsEnv uses TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY only.
	CredentialsEnv = "env"
	// CredentialsProfile uses the SDK's profile file only.
	CredentialsProfile = "profile"
	// CredentialsCVMRole asks the CVM metadata service for the instance role.
	CredentialsCVMRole = "cvm_role"
)

// Histogram statistics a mapping can send.
const (
	StatisticCount = "count"
	StatisticSum   = "sum"
)

// DefaultEndpoint is Tencent Cloud's public Monitor API endpoint.
const DefaultEndpoint = "https://monitor.tencentcloudapi.com"

// maxAnnounceAge is how old AnnounceTimestamp may be for PutMonitorData.
const maxAnnounceAge = 300 * time.Second

// Config configures the tencentcloudmonitor exporter.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	BackOffConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// Region is the Tencent Cloud region, e.g. ap-guangzhou (required).
	Region string `mapstructure:"region"`
	// Endpoint is the API URL; http:// is accepted for private endpoints and tests.
	Endpoint string `mapstructure:"endpoint"`
	// Credentials selects where SecretId/SecretKey come from: auto, config,
	// env, profile or cvm_role.
	Credentials string `mapstructure:"credentials"`
	// CVMRole names the CAM role for credentials: cvm_role; empty asks the
	// metadata service for the instance's role.
	CVMRole   string              `mapstructure:"cvm_role"`
	SecretID  configopaque.String `mapstructure:"secret_id"`
	SecretKey configopaque.String `mapstructure:"secret_key"`
	Token     configopaque.String `mapstructure:"token"`

	// AnnounceInstance and AnnounceIP default to the host's primary LAN
	// address (the address of the default route's interface).
	AnnounceInstance string `mapstructure:"announce_instance"`
	AnnounceIP       string `mapstructure:"announce_ip"`

	// Metrics maps OTLP metrics to Tencent metric names. Empty means the
	// default table (the eleven counters of the seed script plus TcpCurrEstab).
	Metrics []MetricMapping `mapstructure:"metrics"`
	// SendUnmapped sends metrics missing from the table under a sanitized name.
	SendUnmapped bool `mapstructure:"send_unmapped"`
	// FlushDelay is how long after a minute ends its aggregate is still kept
	// open for late points before it is queued.
	FlushDelay time.Duration `mapstructure:"flush_delay"`
	// RequestsPerSecond paces PutMonitorData calls (the API allows 50/s); 0 disables pacing.
	RequestsPerSecond float64 `mapstructure:"requests_per_second"`
	// netns or root_path (as in the receivers) says whose default route
	// gives the default announce_instance/announce_ip.
	netnsutil.Config `mapstructure:",squash"`

	_ struct{}
}

// MetricMapping maps one OTLP metric (optionally a subset of its data points)
// to one Tencent Cloud Monitor metric name.
type MetricMapping struct {
	// Metric is the OTLP metric name.
	Metric string `mapstructure:"metric"`
	// Attributes keeps only the data points whose attributes have these values.
	Attributes map[string]string `mapstructure:"attributes"`
	// Name is the Tencent MetricName.
	Name string `mapstructure:"name"`
	// CounterBits is 32 for counters the kernel may keep in 32 bits: a
	// decrease is then read as a wrap when that gives a plausible delta.
	CounterBits int `mapstructure:"counter_bits"`
	// Statistic selects what a histogram or summary sends: count or sum.
	Statistic string `mapstructure:"statistic"`

	_ struct{}
}

var tencentNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,127}$`)

// Validate checks the configuration; errors name the offending field.
func (c *Config) Validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("region: must be set, e.g. ap-guangzhou"))
	}
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	switch c.Credentials {
	case CredentialsAuto, CredentialsEnv, CredentialsProfile, CredentialsCVMRole:
	case CredentialsConfig:
		if c.SecretID == "" || c.SecretKey == "" {
			errs = append(errs, errors.New("secret_id, secret_key: both must be set with credentials: config"))
		}
	default:
		errs = append(errs, fmt.Errorf("credentials: %q is not one of auto, config, env, profile, cvm_role", c.Credentials))
	}
	if (c.SecretID == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("secret_id, secret_key: set both or neither"))
	}
	if c.AnnounceIP != "" {
		if _, err := netip.ParseAddr(c.AnnounceIP); err != nil {
			errs = append(errs, fmt.Errorf("announce_ip: %w", err))
		}
	}
	if c.FlushDelay < 0 || c.FlushDelay >= time.Minute {
		errs = append(errs, fmt.Errorf("flush_delay: %s must be in [0, 1m)", c.FlushDelay))
	}
	if c.RequestsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("requests_per_second: %v must not be negative", c.RequestsPerSecond))
	}
	if c.QueueConfig.HasValue() {
		q := c.QueueConfig.Get()
		if q.Batch.HasValue() {
			errs = append(errs, errors.New("sending_queue::batch: not supported; the exporter already queues one PutMonitorData request (<=30 pairs) per item, and merging items would make a retry resend points that were delivered"))
		}
	}
	seen := map[string]bool{}
	for i, m := range c.Metrics {
		if m.Metric == "" {
			errs = append(errs, fmt.Errorf("metrics[%d].metric: must be set", i))
		}
		if !tencentNameRe.MatchString(m.Name) {
			errs = append(errs, fmt.Errorf("metrics[%d].name: %q must start with a letter and hold at most 128 letters, digits or '_'", i, m.Name))
		}
		if m.CounterBits != 0 && m.CounterBits != 32 && m.CounterBits != 64 {
			errs = append(errs, fmt.Errorf("metrics[%d].counter_bits: %d must be 32 or 64", i, m.CounterBits))
		}
		switch m.Statistic {
		case "", StatisticCount, StatisticSum:
		default:
			errs = append(errs, fmt.Errorf("metrics[%d].statistic: %q must be count or sum", i, m.Statistic))
		}
		key := m.Metric + "\x00" + fmt.Sprint(m.Attributes) + "\x00" + m.Name
		if seen[key] {
			errs = append(errs, fmt.Errorf("metrics[%d]: duplicate mapping of %q to %q", i, m.Metric, m.Name))
		}
		seen[key] = true
	}
	return errors.Join(errs...)
}

// parseEndpoint checks an endpoint URL and returns it parsed.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: user info, query and fragment are not allowed", s)
	}
	return u, nil
}

// DefaultMetrics is the mapping used when `metrics` is empty: the seed
// script's eleven counters (IPv4 UDP, as /proc/net/snmp's Udp line) and
// TcpCurrEstab, from the netsnmp receiver's metrics.
func DefaultMetrics() []MetricMapping {
	ipv4 := map[string]string{"network.type": "ipv4"}
	dir := func(d string) map[string]string {
		return map[string]string{"network.type": "ipv4", "network.io.direction": d}
	}
	return []MetricMapping{
		{Metric: "system.network.tcp.active_opens", Name: "TcpActiveOpens", CounterBits: 32},
		{Metric: "system.network.tcp.passive_opens", Name: "TcpPassiveOpens", CounterBits: 32},
		{Metric: "system.network.tcp.attempt_fails", Name: "TcpAttemptFails", CounterBits: 32},
		{Metric: "system.network.tcp.established_resets", Name: "TcpEstabResets", CounterBits: 32},
		{Metric: "system.network.tcp.retransmitted_segments", Name: "TcpRetransSegs", CounterBits: 32},
		{Metric: "system.network.tcp.listen.overflows", Name: "TcpExtListenOverflows", CounterBits: 32},
		{Metric: "system.network.udp.datagrams", Attributes: dir("receive"), Name: "UdpInDatagrams", CounterBits: 32},
		{Metric: "system.network.udp.datagrams", Attributes: dir("transmit"), Name: "UdpOutDatagrams", CounterBits: 32},
		{Metric: "system.network.udp.in_errors", Attributes: ipv4, Name: "UdpInErrors", CounterBits: 32},
		{Metric: "system.network.udp.no_ports", Attributes: ipv4, Name: "UdpNoPorts", CounterBits: 32},
		{Metric: "system.network.udp.send_buffer_errors", Attributes: ipv4, Name: "UdpSndbufErrors", CounterBits: 32},
		{Metric: "system.network.tcp.current_established", Name: "TcpCurrEstab"},
	}
}
