package sockstatereceiver

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
)

// eventsCounter keeps full TCP sockets' counts current through the
// sock:inet_sock_set_state tracepoint, so a scrape reads a few map entries
// instead of walking every socket. Those counts are the deltas since
// attach added to a base from one iterator pass at start; every resync
// interval another pass replaces the base and the difference is reported as
// drift. Timewait and request sockets have no tracepoint: where the kernel
// allows fentry/fexit, hooks on the functions that hash and unhash them keep
// their deltas the same way (kcount.MiniHooks), so a scrape reads counters
// only; elsewhere they come from a sock_diag dump filtered to their states
// (the kernel walks its hash but only reports those). UDP is counted by its
// iterator each scrape (UDP sockets are few); UDP-Lite, RAW and listeners
// come from sock_diag.
type eventsCounter struct {
	iter     *iteratorCounter
	ev       *kcount.Events
	hooks    *kcount.MiniHooks // nil: timewait and request sockets by filtered dump
	thread   *netnsutil.Thread // in the namespace: opens the iterators each scrape
	netns    uint32
	interval time.Duration
	logger   *zap.Logger
	now      func() time.Time

	base       kcount.Deltas
	miniBase   kcount.Deltas // of timewait/request sockets, with hooks
	lastResync time.Time
	drift      int64
	resynced   bool // a resync after the seed has happened: drift is meaningful
	force      bool // resync at the next count: the counts went inconsistent

	deltas     kcount.Deltas
	miniDeltas kcount.Deltas
	counts     kcount.Counts
	ports      kcount.PortCounts
	mini       kcount.Mini
}

func openEvents(tg target, ports []uint16, interval time.Duration, logger *zap.Logger) (*eventsCounter, error) {
	ino, err := netnsutil.Inode(tg.nsPath)
	if err != nil {
		return nil, err
	}
	if ino > 1<<32-1 {
		return nil, fmt.Errorf("network namespace inode %d does not fit the kernel's 32-bit ns.inum", ino)
	}
	it, err := openIterator(tg, ports, logger)
	if err != nil {
		return nil, err
	}
	ev, err := kcount.OpenEvents()
	if err != nil {
		it.close()
		return nil, err
	}
	thread, err := netnsutil.NewThread(tg.nsPath)
	if err != nil {
		ev.Close()
		it.close()
		return nil, err
	}
	c := &eventsCounter{iter: it, ev: ev, thread: thread, netns: uint32(ino), interval: interval, logger: logger, now: time.Now}
	if c.hooks, err = kcount.OpenMiniHooks(); err != nil {
		logger.Info("sockstate events: timewait and request sockets counted by a filtered sock_diag dump per scrape (fentry/fexit hooks unavailable)", zap.Error(err))
	} else {
		logger.Info("sockstate events: timewait and request sockets counted in the kernel by fentry/fexit hooks; a scrape reads counters only", zap.Strings("hooks", c.hooks.Hooks()))
	}
	if err := c.resync(); err != nil {
		c.close()
		return nil, fmt.Errorf("seeding from an iterator pass: %w", err)
	}
	c.resynced = false
	return c, nil
}

func (*eventsCounter) method() Method { return MethodEvents }

// resync counts TCP with the iterator and makes its full sockets the new
// base.
func (c *eventsCounter) resync() error {
	var before, after, miniBefore, miniAfter kcount.Deltas
	if err := c.ev.Deltas(c.netns, &before); err != nil {
		return err
	}
	if c.hooks != nil {
		if err := c.hooks.Deltas(c.netns, &miniBefore); err != nil {
			return err
		}
	}
	if err := c.iter.it.CountWith(c.thread.Do, true, false, &c.counts, nil, &c.mini); err != nil {
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
		for st := range kcount.NStates {
			full := int64(c.counts[tcp][fi][st] - c.mini[fi][st])
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
		}
	}
	c.drift, c.resynced, c.lastResync = drift, true, c.now()
	if drift != 0 {
		c.logger.Debug("events method drift at resync", zap.Int64("drift", drift))
	}
	return nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func (c *eventsCounter) count(t *tally) error {
	if c.force || c.now().Sub(c.lastResync) >= c.interval {
		if err := c.resync(); err != nil {
			return fmt.Errorf("resync: %w", err)
		}
		c.force = false
	}
	if n, err := c.ev.Dropped(); err != nil || n != 0 {
		return errors.Join(err, fmt.Errorf("%d state changes were lost (delta map full); counts are wrong until the next resync", n))
	}
	if err := c.ev.Deltas(c.netns, &c.deltas); err != nil {
		return err
	}
	if err := c.addDeltas(t, &c.base, &c.deltas); err != nil {
		return err
	}
	if c.hooks == nil {
		if err := c.countUnhooked(t); err != nil {
			return err
		}
	} else {
		if n, err := c.hooks.Dropped(); err != nil || n != 0 {
			return errors.Join(err, fmt.Errorf("%d timewait/request socket changes were lost (delta map full); counts are wrong until the next resync", n))
		}
		if err := c.hooks.Deltas(c.netns, &c.miniDeltas); err != nil {
			return err
		}
		if err := c.addDeltas(t, &c.miniBase, &c.miniDeltas); err != nil {
			return err
		}
	}
	// UDP (and, when configured, the per-port breakdown) need a walk.
	walkTCP := t.ports[0] != nil
	if err := c.iter.it.CountWith(c.thread.Do, walkTCP, true, &c.counts, &c.ports, nil); err != nil {
		return err
	}
	if walkTCP {
		for i := range t.ports[0].Ports {
			for st := range t.ports[0].Counts[i] {
				t.ports[0].Counts[i][st] += c.ports[tcp][i][st]
			}
		}
	}
	if err := addKernelCounts(t, &c.counts, &c.ports, udp); err != nil {
		return err
	}
	return c.iter.diag.countTransports(t, udplite, raw)
}

// addDeltas adds base+deltas per family and state to the TCP counts; a
// negative or impossible count forces a resync at the next scrape.
func (c *eventsCounter) addDeltas(t *tally, base, deltas *kcount.Deltas) error {
	for fi := range 2 {
		for st := range kcount.NStates {
			v := base[fi][st] + deltas[fi][st]
			if v == 0 {
				continue
			}
			if v < 0 || st == 0 || st >= int(sockdiag.NewSynRecv) {
				c.force = true
				return fmt.Errorf("state-change counting went wrong (state %d count %d); resyncing at the next scrape", st, v)
			}
			t.conns[tcp][fi][st] += uint64(v)
		}
	}
	return nil
}

// unhookedStates selects timewait sockets (by substate: TIME_WAIT, or
// FIN_WAIT2 for orphans) and request sockets.
const unhookedStates = 1<<sockdiag.TimeWait | 1<<sockdiag.FinWait2 | 1<<sockdiag.NewSynRecv

// countUnhooked adds timewait and request sockets from a filtered dump.
// Full FIN_WAIT2 sockets in the answer are skipped (the events count
// them): a timewait socket is the one reported with timer 3.
func (c *eventsCounter) countUnhooked(t *tally) error {
	return c.iter.diag.tcpEach(unhookedStates, func(m *sockdiag.Msg) error {
		fi := 0
		if m.Family == families[1].af {
			fi = 1
		}
		switch {
		case m.Timer == timerTimeWait && (m.State == sockdiag.TimeWait || m.State == sockdiag.FinWait2):
			t.conns[tcp][fi][m.State]++
		case m.State == sockdiag.SynRecv:
			t.conns[tcp][fi][sockdiag.SynRecv]++
		case m.State == sockdiag.FinWait2:
		default:
			return fmt.Errorf("sock_diag answered a state %d socket to a timewait/request dump", m.State)
		}
		return nil
	})
}

// timerTimeWait is idiag_timer of a timewait socket.
const timerTimeWait = 3

// lastDrift returns the drift found at the last resync after the seed.
func (c *eventsCounter) lastDrift() (int64, bool) { return c.drift, c.resynced }

func (c *eventsCounter) listeners(fn func(*sockdiag.Msg) error) error { return c.iter.listeners(fn) }

// hooked reports whether timewait and request sockets are counted by hooks.
func (c *eventsCounter) hooked() bool { return c.hooks != nil }

func (c *eventsCounter) close() error {
	var err error
	if c.hooks != nil {
		err = c.hooks.Close()
	}
	c.thread.Close()
	return errors.Join(err, c.ev.Close(), c.iter.close())
}
