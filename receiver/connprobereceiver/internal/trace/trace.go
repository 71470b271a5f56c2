// Package trace runs traceroutes (ICMP, UDP or TCP probes with rising
// TTL), one probe in flight at a time and paced, so that ICMP rate
// limiting on routers shows up as "answered some probes, not others"
// instead of as loss or a wrong hop; and it tracks route changes between
// traces with a stable path id.
package trace // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"

import (
	"context"
	"hash/fnv"
	"net/netip"
	"time"
)

// Answer is what one probe got back.
type Answer struct {
	From    netip.Addr    // zero when nothing answered
	RTT     time.Duration // valid when From is set
	Reached bool          // the destination itself answered
	// Unreachable is set when a router (or the destination) answered with
	// "destination unreachable": the trace cannot go further.
	Unreachable bool
}

// Prober sends one probe with the given TTL and waits for its answer or
// the timeout. A zero Answer with nil error means no answer.
type Prober interface {
	Probe(ctx context.Context, ttl int, seq uint16, timeout time.Duration) (Answer, error)
}

// Options of one trace.
type Options struct {
	MaxHops      int
	ProbesPerHop int
	Timeout      time.Duration // per probe
	// Pace is the least time between two probes of a trace, so that a
	// router's ICMP rate limit (Linux: 1/s per source after a burst of 6)
	// is met as seldom as possible.
	Pace time.Duration
}

// Hop is the outcome at one TTL.
type Hop struct {
	TTL      int
	Addr     netip.Addr      // the address that answered (the first one, if several did)
	RTTs     []time.Duration // of the answered probes
	Sent     int
	Answered int
}

// Status of a hop: all probes answered, some (the rest were most likely
// rate-limited: the hop did answer), or none.
func (h Hop) Status() string {
	switch {
	case h.Answered == 0:
		return "no_answer"
	case h.Answered < h.Sent:
		return "partial"
	}
	return "answered"
}

// Path is the result of one trace.
type Path struct {
	Hops    []Hop
	Reached bool // the destination answered at the last hop
	Start   time.Time
}

// Run traces the path, hop by hop, stopping at the destination, at an
// unreachable, at MaxHops or when ctx ends. The error is the first probe
// error (a socket failure, not a missing answer).
func Run(ctx context.Context, p Prober, opt Options) (Path, error) {
	path := Path{Start: time.Now()}
	probes := max(opt.ProbesPerHop, 1)
	var (
		seq      uint16
		lastSend time.Time
	)
	for ttl := 1; ttl <= opt.MaxHops; ttl++ {
		hop := Hop{TTL: ttl}
		stop := false
		for range probes {
			if !lastSend.IsZero() && !Sleep(ctx, opt.Pace-time.Since(lastSend)) {
				return path, ctx.Err()
			}
			lastSend = time.Now()
			seq++
			a, err := p.Probe(ctx, ttl, seq, opt.Timeout)
			hop.Sent++
			if err != nil {
				path.Hops = append(path.Hops, hop)
				return path, err
			}
			if !a.From.IsValid() {
				continue
			}
			hop.Answered++
			hop.RTTs = append(hop.RTTs, a.RTT)
			if !hop.Addr.IsValid() {
				hop.Addr = a.From
			}
			if a.Reached {
				path.Reached = true
				stop = true
			}
			if a.Unreachable {
				stop = true
			}
		}
		path.Hops = append(path.Hops, hop)
		if stop || ctx.Err() != nil {
			break
		}
	}
	if path.Reached {
		walkBack(ctx, p, opt, &path, &seq, &lastSend)
	}
	return path, ctx.Err()
}

// walkBack handles a destination that was silent at lower TTLs because it
// rate-limits its ICMP errors (port unreachable, like time exceeded, is
// limited to 1/s after a burst): while the hop just before the
// destination answered nothing, probe that TTL again, paced; if the
// destination answers there, it is the real hop count.
func walkBack(ctx context.Context, p Prober, opt Options, path *Path, seq *uint16, lastSend *time.Time) {
	for n := len(path.Hops); n >= 2 && path.Hops[n-2].Answered == 0 && ctx.Err() == nil; n = len(path.Hops) {
		pace := max(opt.Pace, 100*time.Millisecond)
		if !Sleep(ctx, pace-time.Since(*lastSend)) {
			return
		}
		*lastSend = time.Now()
		*seq++
		prev := &path.Hops[n-2]
		a, err := p.Probe(ctx, prev.TTL, *seq, opt.Timeout)
		prev.Sent++
		if err != nil || !a.From.IsValid() {
			return
		}
		prev.Answered++
		prev.RTTs = append(prev.RTTs, a.RTT)
		prev.Addr = a.From
		if !a.Reached {
			return
		}
		path.Hops = path.Hops[:n-1]
	}
}

// Sleep waits for d or until ctx is done, and reports whether the full time
// passed (false when cancelled). It paces traceroute probes and the engine's
// schedulers alike.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Tracker follows the path to one target across traces.
type Tracker struct {
	hops    []netip.Addr // per TTL; zero where no hop ever answered
	id      uint64
	changes uint64
	known   bool
	reached bool // the destination answered at len(hops) at least once
}

// Change describes a route change.
type Change struct {
	Old, New     []netip.Addr
	OldID, NewID uint64
}

// Update folds a finished trace in. A path counts as changed only when a
// hop answered from a different address than before, or the destination
// answered at a different hop count; a hop that did not answer (rate
// limiting, loss) and a trace that never reached the destination are
// never a change by themselves. The first path is not a change.
func (t *Tracker) Update(p Path) (changed bool, c Change) {
	addrs := make([]netip.Addr, len(p.Hops))
	for i, h := range p.Hops {
		addrs[i] = h.Addr
	}
	if !t.known {
		t.hops, t.known, t.reached = addrs, true, p.Reached
		t.id = pathID(t.hops)
		return false, Change{}
	}
	for i := range min(len(addrs), len(t.hops)) {
		if addrs[i].IsValid() && t.hops[i].IsValid() && addrs[i] != t.hops[i] {
			changed = true
		}
	}
	if p.Reached && t.reached && len(addrs) != len(t.hops) {
		// The destination answered at another hop count. Silent hops
		// right before the destination prove nothing (it rate-limits its
		// errors too, so lower TTLs that reached it may go unanswered):
		// only a hop that answered in that stretch makes it a change.
		short, long := addrs, t.hops
		if len(addrs) > len(t.hops) {
			short, long = t.hops, addrs
		}
		for _, a := range long[len(short)-1 : len(long)-1] {
			if a.IsValid() {
				changed = true
			}
		}
		if !changed && len(addrs) > len(t.hops) {
			// Keep the shorter, better-known length.
			dst := addrs[len(addrs)-1]
			addrs = append(addrs[:len(t.hops)-1:len(t.hops)-1], dst)
		}
	}
	if !changed {
		if p.Reached && (!t.reached || len(addrs) < len(t.hops)) {
			// Learn the length (first or shorter arrival).
			t.hops = append(t.hops[:min(len(t.hops), len(addrs))], make([]netip.Addr, max(0, len(addrs)-len(t.hops)))...)
		}
		for i := range min(len(addrs), len(t.hops)) {
			if addrs[i].IsValid() {
				t.hops[i] = addrs[i]
			}
		}
		t.reached = t.reached || p.Reached
		t.id = pathID(t.hops)
		return false, Change{}
	}
	c = Change{Old: t.hops, OldID: t.id, New: addrs}
	t.hops, t.reached = addrs, p.Reached
	t.id = pathID(addrs)
	t.changes++
	c.NewID = t.id
	return true, c
}

// ID is a hash of the current hop list (non-answering hops count as "*");
// 0 before the first trace. It fits in 63 bits so that it is a valid
// positive int64 gauge value.
func (t *Tracker) ID() uint64 { return t.id }

// Changes is the number of route changes seen so far.
func (t *Tracker) Changes() uint64 { return t.changes }

// Hops is the current hop list (do not modify).
func (t *Tracker) Hops() []netip.Addr { return t.hops }

func pathID(hops []netip.Addr) uint64 {
	h := fnv.New64a()
	for _, a := range hops {
		if a.IsValid() {
			b := a.As16()
			_, _ = h.Write(b[:])
		} else {
			_, _ = h.Write([]byte{'*'})
		}
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64() >> 1
}
