package sockstatereceiver

import (
	"path/filepath"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
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
	// id is whose namespace it is (all_netns only): pod, container, a
	// member process, the host's.
	id    podattr.Identity
	hasID bool
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
// distinct namespaces of the processes under the procfs (one walk, which
// also gives each namespace's processes for attribution), at most
// max_netns, deduplicated by namespace inode.
func (s *sockScraper) allTargets(errs *scrapererror.ScrapeErrors) []target {
	proc := "/proc"
	if s.cfg.RootPath != "" {
		if dir, err := netnsutil.ProcNetDir(s.cfg.RootPath); err == nil {
			proc = filepath.Dir(filepath.Dir(dir))
		}
	}
	members, err := netnsutil.Members(proc)
	if err != nil {
		errs.AddPartial(0, err)
	}
	if s.attr == nil || s.attrProc != proc {
		s.attr, s.attrProc = podattr.NewResolver(proc), proc
	}
	ids := s.attr.Update(members)
	seen := map[uint64]bool{}
	var out []target
	add := func(path, label string, ino uint64) {
		if len(out) >= s.cfg.MaxNetNS || seen[ino] {
			return
		}
		seen[ino] = true
		if path == "/proc/thread-self/ns/net" {
			path = ""
		}
		id, ok := ids[ino]
		out = append(out, target{label: label, inode: ino, ns: kcount.Namespace{Path: path}, id: id, hasID: ok})
	}
	if ino, err := netnsutil.Inode("/proc/thread-self/ns/net"); err == nil {
		add("/proc/thread-self/ns/net", ownNetNS, ino)
	}
	if names, err := filepath.Glob("/run/netns/*"); err == nil {
		for _, n := range names {
			if ino, err := netnsutil.Inode(n); err == nil {
				add(n, n, ino)
			}
		}
	}
	// The processes' namespaces, each under its lowest PID, in PID order.
	inodes := make([]uint64, 0, len(members))
	for ino := range members {
		inodes = append(inodes, ino)
	}
	slices.SortFunc(inodes, func(a, b uint64) int { return members[a][0] - members[b][0] })
	for _, ino := range inodes {
		p := filepath.Join(proc, strconv.Itoa(members[ino][0]), "ns", "net")
		add(p, p, ino)
	}
	if len(out) >= s.cfg.MaxNetNS {
		s.logger.Debug("max_netns reached; further namespaces are not read", zap.Int("max_netns", s.cfg.MaxNetNS))
	}
	return out
}

// setIdentity puts a namespace's attribution on its resource.
func setIdentity(rb *metadata.ResourceBuilder, tg target) {
	if !tg.hasID {
		return
	}
	rb.SetNetnsHost(tg.id.Host)
	if tg.id.PodUID != "" {
		rb.SetK8sPodUID(tg.id.PodUID)
	}
	if tg.id.ContainerID != "" {
		rb.SetContainerID(tg.id.ContainerID)
	}
	if tg.id.PID != 0 {
		rb.SetProcessPid(int64(tg.id.PID))
	}
}
