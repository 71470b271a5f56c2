package netnsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A path that is not a namespace (what /run/netns/NAME becomes when it is
// unmounted by `ip netns del`) reads as a namespace that no longer exists.
func TestDoOnANonNamespaceIsNotExist(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: setns is only attempted with CAP_SYS_ADMIN")
	}
	plain := filepath.Join(t.TempDir(), "gone")
	assert.NoError(t, os.WriteFile(plain, nil, 0o644))
	err := Do(plain, func() error { return nil })
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	assert.ErrorContains(t, err, "not a network namespace (deleted?)")
	assert.NotContains(t, err.Error(), "CAP_SYS_ADMIN")

	err = Do(filepath.Join(t.TempDir(), "missing"), func() error { return nil })
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

// asNobody runs the test named run again in a child process as nobody
// with no capabilities (setpriv), with env added, and returns its output;
// it skips when not root or without setpriv.
func asNobody(t *testing.T, run string, env ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs itself as nobody with setpriv")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--",
		os.Args[0], "-test.run=^"+run+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestMembersDeniedSaysSo: a process without ptrace access to others
// (here the test binary re-run as nobody) cannot read their namespace
// links: Members still returns what it could read, with an error that
// counts the processes left out and names CAP_SYS_PTRACE.
func TestMembersDeniedSaysSo(t *testing.T) {
	if os.Getenv("NETNSUTIL_CHILD") == "members" {
		m, err := Members("/proc")
		fmt.Printf("members=%d permission=%v err=%v\n", len(m), errors.Is(err, fs.ErrPermission), err)
		return
	}
	s := asNobody(t, "TestMembersDeniedSaysSo", "NETNSUTIL_CHILD=members")
	assert.Contains(t, s, "permission=true", "root's processes (PID 1 at least) are left out as nobody")
	assert.Regexp(t, `members=[1-9]`, s, "its own namespace link is readable")
	assert.Contains(t, s, "needs CAP_SYS_PTRACE")
	assert.Regexp(t, `[1-9][0-9]* of [1-9][0-9]* processes under /proc left out`, s)
}

// TestEnterPlaceholderWithoutDAC: without CAP_DAC_OVERRIDE the mode-0 file
// `ip netns add` creates before it mounts the namespace cannot be opened;
// entering it is a namespace that does not exist, not a permission error
// (all_netns listing /run/netns while namespaces come and go met it).
func TestEnterPlaceholderWithoutDAC(t *testing.T) {
	if p := os.Getenv("NETNSUTIL_PLACEHOLDER"); p != "" && os.Getenv("NETNSUTIL_CHILD") == "placeholder" {
		err := Do(p, func() error { return nil })
		_, terr := NewThread(p)
		fmt.Printf("do_notexist=%v thread_notexist=%v err=%v\n", errors.Is(err, os.ErrNotExist), errors.Is(terr, os.ErrNotExist), err)
		return
	}
	dir, err := os.MkdirTemp("", "netnsutil")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	p := filepath.Join(dir, "being-created")
	require.NoError(t, os.WriteFile(p, nil, 0))
	s := asNobody(t, "TestEnterPlaceholderWithoutDAC", "NETNSUTIL_CHILD=placeholder", "NETNSUTIL_PLACEHOLDER="+p)
	assert.Contains(t, s, "do_notexist=true thread_notexist=true")
	assert.Contains(t, s, "is not a network namespace")
}

// TestBoundInode: a namespace bound under a name has its inode; the plain
// file `ip netns add` creates before mounting over it (and `ip netns del`
// leaves behind) is a namespace that does not exist.
func TestBoundInode(t *testing.T) {
	own, err := Inode("")
	require.NoError(t, err)
	ino, err := BoundInode("/proc/self/ns/net")
	require.NoError(t, err)
	assert.Equal(t, own, ino)

	placeholder := filepath.Join(t.TempDir(), "being-created")
	require.NoError(t, os.WriteFile(placeholder, nil, 0))
	_, err = BoundInode(placeholder)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "is not a network namespace")
	_, err = BoundInode(filepath.Join(t.TempDir(), "gone"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
