package tcpflowreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
)

// TestNSTableResources: a namespace's resource carries its path and
// identity; an unknown namespace causes a new walk at most every
// minRewalk, a known one never; a walk's error is reported once.
func TestNSTableResources(t *testing.T) {
	tb := newNSTable(&podattr.Lister{}, metadata.DefaultResourceAttributesConfig())
	walks := 0
	var walkErr error
	tb.list = func() ([]podattr.Namespace, bool, error) {
		walks++
		nss := []podattr.Namespace{
			{Label: "/proc/7/ns/net", Path: "/proc/7/ns/net", Inode: 10, PID: 7, ID: podattr.Identity{PodUID: "uid-1", PID: 7}, Known: true},
			{Label: "/run/netns/blue", Path: "/run/netns/blue", Inode: 11, ID: podattr.Identity{ContainerID: "c1", PID: 9}, Known: true},
		}
		if walks == 2 {
			nss = append(nss, podattr.Namespace{Label: "/proc/1/ns/net", Path: "/proc/1/ns/net", Inode: 12, PID: 1, ID: podattr.Identity{Host: true, PID: 1}, Known: true})
		}
		return nss, false, walkErr
	}
	tb.mu.Lock()
	require.NoError(t, tb.walk())
	tb.mu.Unlock()

	attrs := func(ino uint64) map[string]any { return tb.resource(ino).Attributes().AsRaw() }
	require.Equal(t, map[string]any{"netns.inode": int64(10), "netns.path": "/proc/7/ns/net", "k8s.pod.uid": "uid-1", "process.pid": int64(7), "netns.host": false}, attrs(10))
	require.Equal(t, map[string]any{"netns.inode": int64(11), "netns.path": "/run/netns/blue", "container.id": "c1", "process.pid": int64(9), "netns.host": false}, attrs(11))
	require.Equal(t, 1, walks, "known namespaces need no walk")

	require.Equal(t, map[string]any{"netns.inode": int64(12)}, attrs(12), "unknown right after a walk")
	require.Equal(t, 1, walks, "no walk within minRewalk")
	tb.walked = tb.walked.Add(-minRewalk)
	walkErr = errors.New("listing /nonexistent: gone")
	require.Equal(t, map[string]any{"netns.inode": int64(12), "netns.path": "/proc/1/ns/net", "netns.host": true, "process.pid": int64(1)}, attrs(12))
	require.Equal(t, 2, walks)
	require.ErrorContains(t, tb.err(), "gone")
	require.NoError(t, tb.err(), "reported once")
}
