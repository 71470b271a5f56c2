package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
)

// allNetNS reads every network namespace of the host (all_netns): the
// shared lister names them and whose they are; each namespace's counters
// are read from /proc/PID/net of a process in it, without entering it, or,
// for a namespace without processes (bound under /run/netns only), by
// entering it once (CAP_SYS_ADMIN). Each keeps its own counters and series
// start; a namespace no longer listed is forgotten and its files closed.
type allNetNS struct {
	s      *netsnmpScraper
	lister *podattr.Lister
	nss    map[nsKey]*nsFiles
}

// nsKey identifies a namespace across scrapes: one recreated under the same
// path has another inode, and starts afresh.
type nsKey struct {
	label string
	inode uint64
}

// nsFiles is one listed namespace: its files and counters, and the listing
// its resource was made from.
type nsFiles struct {
	counterFiles
	*nsCounters
	listed podattr.Namespace
}

// errVanished: the namespace or its process went away since it was listed.
var errVanished = errors.New("gone since listed")

func newAllNetNS(s *netsnmpScraper) (*allNetNS, error) {
	l, err := podattr.NewLister(s.cfg.RootPath, s.cfg.MaxNetNS, s.logger)
	if err != nil {
		return nil, err
	}
	return &allNetNS{s: s, lister: l, nss: map[nsKey]*nsFiles{}}, nil
}

func (a *allNetNS) scrape(now pcommon.Timestamp, errs *scrapererror.ScrapeErrors) pmetric.Metrics {
	md := pmetric.NewMetrics()
	nss, capped, err := a.lister.List()
	if err != nil {
		errs.AddPartial(0, err)
	}
	if capped {
		a.s.logger.Debug("max_netns reached; further namespaces are not read", zap.Int("max_netns", a.s.cfg.MaxNetNS))
	}
	listed := make(map[nsKey]bool, len(nss))
	for i := range nss {
		ns := &nss[i]
		k := nsKey{ns.Label, ns.Inode}
		f := a.nss[k]
		if f == nil {
			var err error
			f, err = a.open(ns, now)
			if errors.Is(err, errVanished) || errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				errs.AddPartial(1, fmt.Errorf("netns %s: %w", ns.Label, err))
				continue
			}
			a.nss[k] = f
		}
		listed[k] = true
		if f.listed != *ns {
			f.listed = *ns
			rb := a.s.mb.NewResourceBuilder()
			ns.SetResource(rb)
			f.resource = rb.Emit()
		}
		a.s.collect(f.nsCounters, &f.counterFiles, now, false, func(n int, err error) {
			errs.AddPartial(n, fmt.Errorf("netns %s: %w", ns.Label, err))
		}).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	for k, f := range a.nss {
		if !listed[k] {
			f.close()
			delete(a.nss, k)
		}
	}
	return md
}

// open opens a namespace's counter files: from /proc/PID/net of its member
// process, or, without one, inside it; the collector's own from
// /proc/thread-self/net.
func (a *allNetNS) open(ns *podattr.Namespace, now pcommon.Timestamp) (*nsFiles, error) {
	names := wantedNames(a.s.which)
	var files []*os.File
	var errs []error
	dir := a.lister.NetDir(ns)
	switch {
	case ns.Path == "":
		dir = "/proc/net"
		files, errs = netnsutil.OpenFiles("/proc/thread-self/net", names...)
	case dir != "":
		files, errs = netnsutil.OpenFiles(dir, names...)
		if !a.lister.Member(ns) {
			// The process exited (its PID maybe reused) since the walk: what
			// was opened may be another namespace's.
			closeAll(files)
			return nil, errVanished
		}
	default:
		t, err := netnsutil.Config{NetNS: ns.Path}.Open()
		if err != nil {
			return nil, err
		}
		defer t.Close()
		if t.Inode() != ns.Inode {
			return nil, errVanished
		}
		dir = "/proc/net"
		if files, errs, err = t.OpenNet(names...); err != nil {
			return nil, fmt.Errorf("no process in it to read /proc/PID/net from, and %w", err)
		}
	}
	f := &nsFiles{listed: *ns}
	missing, err := f.set(a.s.which, files, errs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for _, i := range missing {
		a.s.logger.Debug("counter file not present in a namespace, its counters will not be reported",
			zap.String("netns", ns.Label), zap.String("file", filepath.Join(dir, fileNames[i])))
	}
	f.nsCounters = a.s.newCounters(ns.Label, now, func(i int) string { return filepath.Join(dir, fileNames[i]) })
	rb := a.s.mb.NewResourceBuilder()
	ns.SetResource(rb)
	f.resource = rb.Emit()
	return f, nil
}

func (a *allNetNS) close() {
	for k, f := range a.nss {
		f.close()
		delete(a.nss, k)
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}
