package sharedcomponent

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"
)

// Receiver is a receiver that one configuration shares between a metrics
// pipeline (a scrape controller around Scrape) and a logs pipeline. Its
// Start and Shutdown run the controller it was given, if any: the
// controller's scraper has no start or shutdown of its own.
type Receiver interface {
	component.Component
	Scrape(context.Context) (pmetric.Metrics, error)
	SetMetrics(receiver.Metrics)
	SetLogs(consumer.Logs)
}

// Receivers holds the shared receivers of one component type, by key (the
// component's *Config); its methods are the factory's create functions.
type Receivers[K comparable, R Receiver] struct{ m Map[K, R] }

func (rs *Receivers[K, R]) load(key K, create func() R) (*Component[R], error) {
	return rs.m.LoadOrStore(key, func() (R, error) { return create(), nil })
}

// CreateMetrics returns key's receiver (created by create the first time)
// with a scrape controller (cc) around its Scrape feeding next.
func (rs *Receivers[K, R]) CreateMetrics(key K, cc *scraperhelper.ControllerConfig, set receiver.Settings, next consumer.Metrics, create func() R) (receiver.Metrics, error) {
	r, err := rs.load(key, create)
	if err != nil {
		return nil, err
	}
	sc, err := scraper.NewMetrics(r.Unwrap.Scrape)
	if err != nil {
		return nil, err
	}
	ctrl, err := scraperhelper.NewMetricsController(cc, set, next, scraperhelper.AddMetricsScraper(set.ID.Type(), sc))
	if err != nil {
		return nil, err
	}
	r.Unwrap.SetMetrics(ctrl)
	return r, nil
}

// CreateLogs returns key's receiver (created by create the first time)
// sending its records to next.
func (rs *Receivers[K, R]) CreateLogs(key K, next consumer.Logs, create func() R) (receiver.Logs, error) {
	r, err := rs.load(key, create)
	if err != nil {
		return nil, err
	}
	r.Unwrap.SetLogs(next)
	return r, nil
}

// Pipelines is what a shared receiver is handed: embedded in one, it gives
// the SetMetrics and SetLogs of Receiver.
type Pipelines struct {
	Metrics receiver.Metrics // the scrape controller; nil without a metrics pipeline
	Logs    consumer.Logs    // nil without a logs pipeline
}

// SetMetrics is Receiver's.
func (p *Pipelines) SetMetrics(m receiver.Metrics) { p.Metrics = m }

// SetLogs is Receiver's.
func (p *Pipelines) SetLogs(l consumer.Logs) { p.Logs = l }
