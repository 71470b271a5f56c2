package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"context"
	"errors"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// sampleSource is what the logs side needs from the probe (a seam for tests).
type sampleSource interface {
	ReadSamples(interval time.Duration, fn func(*probe.Sample), flush func()) error
}

// tcpflowReceiver is one tcpflow component, shared by the metrics and logs
// pipelines that name it: it opens the probe once (through the scraper),
// runs the scrape controller when a metrics pipeline exists and streams
// samples and close summaries when a logs pipeline exists.
type tcpflowReceiver struct {
	cfg *Config
	set receiver.Settings
	s   *tcpflowScraper
	sharedcomponent.Pipelines

	events *eventLogs
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings) *tcpflowReceiver {
	return &tcpflowReceiver{cfg: cfg, set: set, s: newScraper(cfg, set)}
}

// Scrape is sharedcomponent.Receiver's (with Pipelines' SetMetrics, SetLogs).
func (r *tcpflowReceiver) Scrape(ctx context.Context) (pmetric.Metrics, error) {
	return r.s.scrape(ctx)
}

func (r *tcpflowReceiver) Start(ctx context.Context, host component.Host) error {
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if r.Logs != nil {
		// The scraper's resources are set up before the probe (and its
		// close reader) starts.
		r.events = newEventLogs(r.cfg, r.set, r.Logs, r.s.resourceOf)
		r.s.stream = r.cfg.Logs.Samples
		if r.cfg.Logs.FlowClose {
			r.s.onClosed = func(f *probe.Flow) { r.events.flowClosed(runCtx, f) }
		}
	}
	r.s.discardClosed = r.Metrics == nil
	if err := r.s.start(ctx, host); err != nil {
		return err
	}
	if r.Metrics != nil {
		if err := r.Metrics.Start(ctx, host); err != nil {
			return err
		}
	}
	if r.Logs == nil || !r.cfg.Logs.Samples || r.s.src == nil {
		return nil
	}
	src, ok := r.s.src.(sampleSource)
	if !ok {
		r.set.Logger.Warn("tcpflow receiver: no tcp.probe.sample stream without the eBPF probe (fallback: sockdiag)")
		return nil
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.events.stream(runCtx, src); err != nil {
			r.set.Logger.Error("tcpflow receiver: sample stream stopped", zap.Error(err))
		}
	}()
	return nil
}

// Shutdown stops the scrapes, closes the probe (which ends the sample
// stream and the close-summary reader) and waits for the stream to end.
func (r *tcpflowReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.Metrics != nil {
		errs = append(errs, r.Metrics.Shutdown(ctx))
	}
	errs = append(errs, r.s.shutdown(ctx))
	r.wg.Wait()
	if r.cancel != nil {
		r.cancel()
	}
	return errors.Join(errs...)
}
