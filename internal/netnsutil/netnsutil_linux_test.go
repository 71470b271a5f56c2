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

// TestMembersDeniedSaysSo: a process without ptrace access to others
// (here the test binary re-run as nobody) cannot read their namespace
// links: Members still returns what it could read, with an error that
// counts the processes left out and names CAP_SYS_PTRACE.
func TestMembersDeniedSaysSo(t *testing.T) {
	if os.Getenv("NETNSUTIL_MEMBERS_CHILD") == "1" {
		m, err := Members("/proc")
		fmt.Printf("members=%d permission=%v err=%v\n", len(m), errors.Is(err, fs.ErrPermission), err)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs itself as nobody with setpriv")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--",
		os.Args[0], "-test.run=^TestMembersDeniedSaysSo$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETNSUTIL_MEMBERS_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	assert.Contains(t, s, "permission=true", "root's processes (PID 1 at least) are left out as nobody")
	assert.Regexp(t, `members=[1-9]`, s, "its own namespace link is readable")
	assert.Contains(t, s, "needs CAP_SYS_PTRACE")
	assert.Regexp(t, `[1-9][0-9]* of [1-9][0-9]* processes under /proc left out`, s)
}
