package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

// maxCounters bounds the distinct counter names kept; a kernel prints
// about 400, so more means the input is not what we think it is.
const maxCounters = 4096

// slot holds what the receiver knows of one kernel counter.
type slot struct {
	name        string // as nstat prints it
	metric      string // nstat.<name>
	description string
	value       uint64 // magnitude last read
	offset      uint64 // 2^32 multiples added for wraps (32-bit kernels)
	seen        uint64 // scrape generation that last read it
	negative    bool
	gauge       bool
	export      bool // part of the nstat family per include/exclude
}

// total is the value to export: the kernel's value plus wraps.
func (sl *slot) total() (int64, error) {
	if sl.negative {
		if sl.value > math.MaxInt64 {
			return 0, fmt.Errorf("%s: value -%d is out of range", sl.name, sl.value)
		}
		if !sl.gauge {
			return 0, fmt.Errorf("%s: counter is negative (-%d)", sl.name, sl.value)
		}
		return -int64(sl.value), nil
	}
	t := sl.value + sl.offset
	if t < sl.value || t > math.MaxInt64 {
		return 0, fmt.Errorf("%s: value %d+%d does not fit an int64 data point", sl.name, sl.value, sl.offset)
	}
	return int64(t), nil
}

type curatedSlot struct {
	slot   int
	record recordFunc
}

type netsnmpScraper struct {
	cfg      *Config
	logger   *zap.Logger
	settings receiver.Settings
	mb       *metadata.MetricsBuilder

	include, exclude []*regexp.Regexp
	needed           [numFiles]bool
	wrap32           bool // kernel counters are 32 bits wide and wrap

	// where the counters come from
	procDir  string // directory the files were opened in, for messages
	nsLink   string // path whose inode identifies the namespace read
	nsInode  uint64
	files    [numFiles]*os.File
	fds      [numFiles]int // raw descriptors of files, for pread
	resource pcommon.Resource

	buf     []byte
	parser  procnet.Parser
	storeFn procnet.CounterFunc
	slots   []slot
	ids     map[string]int
	// order[f][k] is the slot of the k-th counter of file f in the last
	// read: the kernel prints the same names in the same order every time,
	// so a name comparison replaces a map lookup.
	order   [numFiles][]int
	curFile int
	pos     int
	curated []curatedSlot
	gen     uint64
	reset   bool // a counter went backwards during this scrape
	errs    []error

	startTime pcommon.Timestamp
}

func newScraper(cfg *Config, set receiver.Settings) (*netsnmpScraper, error) {
	s := &netsnmpScraper{
		cfg:      cfg,
		logger:   set.Logger,
		settings: set,
		ids:      make(map[string]int, 512),
		buf:      make([]byte, 64<<10),
		wrap32:   kernelIs32Bit(),
	}
	var err error
	if s.include, err = compileAll("nstat.include", cfg.Nstat.Include); err != nil {
		return nil, err
	}
	if s.exclude, err = compileAll("nstat.exclude", cfg.Nstat.Exclude); err != nil {
		return nil, err
	}
	s.storeFn = s.store
	for _, c := range curatedMetrics {
		if c.enabled(&cfg.Metrics) {
			s.needed[c.file] = true
			s.curated = append(s.curated, curatedSlot{slot: s.slotFor(c.counter), record: c.record})
		}
	}
	if cfg.Nstat.Enabled {
		s.needed = [numFiles]bool{true, true, true}
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
		s.parser.Want = func(section []byte) bool { return want[string(section)] }
		s.parser.WantField = func(name []byte) bool { return wantField[string(name)] }
	}
	return s, nil
}

func (s *netsnmpScraper) start(context.Context, component.Host) error {
	now := pcommon.NewTimestampFromTime(time.Now())
	s.startTime = now
	s.mb = metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings, metadata.WithStartTime(now))
	return s.open()
}

// open opens the needed files in the configured namespace or procfs and
// records which namespace they belong to.
func (s *netsnmpScraper) open() error {
	var names []string
	var which []int
	for i, need := range s.needed {
		if need {
			names = append(names, fileNames[i])
			which = append(which, i)
		}
	}
	files, errs, err := netnsutil.OpenProcNet(s.cfg.NetNS, s.cfg.RootPath, names...)
	if err != nil {
		return err
	}
	s.procDir, _ = netnsutil.ProcNetDir(s.cfg.RootPath)
	opened := 0
	for k, i := range which {
		s.files[i] = files[k]
		switch {
		case errs[k] == nil:
			s.fds[i] = int(files[k].Fd())
			opened++
		case errors.Is(errs[k], os.ErrNotExist):
			// Reported once here, then skipped: no IPv6 means no snmp6.
			s.logger.Warn("counter file not present, its counters will not be reported",
				zap.String("file", s.describe(i)), zap.Error(errs[k]))
		default:
			s.closeFiles()
			return fmt.Errorf("opening %s: %w", s.describe(i), errs[k])
		}
	}
	if opened == 0 && len(which) > 0 {
		return fmt.Errorf("none of %s could be opened in %s", strings.Join(names, ", "), s.where())
	}

	switch {
	case s.cfg.NetNS != "":
		s.nsLink = s.cfg.NetNS
	case s.cfg.RootPath != "":
		s.nsLink = filepath.Join(filepath.Dir(s.procDir), "ns", "net")
	default:
		s.nsLink = "/proc/self/ns/net"
	}
	s.nsInode, err = netnsutil.Inode(s.nsLink)
	if err != nil {
		s.closeFiles()
		return err
	}
	rb := s.mb.NewResourceBuilder()
	rb.SetNetnsPath(s.where())
	rb.SetNetnsInode(int64(s.nsInode))
	s.resource = rb.Emit()
	return nil
}

// where names what is read: the netns path, the procfs directory, or the
// collector's own namespace.
func (s *netsnmpScraper) where() string {
	switch {
	case s.cfg.NetNS != "":
		return s.cfg.NetNS
	case s.cfg.RootPath != "":
		return s.procDir
	default:
		return "/proc/self/ns/net"
	}
}

func (s *netsnmpScraper) describe(file int) string {
	if s.cfg.NetNS != "" {
		return fmt.Sprintf("/proc/net/%s in netns %s", fileNames[file], s.cfg.NetNS)
	}
	if s.cfg.RootPath != "" {
		return filepath.Join(s.procDir, fileNames[file])
	}
	return "/proc/net/" + fileNames[file]
}

func (s *netsnmpScraper) closeFiles() {
	for i, f := range s.files {
		if f != nil {
			_ = f.Close()
			s.files[i] = nil
		}
	}
}

func (s *netsnmpScraper) shutdown(context.Context) error {
	s.closeFiles()
	return nil
}

// checkNamespace notices a namespace that was deleted and recreated under
// the same path (a restarted container): the files are reopened in the new
// one and the counters start over with a new start time.
func (s *netsnmpScraper) checkNamespace() (changed bool, err error) {
	if s.cfg.NetNS == "" && s.cfg.RootPath == "" {
		return false, nil // our own namespace cannot change under us
	}
	ino, err := netnsutil.Inode(s.nsLink)
	if err != nil {
		return false, err
	}
	if ino == s.nsInode {
		return false, nil
	}
	s.logger.Info("network namespace was recreated; counters start over",
		zap.String("netns", s.where()), zap.Uint64("old_inode", s.nsInode), zap.Uint64("new_inode", ino))
	s.closeFiles()
	return true, s.open()
}

func (s *netsnmpScraper) scrape(context.Context) (pmetric.Metrics, error) {
	var errs scrapererror.ScrapeErrors
	now := pcommon.NewTimestampFromTime(time.Now())

	changed, err := s.checkNamespace()
	if err != nil {
		errs.Add(fmt.Errorf("network namespace %s: %w", s.where(), err))
		return pmetric.NewMetrics(), errs.Combine()
	}
	s.gen++
	s.reset = changed
	for i, f := range s.files {
		if f == nil {
			continue
		}
		data, err := s.read(s.fds[i])
		if err != nil {
			errs.AddPartial(1, fmt.Errorf("reading %s: %w", s.describe(i), err))
			continue
		}
		s.errs = s.errs[:0]
		s.curFile, s.pos = i, 0
		if err := parseFile(&s.parser, i, data, s.storeFn); err != nil {
			errs.AddPartial(countErrors(err), fmt.Errorf("%s: %w", s.describe(i), err))
		}
		for _, err := range s.errs {
			errs.AddPartial(1, fmt.Errorf("%s: %w", s.describe(i), err))
		}
	}
	if s.reset {
		s.restart(now)
	}

	for _, c := range s.curated {
		sl := &s.slots[c.slot]
		if sl.seen != s.gen {
			continue
		}
		v, err := sl.total()
		if err != nil {
			errs.AddPartial(1, err)
			continue
		}
		c.record(s.mb, now, v)
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
		zap.String("netns", s.where()))
	s.startTime = now
	s.mb.Reset(metadata.WithStartTime(now))
	for i := range s.slots {
		s.slots[i].offset = 0
	}
}

// read reads a whole file from offset 0 into the reused buffer. The kernel
// formats these files afresh on every read from the start.
func (s *netsnmpScraper) read(fd int) ([]byte, error) {
	for {
		n, err := readFull(fd, s.buf)
		if err != nil {
			return nil, err
		}
		if n < len(s.buf) {
			return s.buf[:n], nil
		}
		s.buf = make([]byte, 2*len(s.buf))
	}
}

// readFull preads from offset 0 until end of file or a full buffer.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(fd, buf[n:], int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// slotFor returns the slot index of a counter, creating it on first sight.
func (s *netsnmpScraper) slotFor(name string) int {
	if id, ok := s.ids[name]; ok {
		return id
	}
	sl := slot{
		name:        name,
		metric:      "nstat." + name,
		description: "Kernel value " + name + " as nstat prints it.",
		gauge:       nonCounters[name],
		export:      s.cfg.Nstat.Enabled && matchesFilters(name, s.include, s.exclude),
	}
	s.slots = append(s.slots, sl)
	s.ids[name] = len(s.slots) - 1
	return len(s.slots) - 1
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

// store is the parser callback: it records one counter's value, and spots
// wraps and resets.
func (s *netsnmpScraper) store(c *procnet.Counter) {
	id, ok := s.lookup(c.Name)
	if !ok {
		return
	}
	sl := &s.slots[id]
	if !sl.gauge && !c.Negative && sl.seen != 0 && !sl.negative && c.Value < sl.value {
		if s.wrap32 && sl.value <= math.MaxUint32 {
			sl.offset += 1 << 32
		} else {
			s.reset = true
		}
	}
	sl.value, sl.negative, sl.seen = c.Value, c.Negative, s.gen
}

// lookup finds the slot of the counter at the current position of the
// current file, creating it on first sight.
func (s *netsnmpScraper) lookup(name []byte) (int, bool) {
	order := s.order[s.curFile]
	k := s.pos
	s.pos++
	if k < len(order) && s.slots[order[k]].name == string(name) {
		return order[k], true
	}
	id, ok := s.ids[string(name)]
	if !ok {
		if len(s.slots) >= maxCounters {
			s.errs = append(s.errs, fmt.Errorf("%s: more than %d distinct counters, ignored", name, maxCounters))
			return 0, false
		}
		id = s.slotFor(string(name))
	}
	if k < len(order) {
		order[k] = id
	} else {
		s.order[s.curFile] = append(order, id)
	}
	return id, true
}

// appendNstat adds the nstat.<Name> family to the scrape's metrics.
func (s *netsnmpScraper) appendNstat(md pmetric.Metrics, now pcommon.Timestamp) error {
	rms := md.ResourceMetrics()
	var sm pmetric.ScopeMetrics
	if rms.Len() == 0 {
		rm := rms.AppendEmpty()
		s.resource.CopyTo(rm.Resource())
		sm = rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
		sm.Scope().SetVersion(s.settings.BuildInfo.Version)
	} else {
		sm = rms.At(0).ScopeMetrics().At(0)
	}
	ms := sm.Metrics()
	ms.EnsureCapacity(ms.Len() + len(s.slots))
	var errs []error
	for i := range s.slots {
		sl := &s.slots[i]
		if !sl.export || sl.seen != s.gen {
			continue
		}
		v, err := sl.total()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := ms.AppendEmpty()
		m.SetName(sl.metric)
		m.SetDescription(sl.description)
		var dp pmetric.NumberDataPoint
		if sl.gauge {
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

// kernelIs32Bit tells whether the running kernel keeps its SNMP counters
// in 32-bit longs, which wrap; on 64-bit kernels a counter that goes
// backwards was reset.
func kernelIs32Bit() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	switch unix.ByteSliceToString(u.Machine[:]) {
	case "x86_64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x", "riscv64", "mips64", "loongarch64", "sparc64", "alpha", "ia64":
		return false
	}
	return true
}
