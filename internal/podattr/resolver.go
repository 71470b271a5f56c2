package podattr

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Identity is what a network namespace's processes say about it.
type Identity struct {
	// Host marks the host's own namespace (that of PID 1 in the procfs
	// read). Pods with hostNetwork share it, so it names no pod.
	Host bool
	// PodUID is set when every member in a pod is in the same pod.
	PodUID string
	// ContainerID is set when every member is in one and the same
	// container: a container with a namespace of its own. A pod's
	// namespace holds its sandbox and all its containers, so it has none;
	// the pod UID is its key.
	ContainerID string
	// PID is the lowest member PID (for debugging: nsenter -t PID -n);
	// 0 when no process is left in the namespace.
	PID int
}

// Resolver derives identities from namespace memberships and caches what it
// read: a process's cgroup is read once while it stays in the same
// namespace, and a namespace's identity is derived again only when its
// member PIDs change. It is not safe for concurrent use.
type Resolver struct {
	procDir string
	hostIno uint64
	hostErr error
	procs   map[procKey]Cgroup
	nss     map[uint64]nsEntry
	// Reads counts the /proc/PID/cgroup files read, for tests and the
	// cost benchmark.
	Reads int
}

type procKey struct {
	pid int
	ino uint64 // a reused PID in another namespace is another process
}

type nsEntry struct {
	pids []int
	id   Identity
}

// NewResolver reads processes under procDir (/proc, or the host's procfs
// mounted in a container).
func NewResolver(procDir string) *Resolver {
	r := &Resolver{procDir: procDir, procs: map[procKey]Cgroup{}, nss: map[uint64]nsEntry{}}
	var st os.FileInfo
	st, r.hostErr = os.Stat(filepath.Join(procDir, "1", "ns", "net"))
	if r.hostErr == nil {
		r.hostIno = inodeOf(st)
	}
	return r
}

// HostInode is the inode of PID 1's network namespace, 0 if unreadable.
func (r *Resolver) HostInode() uint64 { return r.hostIno }

// Update takes one walk's memberships (netnsutil.Members: inode to
// ascending PIDs) and returns each namespace's identity. Namespaces and
// processes absent from the walk are forgotten.
func (r *Resolver) Update(members map[uint64][]int) map[uint64]Identity {
	out := make(map[uint64]Identity, len(members))
	for ino, pids := range members {
		if e, ok := r.nss[ino]; ok && slices.Equal(e.pids, pids) {
			out[ino] = e.id
			continue
		}
		id := r.derive(ino, pids)
		r.nss[ino] = nsEntry{pids: slices.Clone(pids), id: id}
		out[ino] = id
	}
	for ino := range r.nss {
		if _, ok := members[ino]; !ok {
			delete(r.nss, ino)
		}
	}
	for k := range r.procs {
		if _, found := slices.BinarySearch(r.nss[k.ino].pids, k.pid); !found {
			delete(r.procs, k)
		}
	}
	return out
}

// Lookup returns the identity last derived for a namespace, and whether the
// last walk saw any process in it.
func (r *Resolver) Lookup(ino uint64) (Identity, bool) {
	e, ok := r.nss[ino]
	return e.id, ok
}

func (r *Resolver) derive(ino uint64, pids []int) Identity {
	id := Identity{}
	if r.hostIno != 0 && ino == r.hostIno {
		id.Host = true
		if len(pids) > 0 {
			id.PID = pids[0]
		}
		return id
	}
	podOK, ctrOK, first := true, true, true
	for _, pid := range pids {
		cg, ok := r.procs[procKey{pid, ino}]
		if !ok {
			data, err := os.ReadFile(filepath.Join(r.procDir, strconv.Itoa(pid), "cgroup"))
			if err != nil {
				continue // exited since the walk
			}
			r.Reads++
			cg = ParseCgroup(data)
			r.procs[procKey{pid, ino}] = cg
		}
		if first {
			id.PodUID, id.ContainerID, id.PID, first = cg.PodUID, cg.ContainerID, pid, false
		}
		podOK = podOK && cg.PodUID == id.PodUID
		ctrOK = ctrOK && cg.ContainerID == id.ContainerID
	}
	if !podOK {
		id.PodUID = ""
	}
	if !ctrOK {
		id.ContainerID = ""
	}
	return id
}
