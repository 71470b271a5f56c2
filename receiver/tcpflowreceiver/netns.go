package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
)

// The namespace handling of all_netns, in one place: the probe reports each
// flow's namespace inode; this table names it (netns.path) and attributes
// it to a pod or container, from the namespace list sockstate and netsnmp
// use too (podattr.Lister: one walk of the procfs), repeated only when a
// namespace not seen in the last walk appears.

// minRewalk is the shortest time between two procfs walks caused by unknown
// namespaces: flows of a namespace no process is in (bound under a path
// other than /run/netns) would otherwise cause one walk per sample.
const minRewalk = 5 * time.Second

// nsTable maps network namespace inodes to their resources. It is used by
// the scrape and by the logs pipeline's sample and close readers at once.
type nsTable struct {
	rac metadata.ResourceAttributesConfig

	mu     sync.Mutex
	list   func() ([]podattr.Namespace, bool, error) // podattr.Lister.List (a seam for tests)
	walked time.Time
	// From the last walk: each namespace listed, by inode, and for the
	// socket-walk iterator a path to enter each.
	byInode map[uint64]podattr.Namespace
	paths   map[uint64]string
	// resources built since the last walk
	res map[uint64]pcommon.Resource
	// walkErr is the last walk's error, reported by the next scrape.
	walkErr error
}

func newNSTable(l *podattr.Lister, rac metadata.ResourceAttributesConfig) *nsTable {
	return &nsTable{rac: rac, list: l.List, res: map[uint64]pcommon.Resource{}}
}

// walk lists the namespaces again (the collector's own, /run/netns/* and
// the processes', at most max_netns) and forgets the resources built.
// Called with mu held.
func (t *nsTable) walk() error {
	nss, _, err := t.list()
	t.byInode = make(map[uint64]podattr.Namespace, len(nss))
	t.paths = make(map[uint64]string, len(nss))
	for _, ns := range nss {
		t.byInode[ns.Inode], t.paths[ns.Inode] = ns, ns.Path
	}
	clear(t.res)
	t.walked = time.Now()
	return err
}

// rewalk walks again and keeps its error for the next scrape. Called with
// mu held.
func (t *nsTable) rewalk() {
	if err := t.walk(); err != nil {
		t.walkErr = err
	}
}

// namespaces walks and returns every namespace to read with the
// socket-walk iterator, by inode (probe.Config.Namespaces).
func (t *nsTable) namespaces() map[uint64]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rewalk()
	return t.paths
}

// resource returns the resource of the namespace with inode ino: what the
// last walk found of it (netns.path, netns.inode, whose it is), or only
// netns.inode for a namespace the walk did not list. An unlisted namespace
// causes a new walk, at most every minRewalk.
func (t *nsTable) resource(ino uint64) pcommon.Resource {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, known := t.byInode[ino]
	stale := !known && time.Since(t.walked) >= minRewalk
	if r, ok := t.res[ino]; ok && !stale {
		return r
	}
	if stale {
		t.rewalk()
	}
	rb := metadata.NewResourceBuilder(t.rac)
	if ns, ok := t.byInode[ino]; ok {
		ns.SetResource(rb)
	} else {
		rb.SetNetnsInode(int64(ino))
	}
	r := rb.Emit()
	t.res[ino] = r
	return r
}

// err returns and forgets the last walk's error.
func (t *nsTable) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.walkErr
	t.walkErr = nil
	return err
}
