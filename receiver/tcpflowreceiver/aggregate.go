package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"container/heap"
	"net/netip"
	"slices"
	"time"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/shrink"
)

// seriesKey is what survives the aggregation level; zero fields are dropped
// from the attributes.
type seriesKey struct {
	netns     uint64 // namespace inode under all_netns (a resource each), else 0
	local     netip.Addr
	localPort uint16
	peer      netip.Prefix // address (as a full-length prefix) or peer_groups CIDR; zero = absent
	peerPort  uint16
	ipv6      bool
}

// counters are the monotonic per-flow values.
type counters struct {
	retrans                   [probe.NumRetransTypes]uint64
	unclassified              uint64
	acked, received, retransB uint64
	zeroWindow, samples       uint64
}

func (c *counters) add(o *counters) {
	for i := range c.retrans {
		c.retrans[i] += o.retrans[i]
	}
	c.unclassified += o.unclassified
	c.acked += o.acked
	c.received += o.received
	c.retransB += o.retransB
	c.zeroWindow += o.zeroWindow
	c.samples += o.samples
}

func (c *counters) retransTotal() uint64 {
	n := c.unclassified
	for _, v := range c.retrans {
		n += v
	}
	return n
}

func countersOf(f *probe.Flow) counters {
	c := counters{acked: f.BytesAcked, received: f.BytesReceived, retransB: f.BytesRetrans, zeroWindow: f.ZeroWindow, samples: f.Samples}
	c.retrans = f.RetransByType
	c.unclassified = f.RetransUnclassified
	return c
}

// series is one exported attribute set.
type series struct {
	key   seriesKey
	flows int
	// start is, under aggregation flow, when the series' flow entered the
	// table: its cumulative values count from then.
	start time.Time
	// sums of gauges; divided by flows for the means
	srtt, rttvar, rto      float64
	cwnd, ssthresh, sndWnd uint64
	inFlight, lost, rq, sq uint64
	srttMin, srttMax       float64
	hasRTT                 bool
	counters
}

func (s *series) addGauges(f *probe.Flow) {
	s.flows++
	s.srtt += f.SRTT.Seconds()
	s.rttvar += f.RTTVar.Seconds()
	s.rto += f.RTO.Seconds()
	s.cwnd += uint64(f.Cwnd)
	s.ssthresh += uint64(f.Ssthresh)
	s.sndWnd += uint64(f.SendWindow)
	s.inFlight += uint64(f.InFlight)
	s.lost += uint64(f.Lost)
	s.rq += uint64(f.RecvQueue)
	s.sq += uint64(f.SendQueue)
	if f.Samples > 0 {
		lo, hi := f.SRTTMin.Seconds(), f.SRTTMax.Seconds()
		if !s.hasRTT || lo < s.srttMin {
			s.srttMin = lo
		}
		if !s.hasRTT || hi > s.srttMax {
			s.srttMax = hi
		}
		s.hasRTT = true
	}
}

type seen struct {
	key seriesKey
	c   counters
}

// peerString renders a series' peer: the address, or the group's CIDR.
func peerString(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return ""
	case p.Bits() == p.Addr().BitLen():
		return p.Addr().String()
	}
	return p.String()
}

// aggregator turns flow records into series. Above the flow level, sums stay
// monotonic as flows come and go: the last values of a flow that left the
// table (closed, evicted, or vanished with its summary lost) are folded into
// a per-series remainder.
type aggregator struct {
	level     string
	allNetNS  bool // each namespace's flows are series of their own
	groups    []netip.Prefix
	ephemeral uint16 // ports >= this are ephemeral; 0 = none
	topK      int
	gone      map[seriesKey]*counters
	// flow ID -> index in lastSeen/nextSeen (values are too large to sit in
	// a map without an allocation each)
	last, next         map[uint64]int
	lastSeen, nextSeen []seen
	out                map[seriesKey]int // index in pool
	pool               []series
	list               []*series
	poolUse            shrink.Tracker // releases pool, out and list after a burst
	// closedTop keeps, under aggregation flow with top_k, only the closed
	// flows' series that can still be exported (see final).
	closedTop topSeries
}

func newAggregator(cfg *Config) *aggregator {
	groups, _ := prefixes("peer_groups", cfg.PeerGroups, 1024)
	// Most specific group first.
	slices.SortFunc(groups, func(a, b netip.Prefix) int { return b.Bits() - a.Bits() })
	a := &aggregator{level: cfg.Aggregation, allNetNS: cfg.AllNetNS, groups: groups, topK: cfg.TopK,
		gone: map[seriesKey]*counters{}, last: map[uint64]int{}, next: map[uint64]int{}, out: map[seriesKey]int{},
		closedTop: topSeries{at: map[seriesKey]int{}}}
	if cfg.EphemeralPortMin <= 65535 {
		a.ephemeral = uint16(cfg.EphemeralPortMin)
	}
	return a
}

func (a *aggregator) isEphemeral(p uint16) bool { return a.ephemeral != 0 && p >= a.ephemeral }

func (a *aggregator) peerName(addr netip.Addr) netip.Prefix {
	for _, g := range a.groups {
		if g.Contains(addr) {
			return g
		}
	}
	return netip.PrefixFrom(addr, addr.BitLen())
}

func (a *aggregator) keyOf(f *probe.Flow) seriesKey {
	k := seriesKey{ipv6: f.IPv6}
	if a.allNetNS {
		k.netns = f.NetnsInode
	}
	lp, pp := f.Local.Port(), f.Peer.Port()
	switch a.level {
	case AggregationFlow:
		k.local, k.localPort, k.peer, k.peerPort = f.Local.Addr(), lp, a.peerName(f.Peer.Addr()), pp
	case AggregationPeer:
		k.peer = a.peerName(f.Peer.Addr())
	case AggregationLocalPort:
		// Per service: the local port of accepted flows, the peer's port of
		// outgoing ones (whose local port is ephemeral).
		if !a.isEphemeral(lp) {
			k.localPort = lp
		} else if !a.isEphemeral(pp) {
			k.peerPort = pp
		}
	}
	return k
}

// series returns the series for k, valid until the next call.
func (a *aggregator) series(k seriesKey) *series {
	i, ok := a.out[k]
	if !ok {
		i = len(a.pool)
		a.pool = append(a.pool, series{key: k})
		a.out[k] = i
	}
	return &a.pool[i]
}

// claim makes s the series of f under aggregation flow. A 4-tuple reused by
// a newer connection, or a flow re-admitted after eviction, restarts the
// series at the newer flow's start (its counters count from zero again); the
// older flow's values are then not reported. It returns false when f is the
// older one.
func claim(s *series, f *probe.Flow) bool {
	switch {
	case s.flows == 0 && s.start.IsZero(), s.start.Equal(f.Start):
	case f.Start.After(s.start):
		*s = series{key: s.key}
	default:
		return false
	}
	s.start = f.Start
	return true
}

// update takes one scrape's records — live and evicted flows from the
// iterator, closed-flow summaries from the ring buffer — and returns the
// series to export, valid until the next call. The scraper makes the same
// calls itself (begin, final for each closed flow as the probe hands it
// over, finish), so the closed flows are never copied.
func (a *aggregator) update(flows, closed []probe.Flow) []*series {
	a.begin()
	for i := range closed {
		a.final(&closed[i])
	}
	return a.finish(flows)
}

// begin starts a scrape's round. Under aggregation flow every closed flow
// makes a series, so the series buffers follow the closed-flow rate: after
// a burst they are released (package shrink) rather than kept at their peak.
func (a *aggregator) begin() {
	if a.poolUse.Note(len(a.pool), cap(a.pool)) {
		n := a.poolUse.Max()
		a.pool, a.list, a.out = make([]series, 0, n), make([]*series, 0, n), make(map[seriesKey]int, n)
	} else {
		clear(a.out)
		a.pool = a.pool[:0]
	}
	clear(a.next)
	a.nextSeen = a.nextSeen[:0]
}

// final takes a closed-flow summary: the last record of a flow that left
// the table.
//
// Under aggregation flow the flow's series reports its final values once,
// then ends. With top_k, a closed flow's series that ranks below top_k
// others closed in the same scrape can never be exported, so closed flows
// are ranked as they arrive and only the top_k are kept (closedTop): the
// memory a scrape holds no longer grows with the close rate (at 4,000
// closes/s, 40,000 series of 304 B, and their index, per 10 s scrape).
// Closed flows arrive in close order, so a 4-tuple's older connection
// comes before a newer one, which then restarts its series (claim) as in
// the pool.
func (a *aggregator) final(f *probe.Flow) { a.left(f, a.topK > 0) }

// left takes the last record of a flow that left the table (closed, or
// evicted as finish finds it); ranked keeps it in closedTop under
// aggregation flow rather than in the pool.
func (a *aggregator) left(f *probe.Flow, ranked bool) {
	k := a.keyOf(f)
	c := countersOf(f)
	delete(a.last, f.ID)
	if a.level == AggregationFlow {
		if ranked {
			a.closedTop.offer(a.topK, k, f, &c)
			return
		}
		if s := a.series(k); claim(s, f) {
			s.counters.add(&c)
		}
		return
	}
	g := a.gone[k]
	if g == nil {
		g = &counters{}
		a.gone[k] = g
	}
	g.add(&c)
}

// finish takes the flow iterator's records and returns the series to
// export, valid until the next begin.
func (a *aggregator) finish(flows []probe.Flow) []*series {
	perFlow := a.level == AggregationFlow
	for i := range a.closedTop.items {
		*a.series(a.closedTop.items[i].key) = a.closedTop.items[i]
	}
	a.closedTop.reset()
	for i := range flows {
		f := &flows[i]
		if f.Kind != probe.KindLive {
			a.left(f, false)
			continue
		}
		k := a.keyOf(f)
		c := countersOf(f)
		if s := a.series(k); !perFlow || claim(s, f) {
			s.addGauges(f)
			s.counters.add(&c)
		}
		a.next[f.ID] = len(a.nextSeen)
		a.nextSeen = append(a.nextSeen, seen{key: k, c: c})
		delete(a.last, f.ID)
	}
	// Flows that vanished without a record (summary lost to a full ring).
	for _, i := range a.last {
		v := &a.lastSeen[i]
		if !perFlow {
			g := a.gone[v.key]
			if g == nil {
				g = &counters{}
				a.gone[v.key] = g
			}
			g.add(&v.c)
		}
	}
	a.last, a.next = a.next, a.last
	a.lastSeen, a.nextSeen = a.nextSeen, a.lastSeen
	if !perFlow {
		for k, g := range a.gone {
			a.series(k).counters.add(g)
		}
	}
	a.list = a.list[:0]
	for i := range a.pool {
		a.list = append(a.list, &a.pool[i])
	}
	slices.SortFunc(a.list, rank)
	if a.topK > 0 && len(a.list) > a.topK {
		a.list = a.list[:a.topK]
	}
	return a.list
}

// rank orders series for top_k: most retransmits first, then most bytes.
func rank(x, y *series) int {
	if d := cmpDesc(x.retransTotal(), y.retransTotal()); d != 0 {
		return d
	}
	return cmpDesc(x.acked+x.received, y.acked+y.received)
}

// topSeries is a bounded min-heap of series by rank: its root is the
// lowest ranked, the one a better candidate replaces.
type topSeries struct {
	items []series
	at    map[seriesKey]int // index in items
}

func (t *topSeries) Len() int           { return len(t.items) }
func (t *topSeries) Less(i, j int) bool { return rank(&t.items[i], &t.items[j]) > 0 }
func (t *topSeries) Swap(i, j int) {
	t.items[i], t.items[j] = t.items[j], t.items[i]
	t.at[t.items[i].key], t.at[t.items[j].key] = i, j
}
func (t *topSeries) Push(x any) { panic("topSeries: use offer") }
func (t *topSeries) Pop() any   { panic("topSeries: use offer") }

// offer takes a closed flow's final values: into its key's series when that
// is kept (claim decides which connection the series is), else as a new
// series when fewer than k are kept or it ranks above the lowest.
func (t *topSeries) offer(k int, key seriesKey, f *probe.Flow, c *counters) {
	if i, ok := t.at[key]; ok {
		if s := &t.items[i]; claim(s, f) {
			s.counters.add(c)
			heap.Fix(t, i)
		}
		return
	}
	s := series{key: key, start: f.Start, counters: *c}
	switch {
	case len(t.items) < k:
		t.items = append(t.items, s)
		t.at[key] = len(t.items) - 1
		heap.Fix(t, len(t.items)-1)
	case rank(&s, &t.items[0]) < 0:
		delete(t.at, t.items[0].key)
		t.items[0] = s
		t.at[key] = 0
		heap.Fix(t, 0)
	}
}

func (t *topSeries) reset() {
	t.items = t.items[:0]
	clear(t.at)
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
