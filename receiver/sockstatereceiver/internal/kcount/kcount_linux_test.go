package kcount

import (
	"net"
	"testing"
	"time"

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

// TestKernelEventsRecountsInconsistentBase: when the kept counts of a
// namespace go impossible (a base made while sockets changed, here forced
// by shifting it), Count recounts the namespace at once and answers from
// that pass, exactly, instead of failing the scrape; the next count is back
// on base + deltas.
func TestKernelEventsRecountsInconsistentBase(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.New(t)
	ln := ns.Listen(t, "tcp6", "[::1]:0")
	ns.Pairs(t, ln, 5)

	cn, err := Open(MethodEvents, Options{ResyncInterval: time.Hour})
	if err != nil {
		t.Skipf("events method unavailable here: %v", err)
	}
	defer cn.Close()
	c, err := cn.Bind(Namespace{Path: ns.Path})
	require.NoError(t, err)
	defer c.Close()
	e := c.(*eventsCounter)
	count := func() Tally {
		t.Helper()
		require.NoError(t, cn.Refresh())
		var tl Tally
		require.NoError(t, c.Count(&tl))
		return tl
	}
	want := count()
	require.Equal(t, uint64(10), want.Conns[TCP][1][established])
	require.Equal(t, uint64(1), want.Conns[TCP][1][listen])

	synced := e.lastResync
	e.base[1][established] -= 11 // one below zero: impossible
	got := count()
	require.Equal(t, want.Conns, got.Conns, "answered from a recount")
	require.True(t, e.lastResync.After(synced), "recounted")
	require.Equal(t, int64(11), func() int64 { d, _ := e.Drift(); return d }(), "the shifted base is reported as drift")

	ns.Pairs(t, ln, 2) // back on base + deltas
	got = count()
	require.Equal(t, uint64(14), got.Conns[TCP][1][established])
}
