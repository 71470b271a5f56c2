package sockstatereceiver

import (
	"github.com/netstack-otel/netstack/internal/podattr"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// counting is an opened counting method: what kcount.Counting provides
// (a seam for tests).
type counting interface {
	Method() Method
	// Refresh is called once at the start of each scrape (the events
	// method reads its programs' health there, once for every namespace).
	Refresh() error
	Bind(kcount.Namespace) (kcount.Counter, error)
	Close() error
}

type sockScraper struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	// countLog is given to the counting method: with all_netns namespaces
	// are bound as they appear, so each distinct message is logged at most
	// once an hour.
	countLog *zap.Logger
	mb       *metadata.MetricsBuilder

	counting counting // opened at start: its BPF programs serve every namespace
	method   Method   // counting's
	main     target   // the namespace read, unless all_netns
	// bound are the namespaces' counters, kept between scrapes (the events
	// method keeps a namespace's base there); under all_netns those of
	// namespaces no longer listed are closed after each scrape.
	bound  map[targetKey]kcount.Counter
	tally  *kcount.Tally
	parser procnet.Parser

	// seams for tests
	open        func(m Method) (counting, error)
	listTargets func(errs *scrapererror.ScrapeErrors) []target // all_netns
	lister      *podattr.Lister                                // all_netns: made at start
	pageSize    int64

	warnedListeners bool
}

func newScraper(cfg *Config, set receiver.Settings) *sockScraper {
	s := &sockScraper{cfg: cfg, set: set, logger: set.Logger, pageSize: int64(os.Getpagesize())}
	s.countLog = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Hour, 1, 0)
	}))
	s.open = s.openMethod
	s.listTargets = s.allTargets
	return s
}

func (s *sockScraper) openMethod(m Method) (counting, error) {
	c, err := kcount.Open(m, kcount.Options{Ports: s.cfg.Ports, ResyncInterval: s.cfg.ResyncInterval, Logger: s.countLog})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *sockScraper) start(_ context.Context, _ component.Host) error {
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.set)
	s.tally = kcount.NewTally(s.cfg.Ports)
	s.bound = map[targetKey]kcount.Counter{}
	tg, err := s.mainTarget()
	if err != nil {
		return err
	}
	if s.cfg.AllNetNS {
		if s.lister, err = podattr.NewLister(s.cfg.RootPath, s.cfg.MaxNetNS, s.logger); err != nil {
			return err
		}
	}
	if err := s.resolve(tg); err != nil {
		return err
	}
	s.main = tg
	return nil
}

// resolve opens the configured method, or for auto the best one that
// works, binds it to the main namespace (which checks that it works there)
// and logs the choice.
func (s *sockScraper) resolve(tg target) error {
	try := func(m Method) error {
		cn, err := s.open(m)
		if err != nil {
			return err
		}
		c, err := cn.Bind(tg.ns)
		if err != nil {
			cn.Close()
			return err
		}
		s.counting, s.method, s.bound[tg.key()] = cn, cn.Method(), c
		return nil
	}
	if s.cfg.Method != MethodAuto {
		if err := try(s.cfg.Method); err != nil {
			return fmt.Errorf("method %s: %w", s.cfg.Method, err)
		}
		s.logger.Info("sockstate counting method", zap.String("method", string(s.method)), zap.String("netns", tg.Label))
		return nil
	}
	var skipped []zap.Field
	for _, m := range kcount.Methods {
		err := try(m)
		if err == nil {
			s.logger.Info("sockstate counting method (auto)", append([]zap.Field{zap.String("method", string(m)), zap.String("netns", tg.Label)}, skipped...)...)
			if m == MethodProcfs {
				s.logger.Warn("neither BPF nor NETLINK_SOCK_DIAG is usable; counting from /proc/net tables (slower, no listen-queue limits)")
			}
			return nil
		}
		if errors.Is(err, kcount.ErrNotLinux) {
			return err
		}
		skipped = append(skipped, zap.NamedError("skipped_"+string(m), err))
	}
	return errors.New("method auto: no method works")
}

func (s *sockScraper) shutdown(context.Context) error {
	var errs []error
	for k, c := range s.bound {
		errs = append(errs, c.Close())
		delete(s.bound, k)
	}
	if s.counting != nil {
		errs = append(errs, s.counting.Close())
		s.counting = nil
	}
	return errors.Join(errs...)
}

func (s *sockScraper) scrape(context.Context) (pmetric.Metrics, error) {
	errs := &scrapererror.ScrapeErrors{}
	now := pcommon.NewTimestampFromTime(time.Now())
	if s.counting != nil {
		if err := s.counting.Refresh(); err != nil {
			errs.AddPartial(0, fmt.Errorf("reading the %s method's health: %w", s.method, err))
		}
	}
	if !s.cfg.AllNetNS {
		s.scrapeTarget(now, s.main, s.bound[s.main.key()], errs.AddPartial)
		return s.mb.Emit(), errs.Combine()
	}
	listed := map[targetKey]bool{}
	for _, tg := range s.listTargets(errs) {
		listed[tg.key()] = true
		c := s.bound[tg.key()]
		if c == nil {
			var err error
			c, err = s.counting.Bind(tg.ns)
			if errors.Is(err, os.ErrNotExist) {
				continue // the process or namespace went away since it was listed
			}
			if err != nil {
				errs.AddPartial(1, fmt.Errorf("netns %s: %w", tg.Label, err))
				continue
			}
			s.bound[tg.key()] = c
		}
		var failed []partialError
		s.scrapeTarget(now, tg, c, func(n int, err error) { failed = append(failed, partialError{n, err}) })
		if len(failed) > 0 && tg.vanished() {
			delete(listed, tg.key()) // deleted while we read it: not an error
			continue
		}
		for _, f := range failed {
			errs.AddPartial(f.n, fmt.Errorf("netns %s: %w", tg.Label, f.err))
		}
	}
	for k, c := range s.bound {
		if !listed[k] {
			c.Close()
			delete(s.bound, k)
		}
	}
	return s.mb.Emit(), errs.Combine()
}

type partialError struct {
	n   int
	err error
}

func (s *sockScraper) scrapeTarget(now pcommon.Timestamp, tg target, c kcount.Counter, addPartial func(n int, err error)) {
	mc := s.cfg.Metrics
	if mc.SystemNetworkConnectionCount.Enabled || mc.SystemNetworkConnectionLocalPortCount.Enabled {
		s.tally.Reset()
		if err := c.Count(s.tally); err != nil {
			addPartial(2, fmt.Errorf("counting sockets (%s): %w", c.Method(), err))
		} else {
			s.recordCounts(now)
		}
	}
	if d, ok := c.(kcount.Drifter); ok && mc.SockstateEventsDrift.Enabled {
		if v, ok := d.Drift(); ok {
			s.mb.RecordSockstateEventsDriftDataPoint(now, v)
		}
	}
	if mc.SystemNetworkTCPListenQueueUsage.Enabled || mc.SystemNetworkTCPListenQueueLimit.Enabled {
		if err := s.recordListeners(now, c); err != nil {
			addPartial(2, fmt.Errorf("listing listeners: %w", err))
		}
	}
	if mc.SystemNetworkSocketInUse.Enabled || mc.SystemNetworkSocketUsed.Enabled || mc.SystemNetworkSocketAllocated.Enabled ||
		mc.SystemNetworkTCPOrphanCount.Enabled || mc.SystemNetworkTCPTimeWaitCount.Enabled || mc.SystemNetworkSocketMemoryUsage.Enabled {
		if err := s.recordSockstat(now, c); err != nil {
			addPartial(1, err)
		}
	}
	rb := s.mb.NewResourceBuilder()
	tg.SetResource(rb)
	s.mb.EmitForResource(metadata.WithResource(rb.Emit()))
}

func (s *sockScraper) recordCounts(now pcommon.Timestamp) {
	for tr := range kcount.NumTransports {
		expected := statesOf(tr)
		for fi, fam := range familyAttr {
			counts := &s.tally.Conns[tr][fi]
			for st := sockdiag.Established; st < sockdiag.NewSynRecv; st++ {
				// Zero counts of the states a transport uses are emitted so
				// dashboards do not gap; an unexpected state is never dropped.
				if counts[st] == 0 && !slices.Contains(expected, st) {
					continue
				}
				s.mb.RecordSystemNetworkConnectionCountDataPoint(now, int64(counts[st]), transportAttr[tr], stateAttr[st], fam)
			}
		}
		pc := s.tally.PortsFor(tr)
		if pc == nil {
			continue
		}
		for i, port := range pc.Ports {
			for _, st := range expected {
				s.mb.RecordSystemNetworkConnectionLocalPortCountDataPoint(now, int64(pc.Counts[i][st]), transportAttr[tr], stateAttr[st], int64(port))
			}
		}
	}
}

func (s *sockScraper) recordListeners(now pcommon.Timestamp, c kcount.Counter) error {
	n := 0
	capped := false
	err := c.Listeners(func(m *sockdiag.Msg) error {
		if len(s.cfg.ListenPorts) > 0 && !slices.Contains(s.cfg.ListenPorts, m.SPort) {
			return nil
		}
		if s.cfg.MaxListeners > 0 && n >= s.cfg.MaxListeners {
			capped = true
			return nil
		}
		n++
		addr := m.SrcAddr()
		fam := familyAttr[0]
		if addr.Is6() {
			fam = familyAttr[1]
		}
		s.mb.RecordSystemNetworkTCPListenQueueUsageDataPoint(now, int64(m.RQueue), addr.String(), int64(m.SPort), fam)
		s.mb.RecordSystemNetworkTCPListenQueueLimitDataPoint(now, int64(m.WQueue), addr.String(), int64(m.SPort), fam)
		return nil
	})
	if errors.Is(err, kcount.ErrNoListeners) {
		if !s.warnedListeners {
			s.warnedListeners = true
			s.logger.Warn("listen queue metrics unavailable", zap.Error(err))
		}
		return nil
	}
	if capped && !s.warnedListeners {
		s.warnedListeners = true
		s.logger.Warn("more listeners than max_listeners; the rest are not reported", zap.Int("max_listeners", s.cfg.MaxListeners))
	}
	return err
}

// sockstatTransports maps sockstat line prefixes (without a trailing 6);
// FRAG (IP reassembly) is not a transport and has metrics of its own.
var sockstatTransports = map[string]metadata.AttributeNetworkTransport{
	"TCP": metadata.AttributeNetworkTransportTCP, "UDP": metadata.AttributeNetworkTransportUDP,
	"UDPLITE": metadata.AttributeNetworkTransportUdplite, "RAW": metadata.AttributeNetworkTransportRaw,
}

func (s *sockScraper) recordSockstat(now pcommon.Timestamp, c kcount.Counter) error {
	var v4, v6 []byte
	err := c.InProcNet(func(dir string) error {
		var err error
		if v4, err = os.ReadFile(filepath.Join(dir, "sockstat")); err != nil {
			return err
		}
		v6, err = os.ReadFile(filepath.Join(dir, "sockstat6"))
		if errors.Is(err, os.ErrNotExist) {
			err = nil // IPv6 disabled
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("reading sockstat: %w", err)
	}
	var errs []error
	for fi, data := range [2][]byte{v4, v6} {
		fam := familyAttr[fi]
		perr := s.parser.ParseSockstat(data, func(c *procnet.Counter) {
			sec := string(c.Section)
			if fi == 1 {
				sec = sec[:len(sec)-min(1, len(sec))] // TCP6 -> TCP
			}
			tr, ok := sockstatTransports[sec]
			v := int64(c.Value)
			switch name := string(c.Name); {
			case sec == "sockets" && name == "used":
				s.mb.RecordSystemNetworkSocketUsedDataPoint(now, v)
			case ok && name == "inuse":
				s.mb.RecordSystemNetworkSocketInUseDataPoint(now, v, tr, fam)
			case sec == "TCP" && name == "orphan":
				s.mb.RecordSystemNetworkTCPOrphanCountDataPoint(now, v)
			case sec == "TCP" && name == "tw":
				s.mb.RecordSystemNetworkTCPTimeWaitCountDataPoint(now, v)
			case sec == "TCP" && name == "alloc":
				s.mb.RecordSystemNetworkSocketAllocatedDataPoint(now, v)
			case ok && name == "mem":
				s.mb.RecordSystemNetworkSocketMemoryUsageDataPoint(now, v*s.pageSize, tr)
			case sec == "FRAG" && name == "inuse":
				s.mb.RecordSystemNetworkIPFragmentQueueCountDataPoint(now, v, fam)
			case sec == "FRAG" && name == "memory":
				s.mb.RecordSystemNetworkIPFragmentMemoryUsageDataPoint(now, v, fam)
			}
		})
		if perr != nil {
			errs = append(errs, fmt.Errorf("parsing sockstat%s: %w", familySuffix[fi], perr))
		}
	}
	return errors.Join(errs...)
}
