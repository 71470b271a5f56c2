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
	slot   int // in counters
	record recordFunc
}

// familyMetric is the nstat.<Name> metric of one counter slot.
type familyMetric struct {
	name, description string
}

type netsnmpScraper struct {
	cfg      *Config
	logger   *zap.Logger
	settings receiver.Settings
	mb       *metadata.MetricsBuilder

	proc     *procFiles
	counters procnet.CounterSet
	resource pcommon.Resource

	curated []curatedSlot
	// The nstat family: family[i] is the metric of counter slot i, made
	// when the slot first appears; exported lists the slots that the
	// filters let through, in slot order.
	include, exclude []*regexp.Regexp
	family           []familyMetric
	exported         []int

	startTime pcommon.Timestamp
}

func newScraper(cfg *Config, set receiver.Settings) (*netsnmpScraper, error) {
	s := &netsnmpScraper{
		cfg:      cfg,
		logger:   set.Logger,
		settings: set,
	}
	s.counters.Wrap32 = kernelIs32Bit()
	s.counters.IsGauge = func(name string) bool { return nonCounters[name] }
	var err error
	if s.include, err = compileAll("nstat.include", cfg.Nstat.Include); err != nil {
		return nil, err
	}
	if s.exclude, err = compileAll("nstat.exclude", cfg.Nstat.Exclude); err != nil {
		return nil, err
	}
	var needed [numFiles]bool
	for _, c := range curatedMetrics {
		if c.enabled(&cfg.Metrics) {
			needed[c.file] = true
			s.curated = append(s.curated, curatedSlot{slot: s.counters.Slot(c.counter), record: c.record})
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
		s.counters.Parser.Want = func(section []byte) bool { return want[string(section)] }
		s.counters.Parser.WantField = func(name []byte) bool { return wantField[string(name)] }
	}
	s.proc = newProcFiles(cfg, set.Logger, needed)
	return s, nil
}

func (s *netsnmpScraper) start(context.Context, component.Host) error {
	now := pcommon.NewTimestampFromTime(time.Now())
	s.startTime = now
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings, metadata.WithStartTime(now))
	if err := s.proc.open(); err != nil {
		return err
	}
	s.setResource()
	return nil
}

// setResource describes the namespace the files were opened in.
func (s *netsnmpScraper) setResource() {
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(s.proc.where())
	rb.SetNetnsInode(int64(s.proc.inode()))
	s.resource = rb.Emit()
}

func (s *netsnmpScraper) shutdown(context.Context) error {
	s.proc.close()
	return nil
}

func (s *netsnmpScraper) scrape(context.Context) (pmetric.Metrics, error) {
	var errs scrapererror.ScrapeErrors
	now := pcommon.NewTimestampFromTime(time.Now())

	recreated, err := s.proc.recreated()
	if err != nil {
		errs.Add(fmt.Errorf("network namespace %s: %w", s.proc.where(), err))
		return pmetric.NewMetrics(), errs.Combine()
	}
	if recreated {
		s.setResource()
	}
	s.counters.Begin()
	for i, f := range s.proc.files {
		if f == nil {
			continue
		}
		data, err := s.proc.read(i)
		if err != nil {
			errs.AddPartial(1, fmt.Errorf("reading %s: %w", s.proc.describe(i), err))
			continue
		}
		if err := s.counters.Read(i, fileFormats[i], data); err != nil {
			errs.AddPartial(countErrors(err), fmt.Errorf("%s: %w", s.proc.describe(i), err))
		}
	}
	if recreated || s.counters.Reset() {
		s.restart(now)
	}

	for _, c := range s.curated {
		switch v, ok, err := s.counters.Value(c.slot); {
		case err != nil:
			errs.AddPartial(1, err)
		case ok:
			c.record(s.mb, now, v)
		}
	}
	md := s.mb.Emit(metadata.WithResource(s.resource))
	if s.cfg.Nstat.Enabled {
		if err := s.appendNstat(md, now); err != nil {
			errs.AddPartial(countErrors(err), err)
		}
	}
	return md, errs.Combine()
}

// restart begins a new cumulative series: a counter went backwards or the
// namespace was recreated, so the old start time no longer holds.
func (s *netsnmpScraper) restart(now pcommon.Timestamp) {
	s.logger.Info("kernel counters went backwards or the namespace was recreated; starting new cumulative series",
		zap.String("netns", s.proc.where()))
	s.startTime = now
	s.mb.Reset(metadata.WithStartTime(now))
	s.counters.Restart()
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

// growFamily makes the nstat.<Name> metric of every counter slot that
// appeared since the last scrape.
func (s *netsnmpScraper) growFamily() {
	for id := len(s.family); id < s.counters.Len(); id++ {
		name := s.counters.Name(id)
		s.family = append(s.family, familyMetric{
			name:        "nstat." + name,
			description: "Kernel value " + name + " as nstat prints it.",
		})
		if matchesFilters(name, s.include, s.exclude) {
			s.exported = append(s.exported, id)
		}
	}
}

// appendNstat adds the nstat.<Name> family to the scrape's metrics,
// written directly into pmetric: one metric per counter read.
func (s *netsnmpScraper) appendNstat(md pmetric.Metrics, now pcommon.Timestamp) error {
	s.growFamily()
	ms := pdatautil.Metrics(md, s.resource, pdatautil.Scope{Name: metadata.ScopeName, Version: s.settings.BuildInfo.Version})
	ms.EnsureCapacity(ms.Len() + len(s.exported))
	var errs []error
	for _, id := range s.exported {
		v, ok, err := s.counters.Value(id)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok || err != nil {
			continue
		}
		fm := &s.family[id]
		m := ms.AppendEmpty()
		m.SetName(fm.name)
		m.SetDescription(fm.description)
		var dp pmetric.NumberDataPoint
		if s.counters.Gauge(id) {
			dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
		} else {
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp = sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(s.startTime)
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
