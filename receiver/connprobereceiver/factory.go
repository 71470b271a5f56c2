package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// NewFactory creates the connprobe receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability))
}

// defaultBuckets of connprobe.ping.duration, in seconds: 50 µs to 2 s.
var defaultBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2}

func createDefaultConfig() component.Config {
	return &Config{
		ControllerConfig:         scraperhelper.NewDefaultControllerConfig(),
		MetricsBuilderConfig:     metadata.NewDefaultMetricsBuilderConfig(),
		ConnmonitorCheckInterval: 5 * time.Second,
		PingHistogram:            HistogramConfig{Enabled: true, Buckets: append([]float64(nil), defaultBuckets...)},
		ErrorLogInterval:         time.Minute,
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	s := newScraper(c, set)
	sc, err := scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	if err != nil {
		return nil, err
	}
	return scraperhelper.NewMetricsController(&c.ControllerConfig, set, next, scraperhelper.AddMetricsScraper(metadata.Type, sc))
}
