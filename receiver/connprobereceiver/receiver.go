package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"context"
	"errors"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
)

// connprobeReceiver is one connprobe component, shared by the metrics and
// logs pipelines that name it: one engine probes, the scrape controller
// (with a metrics pipeline) reads its windows, and each finished result
// goes to the logs pipeline (with one) as it completes. Probes are sent
// once and each burst is counted once in each signal.
type connprobeReceiver struct {
	cfg *Config
	set receiver.Settings
	s   *connScraper
	sharedcomponent.Pipelines
	events *eventLogs
}

func newReceiver(cfg *Config, set receiver.Settings) *connprobeReceiver {
	return &connprobeReceiver{cfg: cfg, set: set, s: newScraper(cfg, set)}
}

// Scrape is sharedcomponent.Receiver's (with Pipelines' SetMetrics, SetLogs).
func (r *connprobeReceiver) Scrape(ctx context.Context) (pmetric.Metrics, error) {
	return r.s.scrape(ctx)
}

func (r *connprobeReceiver) Start(ctx context.Context, host component.Host) error {
	if r.Logs != nil {
		r.events = newEventLogs(r.cfg.Logs, r.set, r.Logs)
		r.s.events = r.events.enqueue
		r.s.dropped = r.events.dropped.Load
	}
	if err := r.s.start(ctx, host); err != nil {
		return err
	}
	if r.events != nil {
		r.events.run(r.s.resource)
	}
	if r.Metrics != nil {
		return r.Metrics.Start(ctx, host)
	}
	return nil
}

// Shutdown stops the scrapes, then the engine (bursts in flight finish
// and are queued), then sends what is queued.
func (r *connprobeReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.Metrics != nil {
		errs = append(errs, r.Metrics.Shutdown(ctx))
	}
	errs = append(errs, r.s.shutdown(ctx))
	if r.events != nil {
		r.events.close()
	}
	return errors.Join(errs...)
}
