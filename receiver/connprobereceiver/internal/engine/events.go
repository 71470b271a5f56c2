package engine

import (
	"net/netip"
	"time"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

// EventKind says which result an Event carries.
type EventKind uint8

// Event kinds.
const (
	// EventPingBurst: one echo burst finished (its last answer or its
	// deadline arrived); Burst is set.
	EventPingBurst EventKind = iota + 1
	// EventTrace: one traceroute finished; Trace is set.
	EventTrace
	// EventPortScan: one port's connect probe finished; Port is set.
	EventPortScan
	// EventRouteChange: the trace that just finished took another route
	// than the known one; Change is set (sent right after its EventTrace).
	EventRouteChange
)

// Event is one finished result, handed to Config.Events as it completes,
// independently of Collect's windows.
type Event struct {
	Kind EventKind
	// Time is when the result completed.
	Time time.Time
	// Target and Host identify the target (Target.Name, Target.Host);
	// Tag is the target's Target.Tag, unchanged.
	Target, Host string
	Tag          any
	Addr         netip.Addr

	Burst  *BurstResult
	Trace  *TraceResult
	Port   *PortResult
	Change *trace.Change
}

// BurstResult is one echo burst.
type BurstResult struct {
	Sent, Received int
	// RTT over the burst's replies (N = replies with an RTT).
	RTT RTTStats
}

// TraceResult is one finished trace, with the route as then known.
type TraceResult struct {
	Hops    []trace.Hop
	Reached bool
	PathID  uint64
}

// emit hands ev to Config.Events, if set.
func (t *target) emit(kind EventKind, a netip.Addr, at time.Time, set func(*Event)) {
	fn := t.e.cfg.Events
	if fn == nil {
		return
	}
	ev := Event{Kind: kind, Time: at, Target: t.spec.Name, Host: t.spec.Host, Tag: t.spec.Tag, Addr: a}
	set(&ev)
	fn(ev)
}
