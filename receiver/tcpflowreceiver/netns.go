package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
)

// The namespace handling of all_netns, in one place: the probe reports each
// flow's namespace inode; this table names it (netns.path) and attributes
// it to a pod or container (podattr), from one walk of the procfs that is
// repeated only when a namespace not seen in the last walk appears.

// minRewalk is the shortest time between two procfs walks caused by unknown
// namespaces: flows of a namespace no process is in (bound under a path
// other than /run/netns) would otherwise cause one walk per sample.
const minRewalk = 5 * time.Second

// nsTable maps network namespace inodes to their resources. It is used by
// the scrape and by the logs pipeline's sample and close readers at once.
type nsTable struct {
	proc string // the procfs walked: /proc, or the host's under root_path
	rac  metadata.ResourceAttributesConfig

	mu     sync.Mutex
	attr   *podattr.Resolver
	walked time.Time
	walkFn func() error // the walk (a seam for tests)
	// From the last walk: a path to enter each namespace (for the
	// socket-walk iterator) and its identity.
	paths map[uint64]string
	ids   map[uint64]podattr.Identity
	// resources built since the last walk
	res map[uint64]pcommon.Resource
	// walkErr is the last walk's error, reported by the next scrape.
	walkErr error
}

// procDir is the procfs all_netns walks: /proc, or the host's mounted at
// root_path (a procfs mount, or a host root with proc below it).
func procDir(rootPath string) (string, error) {
	if rootPath == "" {
		return "/proc", nil
	}
	dir, err := netnsutil.ProcNetDir(rootPath) // <proc>/1/net
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(dir)), nil
}

func newNSTable(proc string, rac metadata.ResourceAttributesConfig) *nsTable {
	t := &nsTable{proc: proc, rac: rac, attr: podattr.NewResolver(proc), res: map[uint64]pcommon.Resource{}}
	t.walkFn = t.walk
	return t
}

// walk lists the namespaces of the processes under proc (each entered and
// labelled through its lowest PID, or its /run/netns name) and the
// collector's own, and attributes them. Called with mu held.
func (t *nsTable) walk() error {
	members, err := netnsutil.Members(t.proc)
	ids := t.attr.Update(members)
	paths := make(map[uint64]string, len(members)+1)
	for ino, pids := range members {
		paths[ino] = filepath.Join(t.proc, strconv.Itoa(pids[0]), "ns", "net")
	}
	if names, gerr := filepath.Glob("/run/netns/*"); gerr == nil {
		for _, n := range names {
			if ino, err := netnsutil.Inode(n); err == nil {
				paths[ino] = n
			}
		}
	}
	if ino, err := netnsutil.Inode(""); err == nil {
		paths[ino] = netnsutil.OwnNamespace
	}
	t.paths, t.ids = paths, ids
	clear(t.res)
	t.walked = time.Now()
	return err
}

// rewalk walks again and keeps its error for the next scrape. Called with
// mu held.
func (t *nsTable) rewalk() {
	if err := t.walkFn(); err != nil {
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

// resource returns the resource of the namespace with inode ino: netns.inode,
// netns.path when a path to it is known, and what podattr found. A namespace
// the last walk did not see causes a new walk, at most every minRewalk.
func (t *nsTable) resource(ino uint64) pcommon.Resource {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, known := t.paths[ino]
	stale := !known && time.Since(t.walked) >= minRewalk
	if r, ok := t.res[ino]; ok && !stale {
		return r
	}
	if stale {
		t.rewalk()
	}
	rb := metadata.NewResourceBuilder(t.rac)
	rb.SetNetnsInode(int64(ino))
	if p, ok := t.paths[ino]; ok {
		rb.SetNetnsPath(p)
	}
	if id, ok := t.ids[ino]; ok {
		rb.SetNetnsHost(id.Host)
		if id.PodUID != "" {
			rb.SetK8sPodUID(id.PodUID)
		}
		if id.ContainerID != "" {
			rb.SetContainerID(id.ContainerID)
		}
		if id.PID != 0 {
			rb.SetProcessPid(int64(id.PID))
		}
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
