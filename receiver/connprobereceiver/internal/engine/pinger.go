package engine

import (
	"container/heap"
	"context"
	"fmt"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"
)

// pinger sends the echo bursts of every target from one goroutine driven
// by a timer heap, and reads the answers on the same goroutine: at each
// wake-up it drains the shared ICMP sockets (recvmmsg; each answer keeps
// its kernel receive timestamp), then runs the events due within the
// coalescing window. No goroutine, channel or timer per target or per
// probe, and one wake-up per window, so 1000 targets cost less CPU than
// fping. A burst is added to its address's window once, when its last
// answer or its deadline arrives.
type pinger struct {
	e    *Engine
	mu   sync.Mutex
	h    eventHeap
	wake chan struct{}
	busy int // bursts started and not yet finished

	conns []*ping.Conn // run's scratch list of the polled sockets
}

// pingSched is the ping schedule of one address of one target.
type pingSched struct {
	t        *target
	addr     netip.Addr
	st       *addrState
	next     time.Time
	stopped  bool
	running  bool // a burst is in flight
	deferred bool // its start came while the previous burst ran
}

type burst struct {
	p         *pinger
	s         *pingSched
	c         *ping.Conn
	req       ping.Request
	buf       []byte
	probes    []*ping.Probe
	toSend    int
	answered  int
	received  int
	rtts      []time.Duration
	deadline  *event
	finished  bool
	sendError error
}

const (
	evStart    = iota // a scheduled burst start; schedules the next one
	evDeferred        // a start that waited for the previous burst
	evSend
	evDeadline
)

type event struct {
	at    time.Time
	kind  uint8
	s     *pingSched
	b     *burst
	index int
}

type eventHeap []*event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *eventHeap) Push(x any)        { e := x.(*event); e.index = len(*h); *h = append(*h, e) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// coalesce is how early an event may run to share a wake-up with others
// (the sends within one burst at most half their spacing early). Each
// wake-up of the process costs more CPU than the packets it handles:
// with 20 ms windows the engine pinging 1000 targets wakes about 50
// times a second, sends a batch and takes the answers of the previous
// ones.
const coalesce = 20 * time.Millisecond

// early is how early ev may run.
func early(ev *event) time.Duration {
	if ev.kind == evSend {
		return min(coalesce, ev.b.s.t.spec.PingSpacing/2)
	}
	return coalesce
}

// deadlineSlack is added to a burst's deadline, which may run coalesce
// early: a burst never closes before its timeout, and the sockets are
// read right before. Whether an answer counts is decided by its kernel
// timestamps against PingTimeout, not by when it is read.
const deadlineSlack = coalesce

func newPinger(e *Engine) *pinger { return &pinger{e: e, wake: make(chan struct{}, 1)} }

func (p *pinger) pushLocked(ev *event) {
	heap.Push(&p.h, ev)
	if ev.index == 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// add schedules an address's bursts from a random phase within the
// interval, so thousands of targets spread out instead of firing at once.
func (p *pinger) add(t *target, a netip.Addr, st *addrState) *pingSched {
	s := &pingSched{t: t, addr: a, st: st}
	s.next = time.Now().Add(time.Duration(rand.Int64N(int64(t.spec.PingInterval))))
	p.mu.Lock()
	p.pushLocked(&event{at: s.next, kind: evStart, s: s})
	p.mu.Unlock()
	return s
}

// remove stops an address's bursts; one in flight still finishes.
func (p *pinger) remove(s *pingSched) {
	p.mu.Lock()
	s.stopped = true
	p.mu.Unlock()
}

// run is the scheduling loop; after ctx ends it sends nothing new and
// returns once every burst in flight has finished.
func (p *pinger) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		stopping := ctx.Err() != nil
		var after []func()
		// Answers first (they may finish bursts), read after now so that
		// every answer that arrived before a due deadline is in.
		now := time.Now()
		p.conns = p.e.polledConns(p.conns[:0])
		for _, c := range p.conns {
			c.Poll()
		}
		p.mu.Lock()
		// Take every event due within the coalescing window: sends a
		// little early come in small batches, so the process wakes at most
		// once per window instead of once per probe (the RTT is unaffected:
		// each request is timestamped right before its own sendmsg).
		for len(p.h) > 0 && !p.h[0].at.After(now.Add(early(p.h[0]))) {
			ev := heap.Pop(&p.h).(*event)
			after = append(after, p.handleLocked(ev, now, stopping)...)
		}
		idle := stopping && p.busy == 0
		wait := time.Hour
		if len(p.h) > 0 {
			wait = p.h[0].at.Sub(now)
		}
		p.mu.Unlock()
		for _, f := range after {
			f()
		}
		if idle {
			return
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-p.wake:
			timer.Stop()
		case <-ctx.Done():
			if !stopping {
				// Re-evaluate at once: in-flight bursts stop sending.
				continue
			}
			// Already stopping: wait for deadlines/answers.
			select {
			case <-timer.C:
			case <-p.wake:
				timer.Stop()
			}
		}
	}
}

func (p *pinger) handleLocked(ev *event, now time.Time, stopping bool) []func() {
	switch ev.kind {
	case evStart:
		s := ev.s
		if s.stopped || stopping {
			return nil
		}
		s.next = s.next.Add(s.t.spec.PingInterval)
		if s.next.Before(now) {
			s.next = now
		}
		p.pushLocked(&event{at: s.next, kind: evStart, s: s})
		if s.running {
			s.deferred = true
			return nil
		}
		return p.startLocked(s, now)
	case evDeferred:
		if ev.s.stopped || stopping || ev.s.running {
			return nil
		}
		return p.startLocked(ev.s, now)
	case evSend:
		return p.sendLocked(ev.b, now, stopping)
	case evDeadline:
		ev.b.deadline = nil
		return p.finishLocked(ev.b)
	}
	return nil
}

func (p *pinger) startLocked(s *pingSched, now time.Time) []func() {
	c, err := p.e.conn(sock.Family(s.addr), s.t.spec.DontFragment, true)
	if err != nil {
		return []func(){func() { s.t.fail(fmt.Errorf("pinging %s: %w", s.addr, err)) }}
	}
	spec := &s.t.spec
	b := &burst{
		p: p, s: s, c: c, toSend: spec.PingCount,
		req:    ping.Request{Dst: s.addr, PayloadSize: spec.PingPayload, TTL: spec.TTL, TOS: spec.TOS},
		buf:    make([]byte, 0, 2*spec.PingPayload+16),
		probes: make([]*ping.Probe, 0, spec.PingCount),
		rtts:   make([]time.Duration, 0, spec.PingCount),
	}
	s.running = true
	p.busy++
	return p.sendLocked(b, now, false)
}

// sendLocked sends the burst's next request (or, with zero spacing, all
// of them) and schedules the next send or the deadline.
func (p *pinger) sendLocked(b *burst, now time.Time, stopping bool) []func() {
	spacing := b.s.t.spec.PingSpacing
	for b.toSend > 0 && !stopping {
		b.toSend--
		pr, err := b.c.SendFunc(b.req, b.buf, b)
		if err != nil {
			b.sendError = err
			b.toSend = 0
			break
		}
		b.probes = append(b.probes, pr)
		if spacing > 0 && b.toSend > 0 {
			p.pushLocked(&event{at: now.Add(spacing), kind: evSend, b: b})
			return nil
		}
	}
	b.toSend = 0
	if b.answered == len(b.probes) {
		return p.finishLocked(b)
	}
	b.deadline = &event{at: now.Add(b.s.t.spec.PingTimeout + deadlineSlack), kind: evDeadline, b: b}
	p.pushLocked(b.deadline)
	return nil
}

// Answer runs on the goroutine that reads the socket: the pinger's.
func (b *burst) Answer(r ping.Result) {
	p := b.p
	p.mu.Lock()
	if b.finished {
		p.mu.Unlock()
		return
	}
	b.answered++
	// An answer later than the timeout is a loss, however early it was
	// read (the same rule as fping's -t).
	if r.Kind == ping.KindEchoReply && r.RTT() <= b.s.t.spec.PingTimeout {
		b.received++
		if !r.ReadStamped { // no arrival time: received, but no RTT
			b.rtts = append(b.rtts, r.RTT())
		}
	}
	var after []func()
	if b.toSend == 0 && b.answered == len(b.probes) {
		if b.deadline != nil {
			heap.Remove(&p.h, b.deadline.index)
			b.deadline = nil
		}
		after = p.finishLocked(b)
	}
	p.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// finishLocked closes a burst: unanswered probes are lost; the totals go
// to the address's window (after p.mu is released: target locks come
// second).
func (p *pinger) finishLocked(b *burst) []func() {
	if b.finished {
		return nil
	}
	b.finished = true
	p.busy--
	for _, pr := range b.probes {
		b.c.Forget(pr)
	}
	s := b.s
	s.running = false
	var after []func()
	if s.deferred && !s.stopped {
		s.deferred = false
		p.pushLocked(&event{at: time.Now(), kind: evDeferred, s: s})
	}
	sent, received, rtts, sendErr := len(b.probes), b.received, b.rtts, b.sendError
	done := time.Now()
	after = append(after, func() {
		if sendErr != nil {
			s.t.fail(sendErr)
		}
		if sent == 0 {
			return
		}
		s.t.mu.Lock()
		w := &s.st.window
		w.Bursts++
		w.Sent += sent
		w.Received += received
		for _, r := range rtts {
			w.RTT.Add(r)
			if len(w.RTTs) < MaxWindowSamples {
				w.RTTs = append(w.RTTs, r)
			}
		}
		s.st.sent += uint64(sent)
		s.st.recvd += uint64(received)
		s.t.mu.Unlock()
		s.t.emit(EventPingBurst, s.addr, done, func(ev *Event) {
			br := &BurstResult{Sent: sent, Received: received}
			for _, r := range rtts {
				br.RTT.Add(r)
			}
			ev.Burst = br
		})
	})
	return after
}
