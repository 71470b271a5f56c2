//go:build linux

package kcount

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// eventsCounter keeps a namespace's full TCP sockets' counts current
// through the shared sock:inet_sock_set_state program, whose deltas are
// keyed by namespace inode, so a count reads a few map entries instead of
// walking every socket. Those counts are the deltas added to a base from
// one iterator pass in the namespace at bind time; every resync interval
// another pass replaces the base and the difference is reported as drift.
// Timewait and request sockets have no tracepoint: where the kernel allows
// fentry/fexit, hooks on the functions that hash and unhash them keep their
// deltas the same way (MiniHooks), so a count reads counters only;
// elsewhere they come from a sock_diag dump filtered to their states (the
// kernel walks its hash but only reports those). UDP is counted by its
// iterator each time (UDP sockets are few); UDP-Lite, RAW and listeners
// come from sock_diag.
type eventsCounter struct {
	*iteratorCounter
	cn       *Counting // its health, read once per scrape
	ev       *Events
	hooks    *MiniHooks // nil: timewait and request sockets by filtered dump
	netns    uint32
	interval time.Duration
	logger   *zap.Logger
	now      func() time.Time

	base       Deltas
	miniBase   Deltas // of timewait/request sockets, with hooks
	lastResync time.Time
	drift      int64
	resynced   bool   // a resync after the seed has happened: drift is meaningful
	force      bool   // resync at the next count: the counts went inconsistent
	misses     uint64 // the programs' recursion misses at the last resync
	// dirty: sockets of this namespace changed state during the last
	// resync's pass. One that changed before the iterator reached it is
	// in both the pass and the deltas, so the base may be off by such
	// changes; the next counts resync again until a pass is quiet, at most
	// maxDirtyRetries times in a row.
	dirty        bool
	dirtyRetries int

	mini Mini
	// The last resync's pass: full sockets, and timewait/request sockets,
	// per family and state. A count right after a resync takes these
	// (they are exact as of the pass) instead of a base that may have been
	// made while sockets changed.
	passFull, passMini Deltas
}

func (c *Counting) bindEvents(d *sockdiagCounter) (*eventsCounter, error) {
	var ino uint64
	err := d.procfs.thread.Do(func() (err error) {
		ino, err = netnsutil.Inode("/proc/thread-self/ns/net")
		return err
	})
	if err != nil {
		return nil, err
	}
	if ino > 1<<32-1 {
		return nil, fmt.Errorf("network namespace inode %d does not fit the kernel's 32-bit ns.inum", ino)
	}
	e := &eventsCounter{
		iteratorCounter: &iteratorCounter{sockdiagCounter: d, it: c.it},
		cn:              c, ev: c.ev, hooks: c.hooks, netns: uint32(ino),
		interval: c.opts.ResyncInterval, logger: c.opts.Logger, now: time.Now,
	}
	if err := e.resync(); err != nil {
		return nil, fmt.Errorf("seeding from an iterator pass: %w", err)
	}
	e.resynced = false
	return e, nil
}

func (*eventsCounter) Method() Method { return MethodEvents }

// resync counts TCP with the iterator and makes its full sockets the new
// base.
func (c *eventsCounter) resync() error {
	var before, after, miniBefore, miniAfter Deltas
	// Misses from here on are after the pass began: the next count
	// resyncs again.
	h, err := c.cn.currentHealth()
	if err != nil {
		return err
	}
	if err := c.ev.Deltas(c.netns, &before); err != nil {
		return err
	}
	if c.hooks != nil {
		if err := c.hooks.Deltas(c.netns, &miniBefore); err != nil {
			return err
		}
	}
	if err := c.it.CountWith(c.procfs.thread.Do, true, false, &c.counts, nil, &c.mini); err != nil {
		return err
	}
	if err := c.ev.Deltas(c.netns, &after); err != nil {
		return err
	}
	if c.hooks != nil {
		if err := c.hooks.Deltas(c.netns, &miniAfter); err != nil {
			return err
		}
	}
	var drift int64
	for fi := range 2 {
		for st := range NStates {
			full := int64(c.counts[TCP][fi][st] - c.mini[fi][st])
			mini := int64(c.mini[fi][st])
			if c.lastResync != (time.Time{}) {
				drift += abs(full - (c.base[fi][st] + after[fi][st]))
				if c.hooks != nil {
					drift += abs(mini - (c.miniBase[fi][st] + miniAfter[fi][st]))
				}
			}
			// A change during the pass is in the iterator's count or in
			// the deltas; taking the deltas from before the pass keeps it
			// once.
			c.base[fi][st] = full - before[fi][st]
			c.miniBase[fi][st] = mini - miniBefore[fi][st]
			c.passFull[fi][st], c.passMini[fi][st] = full, mini
		}
	}
	c.drift, c.resynced, c.lastResync, c.misses = drift, true, c.now(), h.misses
	c.dirty = after != before || miniAfter != miniBefore
	if drift != 0 {
		c.logger.Debug("events method drift at resync", zap.Int64("drift", drift), zap.Uint32("netns_inode", c.netns))
	}
	return nil
}

// maxDirtyRetries bounds the resyncs in a row after one that ran while
// sockets changed: on a namespace that never goes quiet the periodic
// resync and the drift metric are what is left.
const maxDirtyRetries = 5

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func (c *eventsCounter) Count(t *Tally) error {
	h, err := c.cn.currentHealth()
	if err != nil {
		return err
	}
	if misses := h.misses; misses != c.misses {
		// The kernel skipped a program run: a state change was lost, in
		// some namespace. Every namespace's counter sees the total move and
		// recounts once.
		c.logger.Debug("events method: state changes lost to BPF recursion protection; resyncing",
			zap.Uint64("missed", misses-c.misses), zap.Uint32("netns_inode", c.netns))
		c.force = true
	}
	if h.dropped != 0 {
		return fmt.Errorf("%d state changes were lost (delta map full); counts are wrong until the next resync", h.dropped)
	}
	if c.hooks != nil && h.miniDropped != 0 {
		return fmt.Errorf("%d timewait/request socket changes were lost (delta map full); counts are wrong until the next resync", h.miniDropped)
	}
	retry := c.dirty && c.dirtyRetries < maxDirtyRetries
	fresh := c.force || retry || c.now().Sub(c.lastResync) >= c.interval
	var full, mini Deltas
	if !fresh {
		// The kept counts: base + deltas. One that went negative or into a
		// state a full socket cannot have means the base is off (a resync
		// made while sockets changed): recount now.
		ok, err := c.kept(&full, &c.base, c.ev.Deltas)
		if err != nil {
			return err
		}
		if ok && c.hooks != nil {
			if ok, err = c.kept(&mini, &c.miniBase, c.hooks.Deltas); err != nil {
				return err
			}
		}
		if !ok {
			c.logger.Debug("events method: kept counts went inconsistent; recounting", zap.Uint32("netns_inode", c.netns))
			fresh = true
		}
	}
	if fresh {
		if err := c.resync(); err != nil {
			return fmt.Errorf("resync: %w", err)
		}
		c.force = false
		if retry && c.dirty {
			c.dirtyRetries++
		} else {
			c.dirtyRetries = 0
		}
		full, mini = c.passFull, c.passMini
	}
	addStates(t, &full)
	if c.hooks == nil {
		if err := c.countUnhooked(t); err != nil {
			return err
		}
	} else {
		addStates(t, &mini)
	}
	// UDP (and, when configured, the per-port breakdown) need a walk.
	walkTCP := t.Ports[TCP] != nil
	if err := c.it.CountWith(c.procfs.thread.Do, walkTCP, true, &c.counts, &c.ports, nil); err != nil {
		return err
	}
	if walkTCP {
		for i := range t.Ports[TCP].Ports {
			for st := range t.Ports[TCP].Counts[i] {
				t.Ports[TCP].Counts[i][st] += c.ports[TCP][i][st]
			}
		}
	}
	if err := addKernelCounts(t, &c.counts, &c.ports, UDP); err != nil {
		return err
	}
	return c.countTransports(t, UDPLite, RAW)
}

// kept sets out to base plus the namespace's deltas (read by deltas) per
// family and state, and tells whether every count is possible: not
// negative, and not in state 0 or a request socket's, which no full socket
// has.
func (c *eventsCounter) kept(out, base *Deltas, deltas func(uint32, *Deltas) error) (bool, error) {
	var d Deltas
	if err := deltas(c.netns, &d); err != nil {
		return false, err
	}
	for fi := range 2 {
		for st := range NStates {
			v := base[fi][st] + d[fi][st]
			if v < 0 || (v != 0 && (st == 0 || st >= int(sockdiag.NewSynRecv))) {
				return false, nil
			}
			out[fi][st] = v
		}
	}
	return true, nil
}

// addStates adds per-family, per-state counts to the TCP counts (kept
// has checked that no full socket is counted in a state beyond them).
func addStates(t *Tally, v *Deltas) {
	for fi := range 2 {
		for st, n := range v[fi] {
			if n != 0 {
				t.Conns[TCP][fi][st] += uint64(n)
			}
		}
	}
}

// UnhookedStates selects timewait sockets (by substate: TIME_WAIT, or
// FIN_WAIT2 for orphans) and request sockets: what MethodEvents dumps per
// count where the hooks do not load.
const UnhookedStates = 1<<sockdiag.TimeWait | 1<<sockdiag.FinWait2 | 1<<sockdiag.NewSynRecv

// countUnhooked adds timewait and request sockets from a filtered dump.
// Full FIN_WAIT2 sockets in the answer are skipped (the events count
// them): a timewait socket is the one reported with timer 3.
func (c *eventsCounter) countUnhooked(t *Tally) error {
	return c.tcpEach(UnhookedStates, func(m *sockdiag.Msg) error {
		fi := familyIndex(m.Family)
		switch {
		case m.Timer == timerTimeWait && (m.State == sockdiag.TimeWait || m.State == sockdiag.FinWait2):
			t.Conns[TCP][fi][m.State]++
		case m.State == sockdiag.SynRecv:
			t.Conns[TCP][fi][sockdiag.SynRecv]++
		case m.State == sockdiag.FinWait2:
		default:
			return fmt.Errorf("sock_diag answered a state %d socket to a timewait/request dump", m.State)
		}
		return nil
	})
}

// timerTimeWait is idiag_timer of a timewait socket.
const timerTimeWait = 3

// Drift returns the drift found at the last resync after the seed.
func (c *eventsCounter) Drift() (int64, bool) { return c.drift, c.resynced }

// ForceResync makes the next Count recount the namespace first (tests,
// benchmarks).
func (c *eventsCounter) ForceResync() { c.force = true }
