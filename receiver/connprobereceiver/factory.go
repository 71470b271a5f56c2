package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// NewFactory creates the connprobe receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability))
}

// defaultBuckets of connprobe.ping.duration, in seconds: 50 µs to 2 s.
var defaultBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}

func createDefaultConfig() component.Config {
	return &Config{
		ControllerConfig:         scraperhelper.NewDefaultControllerConfig(),
		MetricsBuilderConfig:     metadata.NewDefaultMetricsBuilderConfig(),
		ConnmonitorCheckInterval: 5 * time.Second,
		PingHistogram:            explicithist.Config{Enabled: true, Buckets: append([]float64(nil), defaultBuckets...)},
		ErrorLogInterval:         time.Minute,
		Logs:                     LogsConfig{QueueSize: 4096, MaxBatch: 512},
	}
}

// receivers holds one receiver per configuration, shared by the metrics and
// logs pipelines that name it: one engine feeds both signals.
var receivers sharedcomponent.Receivers[*Config, *connprobeReceiver]

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	return receivers.CreateMetrics(c, &c.ControllerConfig, set, next, func() *connprobeReceiver { return newReceiver(c, set) })
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c := cfg.(*Config)
	return receivers.CreateLogs(c, next, func() *connprobeReceiver { return newReceiver(c, set) })
}
