package podattr

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fixtureProc writes a procfs-like tree: PID 1's namespace file (for the
// host's inode) and a cgroup file per process.
func fixtureProc(t *testing.T, cgroups map[int]string) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	for pid, cg := range cgroups {
		p := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(p, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := filepath.Join(dir, "1", "ns", "net")
	if err := os.WriteFile(host, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(host)
	if err != nil {
		t.Fatal(err)
	}
	return dir, inodeOf(st)
}

func TestResolverFixture(t *testing.T) {
	pod := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/"
	pause, app := pod+"cri-containerd-"+cid+".scope\n", pod+"cri-containerd-"+cid[32:]+cid[:32]+".scope\n"
	docker := "0::/system.slice/docker-" + cid + ".scope\n"
	proc, hostIno := fixtureProc(t, map[int]string{
		1: "0::/init.scope\n", 7: "0::/system.slice/kubelet.service\n",
		100: pause, 101: app, 102: app,
		200: docker,
		300: "0::/user.slice/session-1.scope\n",
	})
	r := NewResolver(proc)
	if r.HostInode() != hostIno || hostIno == 0 {
		t.Fatalf("host inode %d, want %d", r.HostInode(), hostIno)
	}
	const podNS, ctrNS, plainNS = 1001, 1002, 1003
	got := r.Update(map[uint64][]int{hostIno: {1, 7}, podNS: {100, 101, 102}, ctrNS: {200}, plainNS: {300}})
	want := map[uint64]Identity{
		hostIno: {Host: true, PID: 1},
		podNS:   {PodUID: uid, PID: 100}, // two containers: the pod is the key
		ctrNS:   {ContainerID: cid, PID: 200},
		plainNS: {PID: 300},
	}
	for ino, w := range want {
		if got[ino] != w {
			t.Errorf("namespace %d: %+v, want %+v", ino, got[ino], w)
		}
	}
	if r.Reads != 5 { // PIDs 100-102, 200, 300; the host's are not read
		t.Errorf("%d cgroup reads, want 5", r.Reads)
	}

	// The same memberships again: nothing is read.
	r.Update(map[uint64][]int{hostIno: {1, 7}, podNS: {100, 101, 102}, ctrNS: {200}, plainNS: {300}})
	if r.Reads != 5 {
		t.Errorf("%d cgroup reads after an unchanged walk, want still 5", r.Reads)
	}

	// The sandbox exits: one container left, still the pod's namespace;
	// only the changed namespace is derived again, from cached cgroups.
	got = r.Update(map[uint64][]int{hostIno: {1, 7}, podNS: {101, 102}, ctrNS: {200}})
	if w := (Identity{PodUID: uid, ContainerID: cid[32:] + cid[:32], PID: 101}); got[podNS] != w {
		t.Errorf("pod namespace after the sandbox exited: %+v, want %+v", got[podNS], w)
	}
	if r.Reads != 5 {
		t.Errorf("%d cgroup reads, want 5 (cached)", r.Reads)
	}
	if _, ok := r.Lookup(plainNS); ok {
		t.Error("a namespace without processes is still known")
	}

	// A process that exited between the walk and the read is skipped.
	got = r.Update(map[uint64][]int{ctrNS: {200, 999}})
	if w := (Identity{ContainerID: cid, PID: 200}); got[ctrNS] != w {
		t.Errorf("with a vanished member: %+v, want %+v", got[ctrNS], w)
	}
	if len(r.procs) != 1 {
		t.Errorf("%d cached processes after the others left, want 1", len(r.procs))
	}
}
