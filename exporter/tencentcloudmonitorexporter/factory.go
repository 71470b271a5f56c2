package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter/internal/metadata"
)

// NewFactory returns the factory of the tencentcloudmonitor exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	q := exporterhelper.NewDefaultQueueConfig()
	// One consumer keeps each metric's points in chronological order, as
	// PutMonitorData requires; the batcher stays off (see Validate).
	q.NumConsumers = 1
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	return &Config{
		TimeoutConfig:     exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig:       configoptional.Some(q),
		BackOffConfig:     configretry.NewDefaultBackOffConfig(),
		Endpoint:          DefaultEndpoint,
		Credentials:       CredentialsAuto,
		FlushDelay:        5 * time.Second,
		RequestsPerSecond: 40,
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e := newExporter(c, set)
	inner, err := exporterhelper.NewMetrics(ctx, set, cfg, e.snd.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdownSender),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.BackOffConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
	if err != nil {
		return nil, err
	}
	e.inner = inner
	return e, nil
}
