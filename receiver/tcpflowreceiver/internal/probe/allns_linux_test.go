//go:build linux

package probe

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// TestAllNamespaces: with no namespace filter the probe tracks the flows of
// two namespaces (on kernels without the storage-map iterator, by walking
// each namespace Config.Namespaces lists), each record carrying its
// namespace's inode, with the values ss -ti prints in that namespace (a
// listed namespace that is gone is skipped); a probe filtered to one of
// them keeps only that one's flow.
func TestAllNamespaces(t *testing.T) {
	a, b := newEnv(t, 7101), newEnv(t, 7102)
	inoA, err := netnsutil.Inode(a.client.Path)
	require.NoError(t, err)
	inoB, err := netnsutil.Inode(b.client.Path)
	require.NoError(t, err)
	// Listed too: a namespace whose process is gone, and a path that names
	// another namespace than listed (a reused PID): both are skipped.
	listed := map[uint64]string{inoA: a.client.Path, inoB: b.client.Path, 1: "/proc/0/ns/net", 2: a.server.Path}
	// Every namespace's flows: other tests' and the host's too, hence room.
	all := open(t, Config{MaxFlows: 4096, Namespaces: func() map[uint64]string { return listed }})
	onlyA := open(t, Config{MaxFlows: 64, NetnsCookie: a.cookie, NetnsPath: a.client.Path})

	ca, cb := a.dial(t, 7101), b.dial(t, 7102)
	send(t, ca, 1<<20)
	send(t, cb, 3<<20)
	byNS := func(fs []Flow, ino uint64, local netip.AddrPort) *Flow {
		for i := range fs {
			if fs[i].NetnsInode == ino && fs[i].Local == local && fs[i].Kind == KindLive {
				return &fs[i]
			}
		}
		return nil
	}
	waitFor(t, "both flows acknowledged", func() bool {
		fs := flows(t, all)
		fa, fb := byNS(fs, inoA, localOf(ca)), byNS(fs, inoB, localOf(cb))
		return fa != nil && fb != nil && fa.BytesAcked > 1<<20 && fb.BytesAcked > 3<<20
	})
	fs := flows(t, all)
	for _, c := range []struct {
		e     *env
		ino   uint64
		local netip.AddrPort
		port  uint16
	}{{a, inoA, localOf(ca), 7101}, {b, inoB, localOf(cb), 7102}} {
		f := byNS(fs, c.ino, c.local)
		require.NotNil(t, f, "flow %s in netns inode %d", c.local, c.ino)
		require.Equal(t, c.port, f.Peer.Port())
		require.NotZero(t, f.NetnsCookie)
		ss := c.e.ssInfo(t, c.local)
		require.Equal(t, atoi(t, ss["bytes_acked"]), f.BytesAcked, "bytes_acked vs ss in %s", c.e.client)
		require.Equal(t, atoi(t, ss["segs_out"]), f.SegsOut, "segs_out vs ss in %s", c.e.client)
	}
	// A flow of the same tuple in the other namespace is not mixed in.
	require.Nil(t, byNS(fs, inoB, localOf(ca)))

	only := flows(t, onlyA)
	require.NotNil(t, find(only, localOf(ca)))
	for _, f := range only {
		require.Equal(t, inoA, f.NetnsInode, "single-namespace probe reported %s of netns inode %d", f.Local, f.NetnsInode)
	}
}
