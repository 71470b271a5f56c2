package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter/internal/hostaddr"
)

// flushTick is how often minutes that ended are queued when no data arrives.
const flushTick = time.Second

// tcmExporter aggregates incoming metrics into per-minute values and hands
// them, one PutMonitorData request each, to the exporterhelper pipeline
// (queue, retry, timeout) in inner.
type tcmExporter struct {
	cfg    *Config
	logger *zap.Logger
	agg    *aggregator
	snd    *sender
	inner  exporter.Metrics
	now    func() time.Time

	enqMu sync.Mutex // keeps flush+enqueue in chronological order
	stop  context.CancelFunc
	done  chan struct{}
}

func newExporter(cfg *Config, set exporter.Settings) *tcmExporter {
	e := &tcmExporter{
		cfg:    cfg,
		logger: set.Logger,
		agg:    newAggregator(cfg, set.Logger),
		now:    time.Now,
	}
	e.snd = &sender{pace: newPacer(cfg.RequestsPerSecond), now: func() time.Time { return e.now() }}
	return e
}

// start runs inside inner.Start, before the queue starts consuming.
func (e *tcmExporter) start(context.Context, component.Host) error {
	cred, err := resolveCredential(e.cfg)
	if err != nil {
		return err
	}
	instance, ip, err := announce(e.cfg)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.IdleConnTimeout = 30 * time.Second
	client, err := newClient(e.cfg, cred, tr)
	if err != nil {
		return err
	}
	e.snd.client, e.snd.transport, e.snd.instance, e.snd.ip = client, tr, instance, ip
	e.logger.Info("PutMonitorData exporter ready",
		zap.String("region", e.cfg.Region), zap.String("endpoint", e.cfg.Endpoint),
		zap.String("credentials", e.cfg.Credentials),
		zap.String("announce_instance", instance), zap.String("announce_ip", ip))
	return nil
}

// announce fills announce_instance / announce_ip, defaulting to the primary
// LAN address as the seed script did.
func announce(cfg *Config) (instance, ip string, err error) {
	instance, ip = cfg.AnnounceInstance, cfg.AnnounceIP
	if ip == "" && instance != "" {
		if a, perr := netip.ParseAddr(instance); perr == nil {
			ip = a.String()
		}
	}
	if instance != "" && ip != "" {
		return instance, ip, nil
	}
	a, err := hostaddr.Primary(cfg.Config)
	if err != nil {
		if instance != "" {
			return instance, "", nil // announce_ip is optional for the API
		}
		return "", "", fmt.Errorf("announce_instance: not set and the primary LAN address was not found (%w); set announce_instance", err)
	}
	if instance == "" {
		instance = a.String()
	}
	if ip == "" {
		ip = a.String()
	}
	return instance, ip, nil
}

func (e *tcmExporter) shutdownSender(context.Context) error {
	if e.snd.transport != nil {
		e.snd.transport.CloseIdleConnections()
	}
	return nil
}

// Start implements component.Component.
func (e *tcmExporter) Start(ctx context.Context, host component.Host) error {
	if err := e.inner.Start(ctx, host); err != nil {
		return err
	}
	// The context also ends an enqueue blocked on a full queue
	// (block_on_overflow), so Shutdown never waits on it.
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan struct{})
	go e.flushLoop(ctx)
	return nil
}

func (e *tcmExporter) flushLoop(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(flushTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.flush(ctx, false); err != nil {
				e.logger.Error("queueing PutMonitorData requests failed; their points are lost", zap.Error(err))
			}
		}
	}
}

// flush queues the finished minutes (all minutes with all=true).
func (e *tcmExporter) flush(ctx context.Context, all bool) error {
	e.enqMu.Lock()
	defer e.enqMu.Unlock()
	var errs []error
	for _, md := range e.agg.flush(e.now(), all) {
		if err := e.inner.ConsumeMetrics(ctx, md); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown queues what is still open and shuts the pipeline down, which
// drains the in-memory queue or leaves the persistent one in storage.
func (e *tcmExporter) Shutdown(ctx context.Context) error {
	var errs []error
	if e.stop != nil {
		e.stop()
		<-e.done
		e.stop = nil
		if err := e.flush(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("queueing the last open minutes: %w", err))
		}
	}
	errs = append(errs, e.inner.Shutdown(ctx))
	return errors.Join(errs...)
}

// Capabilities implements consumer.Metrics.
func (e *tcmExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics aggregates md and queues every minute that has ended.
func (e *tcmExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	e.agg.consume(md, e.now())
	return e.flush(ctx, false)
}
