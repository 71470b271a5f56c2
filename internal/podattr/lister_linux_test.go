package podattr

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// TestListerFixture lists a procfs-like tree in which processes share a
// namespace when their ns/net files are hard links of one file: the own
// namespace comes first, then (after /run/netns, which is the host's) the
// processes' namespaces under their lowest PID, in PID order, each with its
// member PID and identity, at most max.
func TestListerFixture(t *testing.T) {
	docker := "0::/system.slice/docker-" + cid + ".scope\n"
	proc, hostIno := fixtureProc(t, map[int]string{1: "0::/init.scope\n", 7: "0::/x\n", 40: docker, 30: "0::/y\n", 31: "0::/y\n"})
	if err := os.MkdirAll(filepath.Join(proc, "1", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := func(from, to int) {
		if err := os.Link(filepath.Join(proc, strconv.Itoa(from), "ns", "net"), filepath.Join(proc, strconv.Itoa(to), "ns", "net")); err != nil {
			t.Fatal(err)
		}
	}
	link(1, 7) // the host's namespace
	for _, pid := range []int{40, 30} {
		if err := os.WriteFile(filepath.Join(proc, strconv.Itoa(pid), "ns", "net"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link(30, 31)
	ino := func(pid int) uint64 {
		st, err := os.Stat(filepath.Join(proc, strconv.Itoa(pid), "ns", "net"))
		if err != nil {
			t.Fatal(err)
		}
		return inodeOf(st)
	}

	l, err := NewLister(proc, 1000, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if l.Proc() != proc {
		t.Fatalf("procfs %s, want %s", l.Proc(), proc)
	}
	nss, capped, err := l.List()
	if err != nil || capped {
		t.Fatalf("List: capped %v, %v", capped, err)
	}
	own, err := netnsutil.Inode("")
	if err != nil {
		t.Fatal(err)
	}
	if nss[0].Label != netnsutil.OwnNamespace || nss[0].Path != "" || nss[0].Inode != own {
		t.Errorf("first: %+v, want the collector's own namespace", nss[0])
	}
	var got []Namespace
	for _, ns := range nss {
		if filepath.Dir(filepath.Dir(filepath.Dir(ns.Label))) == proc {
			got = append(got, ns)
		}
	}
	path := func(pid int) string { return filepath.Join(proc, strconv.Itoa(pid), "ns", "net") }
	want := []Namespace{
		{Label: path(1), Path: path(1), Inode: hostIno, PID: 1, ID: Identity{Host: true, PID: 1}, Known: true},
		{Label: path(30), Path: path(30), Inode: ino(30), PID: 30, ID: Identity{PID: 30}, Known: true},
		{Label: path(40), Path: path(40), Inode: ino(40), PID: 40, ID: Identity{ContainerID: cid, PID: 40}, Known: true},
	}
	if len(got) != len(want) {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("namespace %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if d := l.NetDir(&got[1]); d != filepath.Join(proc, "30", "net") {
		t.Errorf("NetDir %s", d)
	}
	if d := l.NetDir(&Namespace{}); d != "" {
		t.Errorf("NetDir without a process: %q, want none", d)
	}
	if !l.Member(&got[1]) || l.Member(&Namespace{PID: 30, Inode: ino(40)}) {
		t.Error("Member does not compare the process's namespace")
	}

	// max_netns: the own namespace, then nothing more.
	l, _ = NewLister(proc, 1, zap.NewNop())
	nss, capped, _ = l.List()
	if len(nss) != 1 || !capped {
		t.Errorf("max 1: %d listed, capped %v; want 1, capped", len(nss), capped)
	}
	if _, err := NewLister(filepath.Join(proc, "nothing"), 1, zap.NewNop()); err == nil {
		t.Error("a root_path without a procfs was accepted")
	}
}

func TestListConfig(t *testing.T) {
	if err := NewDefaultListConfig().Validate(); err != nil {
		t.Error(err)
	}
	if err := (ListConfig{AllNetNS: true}).Validate(); err == nil || err.Error() != "max_netns: must be positive, got 0" {
		t.Errorf("max_netns 0: %v", err)
	}
	c := ListConfig{AllNetNS: true, MaxNetNS: 1}
	if err := c.Conflict(netnsutil.Config{NetNS: "/run/netns/x"}); err == nil || err.Error() != "all_netns: cannot be combined with netns" {
		t.Errorf("with netns: %v", err)
	}
	if err := c.Conflict(netnsutil.Config{RootPath: "/host/proc"}); err != nil {
		t.Errorf("with root_path: %v", err)
	}
}
