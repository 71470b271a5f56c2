package kcount

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
)

const (
	established = 1
	listen      = 10
)

// TestKernelIteratorAndEvents counts a fresh namespace with the iterators,
// then follows new connections through the state-change deltas.
func TestKernelIteratorAndEvents(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.New(t)
	ln := ns.Listen(t, "tcp6", "[::1]:0")
	pairs := func(n int) { ns.Pairs(t, ln, n) }
	pairs(6)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	it, err := OpenIterator([]uint16{port})
	require.NoError(t, err)
	defer it.Close()
	var counts Counts
	var ports PortCounts
	var mini Mini
	require.NoError(t, it.Count(ns.Path, true, true, &counts, &ports, &mini))
	require.Equal(t, uint64(12), counts[0][1][established])
	require.Equal(t, uint64(1), counts[0][1][listen])
	require.Zero(t, counts[0][0][established], "no IPv4 sockets")
	require.Equal(t, uint64(6), ports[0][0][established], "server sides on the listening port")
	require.Equal(t, uint64(1), ports[0][0][listen])
	require.Equal(t, Mini{}, mini)

	// Only the walked transport is counted.
	require.NoError(t, it.Count(ns.Path, false, true, &counts, &ports, nil))
	require.Equal(t, Counts{}, counts)

	ev, err := OpenEvents()
	require.NoError(t, err)
	defer ev.Close()
	ino, err := netnsutil.Inode(ns.Path)
	require.NoError(t, err)
	var before, after Deltas
	require.NoError(t, ev.Deltas(uint32(ino), &before))
	pairs(4)
	require.NoError(t, ev.Deltas(uint32(ino), &after))
	require.Equal(t, int64(8), after[1][established]-before[1][established])
	require.Zero(t, after[1][listen]-before[1][listen])
	require.Zero(t, after[0][established]-before[0][established])
	dropped, err := ev.Dropped()
	require.NoError(t, err)
	require.Zero(t, dropped)
	require.Len(t, ev.Programs(), 1)
}
