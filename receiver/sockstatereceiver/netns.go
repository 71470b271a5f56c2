package sockstatereceiver

import (
	"fmt"
	"os"
	"path/filepath"

	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
)

// The namespace handling of this receiver, in one place: which namespaces
// are read (netns, root_path, all_netns), how they are labelled, and how a
// deleted or recreated one is noticed.

// ownNetNS labels the collector's own namespace.
const ownNetNS = netnsutil.OwnNamespace

// target is one network namespace to read.
type target struct {
	label string // the netns.path resource attribute
	inode uint64 // the netns.inode resource attribute; 0 if unknown
	ns    kcount.Namespace
}

// key identifies a target's binding across scrapes: a namespace recreated
// under the same path has another inode.
type targetKey struct {
	label string
	inode uint64
}

func (tg *target) key() targetKey { return targetKey{tg.label, tg.inode} }

// vanished tells whether the target's namespace is gone or was replaced
// since it was listed (all_netns races with `ip netns del` and exiting
// processes).
func (tg *target) vanished() bool {
	if tg.ns.Path == "" {
		return false
	}
	ino, err := netnsutil.Inode(tg.ns.Path)
	return err != nil || (tg.inode != 0 && ino != tg.inode)
}

// mainTarget is the namespace named by netns or root_path.
func (s *sockScraper) mainTarget() (target, error) {
	t, err := s.cfg.Config.Open()
	if err != nil {
		return target{}, err
	}
	t.Close() // kcount binds a thread of its own
	tg := target{label: t.Label(), inode: t.Inode(), ns: kcount.Namespace{Path: t.EnterPath()}}
	if s.cfg.RootPath != "" {
		tg.ns.ProcDir = t.NetDir() // read there, without entering
	}
	return tg, nil
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
		out = append(out, target{label: label, inode: ino, ns: kcount.Namespace{Path: path}})
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
