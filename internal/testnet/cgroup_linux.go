package testnet

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// Cgroup2Root returns a mounted cgroup v2 hierarchy: the system's (unified
// or hybrid), or one mounted for the test where none is (the kernel-matrix
// guest). The test is skipped when neither works.
func Cgroup2Root(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mount-point options ... - fstype source
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	dir := t.TempDir()
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		t.Skipf("no cgroup v2 hierarchy and mounting one failed: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// InCgroup starts a process (sleep) in the namespace, moves it into the
// cgroup directory rel below root (created as the kubelet or a container
// runtime would name it), and kills it and removes the directories it
// created when the test ends.
func (n *NS) InCgroup(t testing.TB, root, rel string) *exec.Cmd {
	t.Helper()
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot create cgroup %s: %v", dir, err)
	}
	cmd := n.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs sleep in the same process once it entered the
	// namespace: wait for that before moving it.
	want, _ := netnsutil.Inode(n.Path)
	for i := 0; ; i++ {
		if ino, err := netnsutil.Inode(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)); err == nil && ino == want {
			break
		}
		if i == 500 {
			t.Fatalf("process %d never entered %s", cmd.Process.Pid, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("moving %d into %s: %v", cmd.Process.Pid, dir, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for d := dir; d != root && strings.HasPrefix(d, root); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break // still used by another process
			}
		}
	})
	return cmd
}
