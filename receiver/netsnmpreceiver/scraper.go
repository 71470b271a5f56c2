package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/pdatautil"
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

type curatedSlot struct {
	slot   int // in every namespace's counters (registered first, in order)
	record recordFunc
}

// familyMetric is the nstat.<Name> metric of one counter name.
type familyMetric struct {
	name, description string
	exported          bool // the filters let it through
}

// nsCounters is one namespace's counters: the state of the values read
// from its files (wraps, resets), its nstat family by slot, its resource
// and the start of its cumulative series.
type nsCounters struct {
	counters procnet.CounterSet
	// family[i] is the metric of counter slot i, set when the slot first
	// appears; exported lists the slots the filters let through.
	family   []*familyMetric
	exported []int
	resource pcommon.Resource
	start    pcommon.Timestamp
	label    string                // netns.path, for messages
	describe func(file int) string // one file, for messages
}

type netsnmpScraper struct {
	cfg      *Config
	logger   *zap.Logger
	settings receiver.Settings
	mb       *metadata.MetricsBuilder

	which   []int // the files needed, in read order
	proc    *procFiles
	main    *nsCounters // the configured namespace, unless all_netns
	all     *allNetNS   // all_netns
	buf     []byte
	curated []curatedSlot
	// The nstat family: the metric of each counter name, shared by the
	// namespaces, and the filters.
	include, exclude []*regexp.Regexp
	families         map[string]*familyMetric
	// The counter set every namespace's counters start as.
	wrap32          bool
	want, wantField func([]byte) bool
}

func newScraper(cfg *Config, set receiver.Settings) (*netsnmpScraper, error) {
	s := &netsnmpScraper{
		cfg:      cfg,
		logger:   set.Logger,
		settings: set,
		buf:      make([]byte, 64<<10),
		families: map[string]*familyMetric{},
		wrap32:   kernelIs32Bit(),
	}
	var err error
	if s.include, err = compileAll("nstat.include", cfg.Nstat.Include); err != nil {
		return nil, err
	}
	if s.exclude, err = compileAll("nstat.exclude", cfg.Nstat.Exclude); err != nil {
		return nil, err
	}
	var needed [numFiles]bool
	var slots procnet.CounterSet // numbered as newCounters numbers them
	for _, c := range curatedMetrics {
		slot := slots.Slot(c.counter)
		if c.enabled(&cfg.Metrics) {
			needed[c.file] = true
			s.curated = append(s.curated, curatedSlot{slot: slot, record: c.record})
		}
	}
	if cfg.Nstat.Enabled {
		needed = [numFiles]bool{true, true, true}
	} else {
		// Only the curated counters are needed: skip the other sections
		// without parsing them, and the other fields of those sections
		// without parsing their values.
		want, wantField := map[string]bool{}, map[string]bool{}
		for _, c := range curatedMetrics {
			if c.enabled(&cfg.Metrics) {
				want[c.section] = true
				wantField[c.counter] = true
			}
		}
		s.want = func(section []byte) bool { return want[string(section)] }
		s.wantField = func(name []byte) bool { return wantField[string(name)] }
	}
	for i, need := range needed {
		if need {
			s.which = append(s.which, i)
		}
	}
	s.proc = newProcFiles(cfg, set.Logger, s.which)
	return s, nil
}

// newCounters starts the counters of a namespace: the curated counters'
// slots are made first, in curatedMetrics order, so that a slot index
// means the same counter in every namespace.
func (s *netsnmpScraper) newCounters(label string, start pcommon.Timestamp, describe func(int) string) *nsCounters {
	c := &nsCounters{label: label, start: start, describe: describe}
	c.counters.Wrap32 = s.wrap32
	c.counters.IsGauge = func(name string) bool { return nonCounters[name] }
	c.counters.Parser.Want, c.counters.Parser.WantField = s.want, s.wantField
	for _, m := range curatedMetrics {
		c.counters.Slot(m.counter)
	}
	return c
}

func (s *netsnmpScraper) start(context.Context, component.Host) error {
	now := pcommon.NewTimestampFromTime(time.Now())
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings, metadata.WithStartTime(now))
	if s.cfg.AllNetNS {
		a, err := newAllNetNS(s)
		if err != nil {
			return err
		}
		s.all = a
		return nil
	}
	if err := s.proc.open(); err != nil {
		return err
	}
	s.main = s.newCounters(s.proc.where(), now, s.proc.describe)
	s.setResource()
	return nil
}

// setResource describes the namespace the files were opened in.
func (s *netsnmpScraper) setResource() {
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(s.proc.where())
	rb.SetNetnsInode(int64(s.proc.inode()))
	s.main.resource = rb.Emit()
}

func (s *netsnmpScraper) shutdown(context.Context) error {
	s.proc.close()
	if s.all != nil {
		s.all.close()
	}
	return nil
}

func (s *netsnmpScraper) scrape(context.Context) (pmetric.Metrics, error) {
	var errs scrapererror.ScrapeErrors
	now := pcommon.NewTimestampFromTime(time.Now())
	if s.all != nil {
		md := s.all.scrape(now, &errs)
		return md, errs.Combine()
	}

	recreated, err := s.proc.recreated()
	if err != nil {
		errs.Add(fmt.Errorf("network namespace %s: %w", s.proc.where(), err))
		return pmetric.NewMetrics(), errs.Combine()
	}
	if recreated {
		s.setResource()
	}
	md := s.collect(s.main, &s.proc.counterFiles, now, recreated, errs.AddPartial)
	return md, errs.Combine()
}

// collect reads one namespace's files into its counters and returns its
// metrics (curated and nstat) under its resource. restart begins a new
// cumulative series (the namespace was recreated); so does a counter that
// went backwards.
func (s *netsnmpScraper) collect(c *nsCounters, files *counterFiles, now pcommon.Timestamp, restart bool, addPartial func(int, error)) pmetric.Metrics {
	c.counters.Begin()
	for i, f := range files.files {
		if f == nil {
			continue
		}
		data, err := files.read(i, &s.buf)
		if err != nil {
			addPartial(1, fmt.Errorf("reading %s: %w", c.describe(i), err))
			continue
		}
		if err := c.counters.Read(i, fileFormats[i], data); err != nil {
			addPartial(countErrors(err), fmt.Errorf("%s: %w", c.describe(i), err))
		}
	}
	if restart || c.counters.Reset() {
		s.restart(c, now)
	}
	s.mb.Reset(metadata.WithStartTime(c.start))
	for _, cs := range s.curated {
		switch v, ok, err := c.counters.Value(cs.slot); {
		case err != nil:
			addPartial(1, err)
		case ok:
			cs.record(s.mb, now, v)
		}
	}
	md := s.mb.Emit(metadata.WithResource(c.resource))
	if s.cfg.Nstat.Enabled {
		if err := s.appendNstat(md, c, now); err != nil {
			addPartial(countErrors(err), err)
		}
	}
	return md
}

// restart begins a new cumulative series: a counter went backwards or the
// namespace was recreated, so the old start time no longer holds.
func (s *netsnmpScraper) restart(c *nsCounters, now pcommon.Timestamp) {
	s.logger.Info("kernel counters went backwards or the namespace was recreated; starting new cumulative series",
		zap.String("netns", c.label))
	c.start = now
	c.counters.Restart()
}

func matchesFilters(name string, include, exclude []*regexp.Regexp) bool {
	in := len(include) == 0
	for _, re := range include {
		if re.MatchString(name) {
			in = true
			break
		}
	}
	for _, re := range exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return in
}

// growFamily gives every counter slot of the namespace that appeared
// since the last scrape its nstat.<Name> metric.
func (s *netsnmpScraper) growFamily(c *nsCounters) {
	for id := len(c.family); id < c.counters.Len(); id++ {
		name := c.counters.Name(id)
		fm := s.families[name]
		if fm == nil {
			fm = &familyMetric{
				name:        "nstat." + name,
				description: "Kernel value " + name + " as nstat prints it.",
				exported:    matchesFilters(name, s.include, s.exclude),
			}
			s.families[name] = fm
		}
		c.family = append(c.family, fm)
		if fm.exported {
			c.exported = append(c.exported, id)
		}
	}
}

// appendNstat adds the nstat.<Name> family of one namespace to its
// metrics, written directly into pmetric: one metric per counter read.
func (s *netsnmpScraper) appendNstat(md pmetric.Metrics, c *nsCounters, now pcommon.Timestamp) error {
	s.growFamily(c)
	ms := pdatautil.Metrics(md, c.resource, pdatautil.Scope{Name: metadata.ScopeName, Version: s.settings.BuildInfo.Version})
	ms.EnsureCapacity(ms.Len() + len(c.exported))
	var errs []error
	for _, id := range c.exported {
		v, ok, err := c.counters.Value(id)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok || err != nil {
			continue
		}
		fm := c.family[id]
		m := ms.AppendEmpty()
		m.SetName(fm.name)
		m.SetDescription(fm.description)
		var dp pmetric.NumberDataPoint
		if c.counters.Gauge(id) {
			dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
		} else {
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp = sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(c.start)
		}
		dp.SetTimestamp(now)
		dp.SetIntValue(v)
	}
	return errors.Join(errs...)
}

func countErrors(err error) int {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		n := 0
		for _, e := range j.Unwrap() {
			n += countErrors(e)
		}
		return n
	}
	return 1
}
