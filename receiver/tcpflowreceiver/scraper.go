package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/pdatautil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

type tcpflowScraper struct {
	cfg *Config
	set receiver.Settings
	mb  *metadata.MetricsBuilder
	// resource is the one of the watched namespace, or under all_netns the
	// probe's own (no netns attributes), which carries the node-wide
	// metrics; ns names each namespace's resource under all_netns.
	resource pcommon.Resource
	ns       *nsTable
	byNS     []*series
	open     func(probe.Config) (probe.Source, error)
	// openFallback opens the sockdiag source after open failed with cause.
	openFallback  func(c probe.Config, cause error) (probe.Source, error)
	fallbackCause error

	src   probe.Source // nil when disabled by the fallback
	flows []probe.Flow
	// takeClosed folds one closed-flow summary into the scrape's round
	// (made once: a method value passed each scrape would allocate). The
	// eBPF probe's reader calls it as each summary arrives, so none waits
	// in memory for the scrape; the sockdiag fallback calls it from
	// Closed. mu guards what it touches, down to lifetime.
	takeClosed func(*probe.Flow)
	mu         sync.Mutex
	agg        *aggregator
	closedN    uint64
	closedS    float64
	// events of flows that left the table, so tcp.flow.probe.events stays monotonic
	eventsGone uint64
	lifetime   *lifetimes // nil when lifetime_histogram is disabled
	startTime  pcommon.Timestamp
	// For a logs pipeline: stream samples, pass close summaries to onClosed
	// and, without a metrics pipeline, keep none for scrapes.
	stream        bool
	onClosed      func(*probe.Flow)
	discardClosed bool
	// diag is set when the sockdiag fallback is the source: metrics it
	// cannot know (probe events, closed flows, zero-window events, retransmit
	// causes, samples) are not emitted rather than emitted as zeros.
	diag bool
	// starts holds, under aggregation flow, each series' start (its flow's
	// admission), applied to its cumulative points after Emit.
	starts map[seriesAttrs]pcommon.Timestamp
}

// seriesAttrs identifies a series by its attribute values.
type seriesAttrs struct {
	ns     uint64
	la, pa string
	lp, pp int64
	nt     string
}

func newScraper(cfg *Config, set receiver.Settings) *tcpflowScraper {
	s := &tcpflowScraper{cfg: cfg, set: set, open: func(c probe.Config) (probe.Source, error) { return probe.Open(c) }}
	s.openFallback = func(c probe.Config, cause error) (probe.Source, error) {
		s.fallbackCause = cause
		d, err := probe.OpenDiag(c)
		if err != nil {
			return nil, fmt.Errorf("tcpflow: eBPF probe unavailable (%w) and the sockdiag fallback failed: %w", cause, err)
		}
		return d, nil
	}
	return s
}

func (s *tcpflowScraper) where() string {
	if s.cfg.AllNetNS {
		return "all_netns"
	}
	return s.cfg.Label()
}

// resourceOf is the resource of a namespace's flows and events: the one
// resource, or under all_netns the namespace's.
func (s *tcpflowScraper) resourceOf(netnsInode uint64) pcommon.Resource {
	if s.ns == nil {
		return s.resource
	}
	return s.ns.resource(netnsInode)
}

// probeConfig resolves the namespace(s) to watch and sets up their
// resources. err is fatal; probeErr (the namespace's cookie is unknown)
// is a reason the probe cannot be used, as a failed load is.
func (s *tcpflowScraper) probeConfig() (pc probe.Config, probeErr, err error) {
	if s.cfg.AllNetNS {
		l, err := podattr.NewLister(s.cfg.RootPath, s.cfg.MaxNetNS, s.set.Logger)
		if err != nil {
			return pc, nil, err
		}
		s.ns = newNSTable(l, s.cfg.ResourceAttributes)
		if err := s.ns.walk(); err != nil {
			return pc, nil, fmt.Errorf("all_netns: %w", err)
		}
		s.resource = s.mb.NewResourceBuilder().Emit()
		pc = s.cfg.probeConfig(0, "")
		pc.Namespaces = s.ns.namespaces
		return pc, nil, nil
	}
	ns, err := s.cfg.Config.Open()
	if err != nil {
		return pc, nil, err
	}
	ns.Close() // the probe keeps a thread of its own there
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(ns.Label())
	rb.SetNetnsInode(int64(ns.Inode()))
	s.resource = rb.Emit()
	cookie, probeErr := probe.NetnsCookie(ns.EnterPath())
	return s.cfg.probeConfig(cookie, ns.EnterPath()), probeErr, nil
}

func (s *tcpflowScraper) start(_ context.Context, _ component.Host) error {
	s.startTime = pcommon.NewTimestampFromTime(time.Now())
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.set, metadata.WithStartTime(s.startTime))
	s.agg = newAggregator(s.cfg)
	s.lifetime = newLifetimes(s.cfg, s.startTime)
	s.takeClosed = func(f *probe.Flow) {
		s.mu.Lock()
		s.closedFlow(f)
		s.mu.Unlock()
	}
	pc, err, fatal := s.probeConfig()
	if fatal != nil {
		return fatal
	}
	diagCfg := pc
	// The probe keeps no closed flows for Closed: each is folded (with a
	// metrics pipeline) and logged (with flow-close logs) as it arrives.
	pc.Stream, pc.OnClosed, pc.DiscardClosed = s.stream, s.arrived, true
	if err == nil {
		s.src, err = s.open(pc)
	}
	if err != nil {
		// open returns a typed nil on failure; a non-nil interface holding
		// it would pass the nil checks in scrape and shutdown.
		s.src = nil
	}
	if err != nil && s.cfg.Fallback == FallbackSockdiag {
		s.src, err = s.openFallback(diagCfg, err)
		if err != nil {
			return err
		}
		s.diag = true
		s.set.Logger.Warn("tcpflow receiver: eBPF probe unavailable, polling tcp_info through sock_diag instead (fallback: sockdiag); no retransmit causes, close summaries or RTT samples",
			zap.String("netns", s.where()), zap.Error(s.fallbackCause))
		return nil
	}
	if err != nil {
		if s.cfg.Fallback == FallbackDisable {
			s.set.Logger.Warn("tcpflow receiver disabled (fallback: disable): eBPF probe unavailable; no flow metrics will be reported",
				zap.String("netns", s.where()), zap.Error(err))
			return nil
		}
		return fmt.Errorf("tcpflow eBPF probe: %w (set fallback: disable to run without it)", err)
	}
	var iter string
	if p, ok := s.src.(interface{ Iterator() string }); ok {
		iter = p.Iterator()
	}
	s.set.Logger.Info("tcpflow receiver: eBPF probe attached",
		zap.String("netns", s.where()), zap.String("flow_iterator", iter), zap.String("sampling", s.cfg.Sampling),
		zap.Int("max_flows", s.cfg.MaxFlows), zap.String("aggregation", s.cfg.Aggregation))
	if !s.src.RTOKnown() {
		var cause error
		if p, ok := s.src.(interface{ HZError() error }); ok {
			cause = p.HZError()
		}
		s.set.Logger.Warn("tcpflow receiver: kernel HZ could not be measured, tcp.flow.rto not reported", zap.Error(cause))
	}
	return nil
}

func (s *tcpflowScraper) shutdown(context.Context) error {
	if s.src == nil {
		return nil
	}
	err := s.src.Close()
	s.src = nil
	return err
}

func (s *tcpflowScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	if s.src == nil {
		return pmetric.NewMetrics(), nil
	}
	now := pcommon.NewTimestampFromTime(time.Now())
	var errs scrapererror.ScrapeErrors

	clear(s.starts)
	// Every flow closed so far is folded in once Closed returns.
	if err := s.src.Closed(ctx, s.takeClosed); err != nil {
		errs.AddPartial(1, fmt.Errorf("reading closed flows: %w", err))
	}
	// Closed flows arriving from here on wait (in the kernel's ring
	// buffer) and go to the next round, which begins when this one is
	// exported: one that the walk below still sees live is then a flow
	// the aggregator knows, as when its summary came before the scrape.
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.agg.begin()
	s.flows = s.flows[:0]
	if err := s.src.Flows(func(f *probe.Flow) { s.flows = append(s.flows, *f) }); err != nil {
		errs.AddPartial(1, err)
	}
	events := s.eventsGone
	for i := range s.flows {
		if s.flows[i].Kind == probe.KindLive {
			events += s.flows[i].Events
		} else {
			s.eventsGone += s.flows[i].Events
			events += s.flows[i].Events
		}
	}
	if !s.diag {
		s.mb.RecordTCPFlowProbeEventsDataPoint(now, int64(events))
	}
	list := s.agg.finish(s.flows)
	var out pdatautil.Joined
	if s.ns == nil {
		for _, sr := range list {
			s.record(now, sr)
			if out.Due() {
				out.Add(s.mb.Emit(metadata.WithResource(s.resource)))
			}
		}
	}
	if !s.diag {
		s.mb.RecordTCPFlowClosedDataPoint(now, int64(s.closedN))
		s.mb.RecordTCPFlowClosedLifetimeDataPoint(now, s.closedS)
	}

	c, err := s.src.Counters()
	if err != nil {
		errs.AddPartial(1, err)
	} else {
		s.mb.RecordTCPFlowActiveDataPoint(now, int64(c.Tracked))
		s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.TableFull), metadata.AttributeReasonTableFull)
		if !s.diag {
			s.mb.RecordTCPFlowEvictedDataPoint(now, int64(c.Evicted))
			s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.RingFull), metadata.AttributeReasonRingFull)
			s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.PendingLost), metadata.AttributeReasonPendingFull)
			s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.StorageFail), metadata.AttributeReasonStorageFailure)
		}
		if s.stream {
			s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.SampleRate), metadata.AttributeReasonSampleRateLimit)
			s.mb.RecordTCPFlowProbeDroppedDataPoint(now, int64(c.SampleRingFull), metadata.AttributeReasonSampleRingFull)
		}
	}
	// Under all_netns this resource holds the node-wide metrics only.
	md := out.Take(s.mb.Emit(metadata.WithResource(s.resource)))
	s.applyStarts(md, 0)
	if s.lifetime != nil && !s.diag {
		s.lifetime.appendTo(md, s.resource, s.set.BuildInfo.Version, now)
	}
	if rs, ok := s.src.(rttSource); ok && s.cfg.RTTHistogram.Enabled {
		h, err := rs.RTTHistogram()
		if err != nil {
			errs.AddPartial(1, err)
		} else {
			appendRTT(md, s.resource, s.set.BuildInfo.Version, s.startTime, now, &h)
		}
	}
	if s.ns != nil {
		s.recordByNamespace(md, now, list)
		if err := s.ns.err(); err != nil {
			errs.AddPartial(0, fmt.Errorf("all_netns: %w", err))
		}
	}
	dropEmptyAttributes(md)
	return md, errs.Combine()
}

// arrived takes a closed-flow summary as the probe's reader receives it.
func (s *tcpflowScraper) arrived(f *probe.Flow) {
	if s.onClosed != nil {
		s.onClosed(f)
	}
	if !s.discardClosed { // a metrics pipeline scrapes
		s.takeClosed(f)
	}
}

// closedFlow takes one closed-flow summary as the source hands it over: it
// is counted, aggregated and observed in one pass, never copied. s.mu is
// held.
func (s *tcpflowScraper) closedFlow(f *probe.Flow) {
	s.closedN++
	s.closedS += f.Duration.Seconds()
	s.eventsGone += f.Events
	s.agg.final(f)
	if s.lifetime != nil && !s.diag {
		s.lifetime.observe(s.agg, f)
	}
}

// recordByNamespace appends the series of each namespace to md under the
// namespace's resource (all_netns).
func (s *tcpflowScraper) recordByNamespace(md pmetric.Metrics, now pcommon.Timestamp, list []*series) {
	s.byNS = append(s.byNS[:0], list...)
	slices.SortStableFunc(s.byNS, func(a, b *series) int { return cmp.Compare(a.key.netns, b.key.netns) })
	var out pdatautil.Joined
	for i, sr := range s.byNS {
		res := s.ns.resource(sr.key.netns)
		s.record(now, sr)
		if i+1 < len(s.byNS) && s.byNS[i+1].key.netns == sr.key.netns {
			if out.Due() {
				out.Add(s.mb.Emit(metadata.WithResource(res)))
			}
			continue
		}
		nsmd := out.Take(s.mb.Emit(metadata.WithResource(res)))
		s.applyStarts(nsmd, sr.key.netns)
		nsmd.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
}

var retransTypes = [probe.NumRetransTypes]metadata.AttributeRetransmitType{
	probe.RetransTimeout:       metadata.AttributeRetransmitTypeTimeout,
	probe.RetransFast:          metadata.AttributeRetransmitTypeFast,
	probe.RetransTailLossProbe: metadata.AttributeRetransmitTypeTailLossProbe,
	probe.RetransSYN:           metadata.AttributeRetransmitTypeSyn,
	probe.RetransSYNACK:        metadata.AttributeRetransmitTypeSynack,
}

func (s *tcpflowScraper) record(now pcommon.Timestamp, sr *series) {
	k := sr.key
	la := ""
	if k.local.IsValid() {
		la = k.local.String()
	}
	lp, pa, pp := int64(k.localPort), peerString(k.peer), int64(k.peerPort)
	nt := metadata.AttributeNetworkTypeIpv4
	if k.ipv6 {
		nt = metadata.AttributeNetworkTypeIpv6
	}
	if s.cfg.Aggregation == AggregationFlow && !sr.start.IsZero() {
		if s.starts == nil {
			s.starts = map[seriesAttrs]pcommon.Timestamp{}
		}
		s.starts[seriesAttrs{ns: k.netns, la: la, lp: lp, pa: pa, pp: pp, nt: nt.String()}] = pcommon.NewTimestampFromTime(sr.start)
	}
	mb := s.mb
	if n := sr.flows; n > 0 {
		fn := float64(n)
		mb.RecordTCPFlowSrttDataPoint(now, sr.srtt/fn, la, lp, pa, pp, nt)
		mb.RecordTCPFlowRttvarDataPoint(now, sr.rttvar/fn, la, lp, pa, pp, nt)
		if s.src.RTOKnown() {
			mb.RecordTCPFlowRtoDataPoint(now, sr.rto/fn, la, lp, pa, pp, nt)
		}
		if sr.hasRTT {
			mb.RecordTCPFlowSrttMinDataPoint(now, sr.srttMin, la, lp, pa, pp, nt)
			mb.RecordTCPFlowSrttMaxDataPoint(now, sr.srttMax, la, lp, pa, pp, nt)
		}
		mb.RecordTCPFlowCwndDataPoint(now, int64(sr.cwnd/uint64(n)), la, lp, pa, pp, nt)
		mb.RecordTCPFlowSsthreshDataPoint(now, int64(sr.ssthresh/uint64(n)), la, lp, pa, pp, nt)
		mb.RecordTCPFlowSendWindowDataPoint(now, int64(sr.sndWnd/uint64(n)), la, lp, pa, pp, nt)
		mb.RecordTCPFlowInFlightDataPoint(now, int64(sr.inFlight), la, lp, pa, pp, nt)
		mb.RecordTCPFlowLostDataPoint(now, int64(sr.lost), la, lp, pa, pp, nt)
		mb.RecordTCPFlowReceiveQueueDataPoint(now, int64(sr.rq), la, lp, pa, pp, nt)
		mb.RecordTCPFlowSendQueueDataPoint(now, int64(sr.sq), la, lp, pa, pp, nt)
	}
	if s.diag {
		mb.RecordTCPFlowRetransmitsDataPoint(now, int64(sr.unclassified), la, lp, pa, pp, nt, metadata.AttributeRetransmitTypeUnclassified)
	} else {
		for t, v := range sr.retrans {
			mb.RecordTCPFlowRetransmitsDataPoint(now, int64(v), la, lp, pa, pp, nt, retransTypes[t])
		}
		mb.RecordTCPFlowZeroWindowDataPoint(now, int64(sr.zeroWindow), la, lp, pa, pp, nt)
		mb.RecordTCPFlowSamplesDataPoint(now, int64(sr.samples), la, lp, pa, pp, nt)
	}
	mb.RecordTCPFlowBytesDataPoint(now, int64(sr.acked), la, lp, pa, pp, nt, metadata.AttributeDirectionTransmit)
	mb.RecordTCPFlowBytesDataPoint(now, int64(sr.received), la, lp, pa, pp, nt, metadata.AttributeDirectionReceive)
	mb.RecordTCPFlowRetransmittedBytesDataPoint(now, int64(sr.retransB), la, lp, pa, pp, nt)
}

// applyStarts sets, under aggregation flow, each cumulative point's start
// time to its flow's admission instead of the receiver's start; md holds
// the series of the namespace with inode ns (0 unless all_netns).
func (s *tcpflowScraper) applyStarts(md pmetric.Metrics, ns uint64) {
	if len(s.starts) == 0 {
		return
	}
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() {
			return
		}
		a := dp.Attributes()
		k := seriesAttrs{ns: ns}
		if v, ok := a.Get("network.local.address"); ok {
			k.la = v.Str()
		}
		if v, ok := a.Get("network.local.port"); ok {
			k.lp = v.Int()
		}
		if v, ok := a.Get("network.peer.address"); ok {
			k.pa = v.Str()
		}
		if v, ok := a.Get("network.peer.port"); ok {
			k.pp = v.Int()
		}
		if v, ok := a.Get("network.type"); ok {
			k.nt = v.Str()
		}
		if ts, ok := s.starts[k]; ok {
			dp.SetStartTimestamp(ts)
		}
	})
}

// flowAttrs are the attributes an aggregation level may have reduced away;
// the generated builder always sets them, so empty ones ("" or port 0) are
// removed here.
var flowAttrs = []string{"network.local.address", "network.local.port", "network.peer.address", "network.peer.port"}

func dropEmptyAttributes(md pmetric.Metrics) {
	metricwalk.NumberPoints(md, func(_ pmetric.Metric, dp pmetric.NumberDataPoint) { dropEmpty(dp.Attributes()) })
}

func dropEmpty(attrs pcommon.Map) {
	for _, name := range flowAttrs {
		v, ok := attrs.Get(name)
		if !ok {
			continue
		}
		if (v.Type() == pcommon.ValueTypeStr && v.Str() == "") || (v.Type() == pcommon.ValueTypeInt && v.Int() == 0) {
			attrs.Remove(name)
		}
	}
}
