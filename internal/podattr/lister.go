package podattr

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// DefaultMaxNetNS is max_netns when not configured.
const DefaultMaxNetNS = 64

// ListConfig is the all_netns block of a receiver that reads every network
// namespace of the host; receivers embed it with `mapstructure:",squash"`
// beside netnsutil.Config.
type ListConfig struct {
	// AllNetNS reads every network namespace of the host: the collector's
	// own, /run/netns/* and the distinct namespaces of the processes in
	// the procfs (root_path's, or /proc), at most MaxNetNS of them.
	AllNetNS bool `mapstructure:"all_netns"`
	MaxNetNS int  `mapstructure:"max_netns"`
}

// NewDefaultListConfig is all_netns off, max_netns DefaultMaxNetNS.
func NewDefaultListConfig() ListConfig { return ListConfig{MaxNetNS: DefaultMaxNetNS} }

// Validate checks the block; errors name the field.
func (c ListConfig) Validate() error {
	if c.MaxNetNS <= 0 {
		return fmt.Errorf("max_netns: must be positive, got %d", c.MaxNetNS)
	}
	return nil
}

// Conflict reports the namespace options all_netns cannot be combined
// with: netns names one namespace (root_path only says which procfs to
// walk). The embedding receiver's Validate calls it.
func (c ListConfig) Conflict(ns netnsutil.Config) error {
	if c.AllNetNS && ns.NetNS != "" {
		return errors.New("all_netns: cannot be combined with netns")
	}
	return nil
}

// Namespace is one network namespace a Lister found.
type Namespace struct {
	// Label is the netns.path resource attribute: netnsutil.OwnNamespace
	// for the collector's own, /run/netns/NAME, or <procfs>/PID/ns/net of
	// its lowest member process.
	Label string
	// Path is what to enter for work inside the namespace (setns); "" for
	// the collector's own.
	Path string
	// Inode identifies the namespace (netns.inode).
	Inode uint64
	// PID is the lowest PID of a process in the namespace, whose
	// <procfs>/PID/net holds the namespace's tables (readable without
	// entering); 0 when the walk saw no process in it.
	PID int
	// ID is whose namespace it is; Known says whether the walk saw a
	// process in it (ID is zero otherwise).
	ID    Identity
	Known bool
}

// ResourceBuilder is what the receivers' generated resource builders have
// in common for a namespace's resource (mdatagen names the setters after
// the attributes, so any receiver declaring them satisfies it).
type ResourceBuilder interface {
	SetNetnsPath(string)
	SetNetnsInode(int64)
	SetNetnsHost(bool)
	SetK8sPodUID(string)
	SetContainerID(string)
	SetProcessPid(int64)
}

// SetResource puts the namespace (netns.path, netns.inode) and, when it
// was listed with processes, whose it is (netns.host, k8s.pod.uid,
// container.id, process.pid) on a resource.
func (ns *Namespace) SetResource(rb ResourceBuilder) {
	rb.SetNetnsPath(ns.Label)
	rb.SetNetnsInode(int64(ns.Inode))
	if !ns.Known {
		return
	}
	rb.SetNetnsHost(ns.ID.Host)
	if ns.ID.PodUID != "" {
		rb.SetK8sPodUID(ns.ID.PodUID)
	}
	if ns.ID.ContainerID != "" {
		rb.SetContainerID(ns.ID.ContainerID)
	}
	if ns.ID.PID != 0 {
		rb.SetProcessPid(int64(ns.ID.PID))
	}
}

// Lister lists every network namespace of the host and attributes each
// (all_netns). It keeps its Resolver's cache between calls and is not safe
// for concurrent use.
type Lister struct {
	proc   string
	max    int
	res    *Resolver
	logger *zap.Logger
	warned bool // about namespace links the walk could not read
}

// NewLister lists the namespaces of the processes under the procfs at
// rootPath (as netnsutil.Config's root_path: a host procfs mount or a host
// root with proc below it), or /proc when rootPath is empty, at most max.
// logger gets one warning if processes are left out because their
// namespace links cannot be read (no CAP_SYS_PTRACE).
func NewLister(rootPath string, max int, logger *zap.Logger) (*Lister, error) {
	proc := "/proc"
	if rootPath != "" {
		dir, err := netnsutil.ProcNetDir(rootPath) // <procfs>/1/net
		if err != nil {
			return nil, err
		}
		proc = filepath.Dir(filepath.Dir(dir))
	}
	return &Lister{proc: proc, max: max, res: NewResolver(proc), logger: logger}, nil
}

// Proc is the procfs walked.
func (l *Lister) Proc() string { return l.proc }

// NetDir is where a namespace's /proc/net tables can be read without
// entering it: <procfs>/PID/net of its member process; "" when it has none.
// Reading it needs no capability (only the process must be visible: the
// host's PID namespace); listing its process needed ptrace read access.
func (l *Lister) NetDir(ns *Namespace) string {
	if ns.PID == 0 {
		return ""
	}
	return filepath.Join(l.proc, strconv.Itoa(ns.PID), "net")
}

// Member tells whether PID is still a process in the namespace (it may
// have exited and the PID been reused since the walk): a reader that
// opened NetDir checks it afterwards to know the tables are the
// namespace's.
func (l *Lister) Member(ns *Namespace) bool {
	ino, err := netnsutil.Inode(filepath.Join(l.proc, strconv.Itoa(ns.PID), "ns", "net"))
	return err == nil && ino == ns.Inode
}

// List walks the procfs once and returns the collector's own namespace,
// /run/netns/* and the distinct namespaces of the processes (each under its
// lowest PID, in PID order), deduplicated by inode, at most max; capped
// tells that more were left out. The error is the walk's: the namespaces
// not found by it are listed all the same. Processes whose namespace link
// is not readable are not an error: the first time, the logger is warned
// (per-pod collection then misses pods; a sandbox may hide PID 1's alone).
func (l *Lister) List() (out []Namespace, capped bool, err error) {
	members, err := netnsutil.Members(l.proc)
	if errors.Is(err, fs.ErrPermission) {
		if !l.warned {
			l.logger.Warn("all_netns: some processes' network namespaces cannot be read and are not listed", zap.Error(err))
			l.warned = true
		}
		err = nil
	}
	ids := l.res.Update(members)
	seen := map[uint64]bool{}
	add := func(path, label string, ino uint64) {
		if seen[ino] {
			return
		}
		if len(out) >= l.max {
			capped = true
			return
		}
		seen[ino] = true
		ns := Namespace{Label: label, Path: path, Inode: ino}
		if pids := members[ino]; len(pids) > 0 {
			ns.PID = pids[0]
		}
		ns.ID, ns.Known = ids[ino]
		out = append(out, ns)
	}
	if ino, err := netnsutil.Inode(""); err == nil {
		add("", netnsutil.OwnNamespace, ino)
	}
	if names, err := filepath.Glob("/run/netns/*"); err == nil {
		for _, n := range names {
			if ino, err := netnsutil.BoundInode(n); err == nil {
				add(n, n, ino)
			}
		}
	}
	inodes := make([]uint64, 0, len(members))
	for ino := range members {
		inodes = append(inodes, ino)
	}
	slices.SortFunc(inodes, func(a, b uint64) int { return members[a][0] - members[b][0] })
	for _, ino := range inodes {
		p := filepath.Join(l.proc, strconv.Itoa(members[ino][0]), "ns", "net")
		add(p, p, ino)
	}
	return out, capped, err
}
