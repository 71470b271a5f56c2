package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/internal/pdatautil"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/connmonitor"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
)

type connScraper struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	mb     *metadata.MetricsBuilder
	eng    *engine.Engine

	// connmonitor_file watching
	fileMu    sync.Mutex
	fileData  []byte
	reloadErr string // the last failure logged by reload, not logged again
	stop      chan struct{}
	wg        sync.WaitGroup

	// cumulative histogram state per (target, address)
	hist      map[histKey]*explicithist.Hist
	startTime pcommon.Timestamp
	resource  pcommon.Resource // which namespace the probes ran in

	// set by the shared receiver when a logs pipeline exists
	events  func(engine.Event) // the engine's result hook
	dropped func() uint64      // results the logs queue dropped
}

type histKey struct {
	target string
	addr   netip.Addr
}

func newScraper(cfg *Config, set receiver.Settings) *connScraper {
	return &connScraper{cfg: cfg, set: set, logger: set.Logger, hist: map[histKey]*explicithist.Hist{}}
}

func (s *connScraper) start(_ context.Context, _ component.Host) error {
	s.startTime = pcommon.NewTimestampFromTime(time.Now())
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.set, metadata.WithStartTime(s.startTime))
	ns, err := s.cfg.Config.Open()
	if err != nil {
		return err
	}
	ns.Close() // the engine's socket factory keeps its own thread there
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(ns.Label())
	rb.SetNetnsInode(int64(ns.Inode()))
	s.resource = rb.Emit()
	targets := s.cfg.engineTargets()
	if s.cfg.ConnmonitorFile != "" {
		data, fileTargets, err := s.readConnmonitor()
		if err != nil {
			return err
		}
		s.fileData = data
		targets = append(targets, fileTargets...)
	}
	s.eng = engine.New(engine.Config{
		Netns:            ns.EnterPath(),
		Targets:          targets,
		Logger:           s.logger,
		ErrorLogInterval: s.cfg.ErrorLogInterval,
		ReceiveBuffer:    receiveBufferFor(len(targets)),
		Events:           s.events,
	})
	if err := s.eng.Start(); err != nil {
		return fmt.Errorf("connprobe: %w", err)
	}
	if s.cfg.ConnmonitorFile != "" && s.cfg.ConnmonitorCheckInterval > 0 {
		s.stop = make(chan struct{})
		s.wg.Add(1)
		go s.watch()
	}
	return nil
}

// receiveBufferFor sizes the shared ICMP sockets' receive queue so that a
// burst of replies from every target fits (about 1 KiB of kernel memory
// per queued reply).
func receiveBufferFor(targets int) int {
	return max(256<<10, min(targets*16<<10, 64<<20))
}

func (s *connScraper) readConnmonitor() ([]byte, []engine.Target, error) {
	data, err := os.ReadFile(s.cfg.ConnmonitorFile)
	if err != nil {
		return nil, nil, fmt.Errorf("connmonitor_file: %w", err)
	}
	entries, err := connmonitor.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("connmonitor_file %s: %w", s.cfg.ConnmonitorFile, err)
	}
	// A host given twice (in the file, or in the file and in targets)
	// would report two series with the same attributes.
	seen := map[string]string{}
	for i, t := range s.cfg.engineTargets() {
		seen[t.Key()] = fmt.Sprintf("targets[%d]", i)
	}
	targets := make([]engine.Target, 0, len(entries))
	var errs []error
	for _, e := range entries {
		t := fromConnmonitor(e, s.cfg.Defaults)
		k := t.Key()
		if where, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("line %d: host %s is already probed (%s)", e.Line, e.Host, where))
			continue
		}
		seen[k] = fmt.Sprintf("line %d", e.Line)
		targets = append(targets, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("connmonitor_file %s: %w", s.cfg.ConnmonitorFile, err)
	}
	return data, targets, nil
}

// watch re-reads the connmonitor file when its content changes, like
// connmonitor's SIGHUP reload. A file that does not parse is logged and
// the previous targets keep running.
func (s *connScraper) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ConnmonitorCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.reload()
		}
	}
}

func (s *connScraper) reload() {
	raw, err := os.ReadFile(s.cfg.ConnmonitorFile)
	s.fileMu.Lock()
	same := err == nil && bytes.Equal(raw, s.fileData)
	s.fileMu.Unlock()
	if same {
		return
	}
	data, fileTargets, err := s.readConnmonitor()
	if err != nil {
		// Logged once per change: the content that failed becomes the one
		// compared with, and an unreadable file logs once per distinct error.
		if err.Error() != s.reloadErr {
			s.logger.Error("connmonitor_file changed but cannot be used; keeping the previous targets", zap.Error(err))
			s.reloadErr = err.Error()
		}
		s.fileMu.Lock()
		s.fileData = raw
		s.fileMu.Unlock()
		return
	}
	s.reloadErr = ""
	s.fileMu.Lock()
	s.fileData = data
	s.fileMu.Unlock()
	s.eng.SetTargets(append(s.cfg.engineTargets(), fileTargets...))
	s.logger.Info("connmonitor_file reloaded", zap.String("path", s.cfg.ConnmonitorFile), zap.Int("targets", len(fileTargets)))
}

func (s *connScraper) shutdown(_ context.Context) error {
	if s.stop != nil {
		close(s.stop)
		s.wg.Wait()
		s.stop = nil
	}
	if s.eng != nil {
		s.eng.Shutdown()
	}
	return nil
}

func netType(a netip.Addr) metadata.AttributeNetworkType {
	if a.Is4() {
		return metadata.AttributeNetworkTypeIpv4
	}
	return metadata.AttributeNetworkTypeIpv6
}

var portStates = []struct {
	st   tcpconn.State
	attr metadata.AttributePortState
}{
	{tcpconn.Open, metadata.AttributePortStateOpen},
	{tcpconn.Closed, metadata.AttributePortStateClosed},
	{tcpconn.Filtered, metadata.AttributePortStateFiltered},
}

func (s *connScraper) scrape(_ context.Context) (pmetric.Metrics, error) {
	if s.eng == nil {
		return pmetric.NewMetrics(), errNoEngine
	}
	return s.record(pcommon.NewTimestampFromTime(time.Now()), s.eng.Collect()), nil
}

// record turns one window's snapshots into metrics, emitting the builder
// every pdatautil.EmitEvery targets.
func (s *connScraper) record(now pcommon.Timestamp, snaps []engine.TargetSnapshot) pmetric.Metrics {
	var out pdatautil.Joined
	for _, t := range snaps {
		if t.DNS != nil && t.DNS.Err == nil {
			s.mb.RecordConnprobeDNSDurationDataPoint(now, t.DNS.Duration.Seconds(), t.Name)
		}
		for typ, n := range t.Errors {
			s.mb.RecordConnprobeErrorsDataPoint(now, int64(n), t.Name, metadata.MapAttributeErrorType[typ])
		}
		for _, a := range t.Addrs {
			s.recordAddr(now, t.Name, a)
		}
		if out.Due() {
			out.Add(s.mb.Emit(metadata.WithResource(s.resource)))
		}
	}
	if s.dropped != nil {
		s.mb.RecordConnprobeLogRecordsDroppedDataPoint(now, int64(s.dropped()))
	}
	md := out.Take(s.mb.Emit(metadata.WithResource(s.resource)))
	if s.cfg.PingHistogram.Enabled {
		s.appendHistograms(md, now, snaps)
	}
	return md
}

func (s *connScraper) recordAddr(now pcommon.Timestamp, name string, a engine.AddrSnapshot) {
	addr, nt := a.Addr.String(), netType(a.Addr)
	if a.PacketsSent > 0 {
		s.mb.RecordConnprobePingPacketsDataPoint(now, int64(a.PacketsSent), name, addr, nt, metadata.AttributeDirectionTransmit)
		s.mb.RecordConnprobePingPacketsDataPoint(now, int64(a.PacketsReceived), name, addr, nt, metadata.AttributeDirectionReceive)
	}
	if w := a.Ping; w != nil {
		s.mb.RecordConnprobePingLossDataPoint(now, 1-float64(w.Received)/float64(w.Sent), name, addr, nt)
		if st := &w.RTT; st.N > 0 {
			s.mb.RecordConnprobePingRttMinDataPoint(now, st.Min, name, addr, nt)
			s.mb.RecordConnprobePingRttAvgDataPoint(now, st.Mean, name, addr, nt)
			s.mb.RecordConnprobePingRttMaxDataPoint(now, st.Max, name, addr, nt)
			s.mb.RecordConnprobePingRttStddevDataPoint(now, st.Stddev(), name, addr, nt)
		}
	}
	if tr := a.Trace; tr != nil {
		s.mb.RecordConnprobeTraceHopsDataPoint(now, int64(len(tr.Path)), name, addr, nt)
		s.mb.RecordConnprobeTracePathDataPoint(now, 1, name, addr, nt, fmt.Sprintf("%016x", tr.PathID))
		s.mb.RecordConnprobeTraceRouteChangesDataPoint(now, int64(tr.RouteChanges), name, addr, nt)
		for _, h := range tr.Hops {
			if len(h.RTTs) == 0 {
				continue
			}
			var st engine.RTTStats
			for _, r := range h.RTTs {
				st.Add(r)
			}
			s.mb.RecordConnprobeTraceHopRttDataPoint(now, st.Mean, name, addr, nt, int64(h.TTL), h.Addr.String())
		}
		for _, r := range []metadata.AttributeHopResult{metadata.AttributeHopResultAnswered, metadata.AttributeHopResultRateLimited, metadata.AttributeHopResultNoAnswer} {
			s.mb.RecordConnprobeTraceProbesDataPoint(now, int64(tr.HopProbes[r.String()]), name, addr, nt, r)
		}
	}
	for _, p := range a.Ports {
		if p.Err != nil {
			continue
		}
		if p.State == tcpconn.Open || p.State == tcpconn.Closed {
			s.mb.RecordConnprobeTCPConnectDurationDataPoint(now, p.Duration.Seconds(), name, addr, nt, int64(p.Port))
		}
		for _, ps := range portStates {
			v := int64(0)
			if p.State == ps.st {
				v = 1
			}
			s.mb.RecordConnprobeTCPPortStateDataPoint(now, v, name, addr, nt, int64(p.Port), ps.attr)
		}
	}
}

// appendHistograms adds connprobe.ping.duration (cumulative explicit
// bucket histogram of the RTT samples: all of them, unless a window held
// more than engine.MaxWindowSamples for one address). mdatagen v0.159.0 cannot declare
// histogram metrics, so it is built here; it is documented in README.md.
func (s *connScraper) appendHistograms(md pmetric.Metrics, now pcommon.Timestamp, snaps []engine.TargetSnapshot) {
	bounds := s.cfg.PingHistogram.Buckets
	live := map[histKey]bool{}
	for _, t := range snaps {
		for _, a := range t.Addrs {
			k := histKey{t.Name, a.Addr}
			live[k] = true
			h := s.hist[k]
			if h == nil {
				h = explicithist.New(bounds)
				s.hist[k] = h
			}
			if a.Ping == nil {
				continue
			}
			for _, r := range a.Ping.RTTs {
				h.Observe(bounds, r.Seconds())
			}
		}
	}
	for k := range s.hist {
		if !live[k] {
			delete(s.hist, k)
		}
	}
	if len(s.hist) == 0 {
		return
	}
	ms := pdatautil.Metrics(md, s.resource, pdatautil.Scope{Name: metadata.ScopeName, Version: s.set.BuildInfo.Version})
	hist := pdatautil.AppendHistogram(ms, "connprobe.ping.duration",
		"Echo round-trip times (every reply), as a cumulative histogram.", "s")
	keys := make([]histKey, 0, len(s.hist))
	for k := range s.hist {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b histKey) int {
		if a.target != b.target {
			if a.target < b.target {
				return -1
			}
			return 1
		}
		return a.addr.Compare(b.addr)
	})
	start := s.startTime
	for _, k := range keys {
		dp := hist.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.Attributes().PutStr("connprobe.target", k.target)
		dp.Attributes().PutStr("server.address", k.addr.String())
		dp.Attributes().PutStr("network.type", netType(k.addr).String())
		s.hist[k].WriteTo(dp, bounds)
	}
}

var errNoEngine = errors.New("connprobe: scrape before start")
