package sockstatereceiver

import (
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
)

// The namespace handling of this receiver, in one place: which namespaces
// are read (netns, root_path, all_netns), how they are labelled, and how a
// deleted or recreated one is noticed.

// ownNetNS labels the collector's own namespace.
const ownNetNS = netnsutil.OwnNamespace

// target is one network namespace to read: as all_netns lists it (label,
// inode, member process, whose it is) and how kcount reaches it.
type target struct {
	podattr.Namespace
	ns kcount.Namespace
}

// key identifies a target's binding across scrapes: a namespace recreated
// under the same path has another inode.
type targetKey struct {
	label string
	inode uint64
}

func (tg *target) key() targetKey { return targetKey{tg.Label, tg.Inode} }

// vanished tells whether the target's namespace is gone or was replaced
// since it was listed (all_netns races with `ip netns del` and exiting
// processes).
func (tg *target) vanished() bool {
	if tg.ns.Path == "" {
		return false
	}
	ino, err := netnsutil.Inode(tg.ns.Path)
	return err != nil || (tg.Inode != 0 && ino != tg.Inode)
}

// mainTarget is the namespace named by netns or root_path.
func (s *sockScraper) mainTarget() (target, error) {
	t, err := s.cfg.Config.Open()
	if err != nil {
		return target{}, err
	}
	t.Close() // kcount binds a thread of its own
	tg := target{Namespace: podattr.Namespace{Label: t.Label(), Inode: t.Inode()}, ns: kcount.Namespace{Path: t.EnterPath()}}
	if s.cfg.RootPath != "" {
		tg.ns.ProcDir = t.NetDir() // read there, without entering
	}
	return tg, nil
}

// allTargets lists every namespace of the host with the shared lister
// (podattr.Lister: the collector's own, /run/netns/*, the processes'
// namespaces, attributed), each entered by its path.
func (s *sockScraper) allTargets(errs *scrapererror.ScrapeErrors) []target {
	nss, capped, err := s.lister.List()
	if err != nil {
		errs.AddPartial(0, err)
	}
	if capped {
		s.logger.Debug("max_netns reached; further namespaces are not read", zap.Int("max_netns", s.cfg.MaxNetNS))
	}
	out := make([]target, len(nss))
	for i, ns := range nss {
		out[i] = target{Namespace: ns, ns: kcount.Namespace{Path: ns.Path}}
	}
	return out
}
