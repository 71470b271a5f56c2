package tcpflowreceiver

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/shrink"
)

func flow(id uint64, local, peer string, retrans, acked uint64) probe.Flow {
	f := probe.Flow{ID: id, Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer), BytesAcked: acked}
	f.RetransByType[probe.RetransFast] = retrans
	return f
}

func aggCfg(level string) *Config {
	c := createDefaultConfig().(*Config)
	c.Aggregation = level
	c.TopK = 0
	return c
}

func byKey(ss []*series) map[seriesKey]*series {
	m := map[seriesKey]*series{}
	for _, s := range ss {
		m[s.key] = s
	}
	return m
}

func TestAggregateLocalPort(t *testing.T) {
	a := newAggregator(aggCfg(AggregationLocalPort))
	got := byKey(a.update([]probe.Flow{
		flow(1, "10.0.0.1:443", "10.9.0.1:40000", 1, 100), // accepted: per local port
		flow(2, "10.0.0.1:443", "10.9.0.2:40001", 2, 200),
		flow(3, "10.0.0.1:50000", "10.9.0.3:5432", 4, 400), // outgoing: per peer port
	}, nil))
	require.Len(t, got, 2)
	s := got[seriesKey{localPort: 443}]
	require.NotNil(t, s)
	require.Equal(t, 2, s.flows)
	require.Equal(t, uint64(3), s.retransTotal())
	require.Equal(t, uint64(300), s.acked)
	require.Equal(t, uint64(4), got[seriesKey{peerPort: 5432}].retransTotal())
}

func TestAggregatePeerGroupsAndNone(t *testing.T) {
	c := aggCfg(AggregationPeer)
	c.PeerGroups = []string{"10.9.0.0/16", "10.9.1.0/24"}
	a := newAggregator(c)
	got := byKey(a.update([]probe.Flow{
		flow(1, "10.0.0.1:443", "10.9.0.1:40000", 1, 0),
		flow(2, "10.0.0.1:443", "10.9.1.2:40001", 1, 0), // most specific group wins
		flow(3, "10.0.0.1:443", "10.8.0.1:40001", 1, 0),
	}, nil))
	require.Len(t, got, 3)
	for _, p := range []string{"10.9.0.0/16", "10.9.1.0/24", "10.8.0.1/32"} {
		require.Contains(t, got, seriesKey{peer: netip.MustParsePrefix(p)})
	}
	require.Equal(t, "10.8.0.1", peerString(netip.MustParsePrefix("10.8.0.1/32")))
	require.Equal(t, "10.9.0.0/16", peerString(netip.MustParsePrefix("10.9.0.0/16")))
	a = newAggregator(aggCfg(AggregationNone))
	require.Len(t, a.update([]probe.Flow{flow(1, "10.0.0.1:1", "10.0.0.2:2", 0, 0), flow(2, "10.0.0.1:3", "10.0.0.2:4", 0, 0)}, nil), 1)
}

// Sums above the flow level never go down as flows close, get evicted or
// vanish without a summary.
func TestAggregateMonotonic(t *testing.T) {
	a := newAggregator(aggCfg(AggregationNone))
	total := func(ss []*series) uint64 {
		require.Len(t, ss, 1)
		return ss[0].retransTotal()
	}
	require.Equal(t, uint64(6), total(a.update([]probe.Flow{flow(1, "10.0.0.1:1", "10.0.0.2:2", 1, 0), flow(2, "10.0.0.1:3", "10.0.0.2:4", 2, 0), flow(3, "10.0.0.1:5", "10.0.0.2:6", 3, 0)}, nil)))
	closed := flow(1, "10.0.0.1:1", "10.0.0.2:2", 5, 0)
	closed.Kind = probe.KindClosed
	evicted := flow(2, "10.0.0.1:3", "10.0.0.2:4", 2, 0)
	evicted.Kind = probe.KindEvicted
	// flow 3 vanished: its last values (3) are kept
	require.Equal(t, uint64(5+2+3), total(a.update([]probe.Flow{evicted}, []probe.Flow{closed})))
	require.Equal(t, uint64(10+1), total(a.update([]probe.Flow{flow(4, "10.0.0.1:7", "10.0.0.2:8", 1, 0)}, nil)))
}

func TestAggregateFlowLevelAndTopK(t *testing.T) {
	c := aggCfg(AggregationFlow)
	c.TopK = 2
	a := newAggregator(c)
	closed := flow(9, "10.0.0.1:9", "10.0.0.2:9", 7, 0)
	closed.Kind = probe.KindClosed
	got := a.update([]probe.Flow{flow(1, "10.0.0.1:1", "10.0.0.2:2", 1, 10), flow(2, "10.0.0.1:3", "10.0.0.2:4", 1, 20), flow(3, "10.0.0.1:5", "10.0.0.2:6", 0, 99)}, []probe.Flow{closed})
	require.Len(t, got, 2)
	require.Equal(t, uint16(9), got[0].key.localPort, "closed flow reports its final values")
	require.Zero(t, got[0].flows, "no gauges for a closed flow")
	require.Equal(t, uint16(3), got[1].key.localPort, "ties broken by bytes")
	require.Len(t, a.update(nil, nil), 0, "closed flow's series ends")
}

// Under aggregation flow a series counts from its flow's admission: a reused
// 4-tuple or a re-admitted flow restarts it with the newer start, and its
// counters never go backwards under one start time.
func TestAggregateFlowRestart(t *testing.T) {
	a := newAggregator(aggCfg(AggregationFlow))
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(time.Minute)
	old := flow(1, "10.0.0.1:40000", "10.0.0.2:443", 3, 5000)
	old.Start = t0
	got := a.update([]probe.Flow{old}, nil)
	require.Len(t, got, 1)
	require.Equal(t, t0, got[0].start)
	require.Equal(t, uint64(5000), got[0].acked)

	// The old connection closes and a new one on the same 4-tuple appears in
	// the same scrape (or the flow was evicted and re-admitted).
	closed := old
	closed.Kind, closed.BytesAcked = probe.KindClosed, 6000
	young := flow(2, "10.0.0.1:40000", "10.0.0.2:443", 0, 10)
	young.Start = t1
	for _, order := range [][2]probe.Flow{{closed, young}, {young, closed}} {
		a := newAggregator(aggCfg(AggregationFlow))
		a.update([]probe.Flow{old}, nil)
		var live, done []probe.Flow
		for _, f := range order {
			if f.Kind == probe.KindClosed {
				done = append(done, f)
			} else {
				live = append(live, f)
			}
		}
		got = a.update(live, done)
		require.Len(t, got, 1)
		require.Equal(t, t1, got[0].start, "new start time")
		require.Equal(t, uint64(10), got[0].acked, "the new flow's own count, not the old flow's plus it")
		require.Equal(t, 1, got[0].flows)
	}

	// An evicted flow re-admitted later: last record, then a new start.
	ev := old
	ev.Kind = probe.KindEvicted
	a = newAggregator(aggCfg(AggregationFlow))
	a.update([]probe.Flow{old}, nil)
	got = a.update([]probe.Flow{ev}, nil)
	require.Equal(t, t0, got[0].start)
	back := old
	back.ID, back.Start, back.BytesAcked = 3, t1, 7
	got = a.update([]probe.Flow{back}, nil)
	require.Equal(t, t1, got[0].start)
	require.Equal(t, uint64(7), got[0].acked)
}

// A burst of closed flows at aggregation flow (a series each) does not pin
// the series buffers: once the burst is older than shrink.Window scrapes,
// they are reallocated at what the recent scrapes used.
func TestAggregateFlowLevelReleasesBurst(t *testing.T) {
	a := newAggregator(aggCfg(AggregationFlow))
	var burst []probe.Flow
	for i := range 20000 {
		f := flow(uint64(i+1), "10.0.0.1:443", netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 40000).String(), 0, 1)
		f.Kind = probe.KindClosed
		burst = append(burst, f)
	}
	require.Len(t, a.update(nil, burst), 20000)
	peak := cap(a.pool)
	live := []probe.Flow{flow(1, "10.0.0.1:1", "10.0.0.2:2", 0, 1)}
	// The burst's own use is noted at the next scrape's start.
	for i := range shrink.Window + 1 {
		require.Len(t, a.update(live, nil), 1)
		if i < shrink.Window {
			require.Equal(t, peak, cap(a.pool), "scrape %d: the burst is within the window", i)
		}
	}
	require.Equal(t, 1, cap(a.pool), "series buffer released after the burst")
	got := a.update(live, nil)
	require.Len(t, got, 1, "series still reported after the release")
	require.Equal(t, uint16(1), got[0].key.localPort)
}

// With top_k under aggregation flow, closed flows are ranked as they arrive
// and only top_k are kept. Every exported series must hold exactly the
// values ranking all closed flows gives it; when no 4-tuple is reused, the
// exported set is exactly that ranking's top_k. (A reused 4-tuple restarts
// its series with the newer connection, which may rank lower than the
// older one did: the k-th place then goes to a live flow or stays empty
// rather than to a closed flow already let go.)
func TestAggregateFlowTopKClosedStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 400 {
		reuse := round%2 == 1
		topK := 1 + rng.IntN(20)
		var closed, live []probe.Flow
		start := time.Unix(1000, 0)
		id := uint64(1)
		nClosed := rng.IntN(300)
		for i := range nClosed {
			port := 40000 + i
			if reuse { // a newer connection on a 4-tuple, later in close order
				port = 40000 + rng.IntN(nClosed/2+1)
			}
			f := flow(id, "10.0.0.1:443", netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(port)).String(),
				uint64(rng.IntN(4)), uint64(rng.IntN(1<<30)))
			f.Kind, f.Start = probe.KindClosed, start.Add(time.Duration(id)*time.Millisecond)
			closed = append(closed, f)
			id++
		}
		for range rng.IntN(30) {
			f := flow(id, "10.0.0.1:443", netip.AddrPortFrom(netip.MustParseAddr("10.0.0.3"), uint16(30000+id)).String(),
				uint64(rng.IntN(4)), uint64(rng.IntN(1<<30)))
			f.Start = start.Add(time.Duration(id) * time.Millisecond)
			live = append(live, f)
			id++
		}
		ref := newAggregator(aggCfg(AggregationFlow)).update(live, closed) // every series, ranked
		all := byKey(ref)
		if len(ref) > topK {
			ref = ref[:topK]
		}
		c := aggCfg(AggregationFlow)
		c.TopK = topK
		a := newAggregator(c)
		got := a.update(live, closed)
		require.Len(t, got, len(ref), "round %d", round)
		for _, s := range got {
			w, ok := all[s.key]
			require.True(t, ok, "round %d: series %v not made by the full ranking", round, s.key)
			require.Equal(t, *w, *s, "round %d: values", round)
		}
		if !reuse {
			require.Equal(t, byKey(ref), byKey(got), "round %d: the top %d", round, topK)
		}
		require.LessOrEqual(t, cap(a.pool), 2*(topK+len(live)+1),
			"round %d: the pool holds live flows and top_k closed ones, not all %d closed", round, nClosed)
	}
}
