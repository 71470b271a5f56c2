package netnsutil_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
)

// insideInode is the namespace a function passed to Do runs in.
func insideInode(t *testing.T, tg *netnsutil.Target) uint64 {
	t.Helper()
	var ino uint64
	if err := tg.Do(func() (err error) {
		ino, err = netnsutil.Inode("")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ino
}

func TestTargetOwn(t *testing.T) {
	tg, err := netnsutil.Config{}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	own, _ := netnsutil.Inode("")
	if tg.Label() != netnsutil.OwnNamespace || tg.Inode() != own || insideInode(t, tg) != own {
		t.Errorf("own namespace: label %q inode %d, want %q %d", tg.Label(), tg.Inode(), netnsutil.OwnNamespace, own)
	}
	if _, err := os.Stat(filepath.Join(tg.NetDir(), "snmp")); err != nil {
		t.Error(err)
	}
}

// A host procfs mounted in a container whose network is the host's: the
// tables are read there, and nothing is entered.
func TestTargetRootPathSameNamespace(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/proc/self", filepath.Join(root, "1")); err != nil {
		t.Fatal(err)
	}
	tg, err := netnsutil.Config{RootPath: root}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	own, _ := netnsutil.Inode("")
	if tg.Label() != filepath.Join(root, "1", "net") || tg.Inode() != own || tg.NetDir() != filepath.Join(root, "1", "net") {
		t.Errorf("label %q inode %d dir %q", tg.Label(), tg.Inode(), tg.NetDir())
	}
	if insideInode(t, tg) != own {
		t.Error("Do entered a namespace for root_path naming our own")
	}
	files, errs, err := tg.OpenNet("snmp", "nonexistent")
	if err != nil || errs[0] != nil || !errors.Is(errs[1], os.ErrNotExist) {
		t.Errorf("OpenNet: %v %v", err, errs)
	}
	files[0].Close()
	if _, err := (netnsutil.Config{RootPath: t.TempDir()}).Open(); err == nil {
		t.Error("a root_path without 1/net opened")
	}
	// PID 1's link unreadable (no ptrace access): tables still readable.
	bare := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bare, "1", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	tg2, err := netnsutil.Config{RootPath: bare}.Open()
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := tg2.Changed(); tg2.Inode() != 0 || changed || err != nil || tg2.NetDir() != filepath.Join(bare, "1", "net") {
		t.Errorf("without a namespace link: inode %d, Changed %v %v, dir %q", tg2.Inode(), changed, err, tg2.NetDir())
	}
}

func TestTargetNetnsRecreated(t *testing.T) {
	ns := testnet.New(t)
	tg, err := netnsutil.Config{NetNS: ns.Path}.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	want, _ := netnsutil.Inode(ns.Path)
	if tg.Label() != ns.Path || tg.Inode() != want || insideInode(t, tg) != want {
		t.Fatalf("label %q inode %d, want %q %d", tg.Label(), tg.Inode(), ns.Path, want)
	}
	if changed, err := tg.Changed(); changed || err != nil {
		t.Fatalf("Changed() = %v, %v on an unchanged namespace", changed, err)
	}
	// A table opened inside is the namespace's own: its lo only.
	files, errs, err := tg.OpenNet("dev")
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	dev, _ := io.ReadAll(files[0])
	files[0].Close()
	if n := strings.Count(string(dev), ":"); n != 1 || !strings.Contains(string(dev), "lo:") {
		t.Errorf("/proc/net/dev in the namespace lists %d interfaces:\n%s", n, dev)
	}
	// The same name, another namespace.
	for _, args := range [][]string{{"netns", "del", ns.Name}, {"netns", "add", ns.Name}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	if changed, err := tg.Changed(); !changed || err != nil {
		t.Errorf("Changed() = %v, %v after the namespace was recreated", changed, err)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if changed, err := tg.Changed(); !changed || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Changed() = %v, %v after the namespace was deleted, want true and ErrNotExist", changed, err)
	}
}
