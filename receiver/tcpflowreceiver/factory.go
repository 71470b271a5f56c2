package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// NewFactory creates the tcpflow receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithMetrics(createMetricsReceiver, metadata.MetricsStability),
		receiver.WithLogs(createLogsReceiver, metadata.LogsStability))
}

// defaultLifetimeBuckets span request/response connections (milliseconds)
// to long-lived sessions (an hour), roughly 1-2.5-5 per decade.
var defaultLifetimeBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// Defaults are safe for a busy server: a bounded table, idle flows evicted,
// series per service rather than per connection, at most 50 of them.
func createDefaultConfig() component.Config {
	return &Config{
		ControllerConfig:     scraperhelper.NewDefaultControllerConfig(),
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		ListConfig:           podattr.NewDefaultListConfig(),
		Sampling:             SamplingEveryAck,
		IdleTimeout:          5 * time.Minute,
		MaxFlows:             4096,
		Aggregation:          AggregationLocalPort,
		EphemeralPortMin:     32768,
		TopK:                 50,
		Fallback:             FallbackNone,
		LifetimeHistogram:    explicithist.Config{Enabled: true, Buckets: slices.Clone(defaultLifetimeBuckets)},
		RTTHistogram:         RTTHistogramConfig{Enabled: true},
		Logs: LogsConfig{Samples: true, FlowClose: true, RingSize: probe.DefaultSampleRingSize,
			FlushInterval: 100 * time.Millisecond, MaxBatch: 8192},
	}
}

// receivers holds one receiver per configuration, shared by the metrics and
// logs pipelines that name it: one kernel probe feeds both signals.
var receivers sharedcomponent.Receivers[*Config, *tcpflowReceiver]

func createMetricsReceiver(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	return receivers.CreateMetrics(c, &c.ControllerConfig, set, next, func() *tcpflowReceiver { return newReceiver(c, set) })
}

func createLogsReceiver(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c := cfg.(*Config)
	return receivers.CreateLogs(c, next, func() *tcpflowReceiver { return newReceiver(c, set) })
}
