package sockstatereceiver

import (
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

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// ownNetNS labels the collector's own namespace.
const ownNetNS = "/proc/self/ns/net"

type sockScraper struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	// counterLog is given to the per-namespace counters: with all_netns they
	// are opened for every namespace at every scrape, so each distinct
	// message is logged at most once an hour.
	counterLog *zap.Logger
	mb         *metadata.MetricsBuilder

	method Method  // resolved at start
	single counter // the one namespace's counter, unless all_netns
	main   target  // the namespace of single
	tally  *tally
	parser procnet.Parser

	// seams for tests
	openCounter func(m Method, tg target) (counter, error)
	listTargets func(errs *scrapererror.ScrapeErrors) []target // all_netns
	pageSize    int64

	warnedListeners bool
}

func newScraper(cfg *Config, set receiver.Settings) *sockScraper {
	s := &sockScraper{cfg: cfg, set: set, logger: set.Logger, pageSize: int64(os.Getpagesize())}
	s.counterLog = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Hour, 1, 0)
	}))
	s.openCounter = s.openMethod
	s.listTargets = s.allTargets
	return s
}

// mainTarget is the namespace named by netns or root_path.
func (s *sockScraper) mainTarget() (target, error) {
	switch {
	case s.cfg.RootPath != "":
		dir, err := netnsutil.ProcNetDir(s.cfg.RootPath)
		if err != nil {
			return target{}, fmt.Errorf("root_path: %w", err)
		}
		// dir is <proc>/1/net; the namespace file sits beside it.
		ns := filepath.Join(filepath.Dir(dir), "ns", "net")
		ino, _ := netnsutil.Inode(ns)
		return target{label: dir, inode: ino, nsPath: ns, procDir: dir}, nil
	case s.cfg.NetNS != "":
		ino, err := netnsutil.Inode(s.cfg.NetNS)
		if err != nil {
			return target{}, fmt.Errorf("netns: %w", err)
		}
		return target{label: s.cfg.NetNS, inode: ino, nsPath: s.cfg.NetNS}, nil
	default:
		ino, err := netnsutil.Inode("")
		if err != nil {
			return target{}, err
		}
		return target{label: ownNetNS, inode: ino}, nil
	}
}

func (s *sockScraper) start(_ context.Context, _ component.Host) error {
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.set)
	s.tally = newTally(s.cfg.Ports)
	tg, err := s.mainTarget()
	if err != nil {
		return err
	}
	c, err := s.resolve(tg)
	if err != nil {
		return err
	}
	s.method = c.method()
	if s.cfg.AllNetNS {
		// Namespaces come and go: open per scrape with the resolved method.
		return c.close()
	}
	s.single, s.main = c, tg
	return nil
}

// resolve opens the configured method, or for auto the best one that
// works, and logs the choice.
func (s *sockScraper) resolve(tg target) (counter, error) {
	if s.cfg.Method != MethodAuto {
		c, err := s.openCounter(s.cfg.Method, tg)
		if err != nil {
			return nil, fmt.Errorf("method %s: %w", s.cfg.Method, err)
		}
		s.logger.Info("sockstate counting method", zap.String("method", string(c.method())), zap.String("netns", tg.label))
		return c, nil
	}
	var skipped []zap.Field
	for _, m := range []Method{MethodEvents, MethodIterator, MethodSockDiag, MethodProcfs} {
		c, err := s.openCounter(m, tg)
		if err == nil {
			s.logger.Info("sockstate counting method (auto)", append([]zap.Field{zap.String("method", string(m)), zap.String("netns", tg.label)}, skipped...)...)
			if m == MethodProcfs {
				s.logger.Warn("neither BPF nor NETLINK_SOCK_DIAG is usable; counting from /proc/net tables (slower, no listen-queue limits)")
			}
			return c, nil
		}
		skipped = append(skipped, zap.NamedError("skipped_"+string(m), err))
	}
	return nil, errors.New("method auto: no method works")
}

func (s *sockScraper) openMethod(m Method, tg target) (counter, error) {
	switch m {
	case MethodSockDiag:
		return openSockdiag(tg, s.counterLog)
	case MethodProcfs:
		p := &procfsCounter{tg: tg}
		var t tally
		if err := p.count(&t); err != nil {
			return nil, err
		}
		return p, nil
	case MethodIterator:
		return openIterator(tg, s.cfg.Ports, s.counterLog)
	case MethodEvents:
		if s.cfg.AllNetNS {
			return nil, errors.New("all_netns reads namespaces that come and go; it uses the iterator or sockdiag method")
		}
		return openEvents(tg, s.cfg.Ports, s.cfg.ResyncInterval, s.counterLog)
	}
	return nil, fmt.Errorf("unknown method %q", m)
}

func (s *sockScraper) shutdown(context.Context) error {
	if s.single != nil {
		err := s.single.close()
		s.single = nil
		return err
	}
	return nil
}

func (s *sockScraper) scrape(context.Context) (pmetric.Metrics, error) {
	errs := &scrapererror.ScrapeErrors{}
	now := pcommon.NewTimestampFromTime(time.Now())
	if s.single != nil {
		s.scrapeTarget(now, s.main, s.single, errs.AddPartial)
	} else {
		for _, tg := range s.listTargets(errs) {
			c, err := s.openCounter(s.method, tg)
			if errors.Is(err, os.ErrNotExist) {
				continue // the process or namespace went away since it was listed
			}
			if err != nil {
				errs.AddPartial(1, fmt.Errorf("netns %s: %w", tg.label, err))
				continue
			}
			var failed []partialError
			s.scrapeTarget(now, tg, c, func(n int, err error) { failed = append(failed, partialError{n, err}) })
			c.close()
			if len(failed) > 0 && tg.vanished() {
				continue // deleted while we read it: not an error
			}
			for _, f := range failed {
				errs.AddPartial(f.n, fmt.Errorf("netns %s: %w", tg.label, f.err))
			}
		}
	}
	return s.mb.Emit(), errs.Combine()
}

type partialError struct {
	n   int
	err error
}

func (s *sockScraper) scrapeTarget(now pcommon.Timestamp, tg target, c counter, addPartial func(n int, err error)) {
	mc := s.cfg.Metrics
	if mc.SystemNetworkConnectionCount.Enabled || mc.SystemNetworkConnectionLocalPortCount.Enabled {
		s.tally.reset()
		if err := c.count(s.tally); err != nil {
			addPartial(2, fmt.Errorf("counting sockets (%s): %w", c.method(), err))
		} else {
			s.recordCounts(now)
		}
	}
	if d, ok := c.(interface{ lastDrift() (int64, bool) }); ok && mc.SockstateEventsDrift.Enabled {
		if v, ok := d.lastDrift(); ok {
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
		if err := s.recordSockstat(now, tg); err != nil {
			addPartial(1, err)
		}
	}
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(tg.label)
	rb.SetNetnsInode(int64(tg.inode))
	s.mb.EmitForResource(metadata.WithResource(rb.Emit()))
}

func (s *sockScraper) recordCounts(now pcommon.Timestamp) {
	for tr := range numTransports {
		expected := statesOf(tr)
		for fi, fam := range families {
			counts := &s.tally.conns[tr][fi]
			for st := sockdiag.Established; st < sockdiag.NewSynRecv; st++ {
				// Zero counts of the states a transport uses are emitted so
				// dashboards do not gap; an unexpected state is never dropped.
				if counts[st] == 0 && !slices.Contains(expected, st) {
					continue
				}
				s.mb.RecordSystemNetworkConnectionCountDataPoint(now, int64(counts[st]), transports[tr].attr, stateAttr[st], fam.attr)
			}
		}
		pc := s.tally.portsFor(tr)
		if pc == nil {
			continue
		}
		for i, port := range pc.Ports {
			for _, st := range expected {
				s.mb.RecordSystemNetworkConnectionLocalPortCountDataPoint(now, int64(pc.Counts[i][st]), transports[tr].attr, stateAttr[st], int64(port))
			}
		}
	}
}

func (s *sockScraper) recordListeners(now pcommon.Timestamp, c counter) error {
	n := 0
	capped := false
	err := c.listeners(func(m *sockdiag.Msg) error {
		if len(s.cfg.ListenPorts) > 0 && !slices.Contains(s.cfg.ListenPorts, m.SPort) {
			return nil
		}
		if s.cfg.MaxListeners > 0 && n >= s.cfg.MaxListeners {
			capped = true
			return nil
		}
		n++
		fam := metadata.AttributeNetworkTypeIpv4
		if m.Family == families[1].af {
			fam = metadata.AttributeNetworkTypeIpv6
		}
		addr := m.SrcAddr().String()
		s.mb.RecordSystemNetworkTCPListenQueueUsageDataPoint(now, int64(m.RQueue), addr, int64(m.SPort), fam)
		s.mb.RecordSystemNetworkTCPListenQueueLimitDataPoint(now, int64(m.WQueue), addr, int64(m.SPort), fam)
		return nil
	})
	if errors.Is(err, errNoListeners) {
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

func (s *sockScraper) recordSockstat(now pcommon.Timestamp, tg target) error {
	var v4, v6 []byte
	err := tg.inProcNet(func(dir string) error {
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
		fam := families[fi]
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
				s.mb.RecordSystemNetworkSocketInUseDataPoint(now, v, tr, fam.attr)
			case sec == "TCP" && name == "orphan":
				s.mb.RecordSystemNetworkTCPOrphanCountDataPoint(now, v)
			case sec == "TCP" && name == "tw":
				s.mb.RecordSystemNetworkTCPTimeWaitCountDataPoint(now, v)
			case sec == "TCP" && name == "alloc":
				s.mb.RecordSystemNetworkSocketAllocatedDataPoint(now, v)
			case ok && name == "mem":
				s.mb.RecordSystemNetworkSocketMemoryUsageDataPoint(now, v*s.pageSize, tr)
			case sec == "FRAG" && name == "inuse":
				s.mb.RecordSystemNetworkIPFragmentQueueCountDataPoint(now, v, fam.attr)
			case sec == "FRAG" && name == "memory":
				s.mb.RecordSystemNetworkIPFragmentMemoryUsageDataPoint(now, v, fam.attr)
			}
		})
		if perr != nil {
			errs = append(errs, fmt.Errorf("parsing sockstat%s: %w", fam.suffix, perr))
		}
	}
	return errors.Join(errs...)
}

// allTargets lists the collector's own namespace, /run/netns/* and the
// distinct namespaces of /proc/*/ns/net, at most max_netns, deduplicated by
// namespace inode.
func (s *sockScraper) allTargets(errs *scrapererror.ScrapeErrors) []target {
	proc := "/proc"
	if s.cfg.RootPath != "" {
		if dir, err := netnsutil.ProcNetDir(s.cfg.RootPath); err == nil {
			proc = filepath.Dir(filepath.Dir(dir))
		}
	}
	seen := map[uint64]bool{}
	var out []target
	add := func(path, label string) {
		if len(out) >= s.cfg.MaxNetNS {
			return
		}
		ino, err := netnsutil.Inode(path)
		if err != nil || seen[ino] {
			return
		}
		seen[ino] = true
		if path == "/proc/thread-self/ns/net" {
			path = ""
		}
		out = append(out, target{label: label, inode: ino, nsPath: path})
	}
	add("/proc/thread-self/ns/net", ownNetNS)
	if names, err := filepath.Glob("/run/netns/*"); err == nil {
		for _, n := range names {
			add(n, n)
		}
	}
	pids, err := os.ReadDir(proc)
	if err != nil {
		errs.AddPartial(0, fmt.Errorf("listing %s: %w", proc, err))
	}
	for _, d := range pids {
		if name := d.Name(); name[0] >= '1' && name[0] <= '9' {
			p := filepath.Join(proc, name, "ns", "net")
			add(p, p)
		}
	}
	if len(out) >= s.cfg.MaxNetNS {
		s.logger.Debug("max_netns reached; further namespaces are not read", zap.Int("max_netns", s.cfg.MaxNetNS))
	}
	return out
}
