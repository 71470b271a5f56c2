//go:build linux

package kcount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// ipprotoUDPLite is IPPROTO_UDPLITE (Linux's; x/sys/unix has it on Linux only).
const ipprotoUDPLite = 136

// transports are each transport's IP protocol and /proc/net table name.
var transports = [NumTransports]struct {
	proto uint8
	file  string // "6" appended for IPv6
}{
	TCP:     {unix.IPPROTO_TCP, "tcp"},
	UDP:     {unix.IPPROTO_UDP, "udp"},
	UDPLite: {ipprotoUDPLite, "udplite"},
	RAW:     {unix.IPPROTO_RAW, "raw"},
}

// families are the address families a Tally's family index stands for:
// 0 IPv4, 1 IPv6.
var families = [2]uint8{unix.AF_INET, unix.AF_INET6}

// familySuffix is appended to a /proc/net table name per family.
var familySuffix = [2]string{"", "6"}

// familyIndex is a Tally's family index of an address family: 1 for
// AF_INET6, 0 otherwise.
func familyIndex(af uint8) int {
	if af == unix.AF_INET6 {
		return 1
	}
	return 0
}

// Counting is a counting method opened once: its BPF programs are loaded
// and attached by Open and serve every namespace; Bind gives a namespace a
// Counter, which costs a thread in the namespace and a netlink socket.
type Counting struct {
	method Method
	opts   Options
	it     *Iterator  // iterator and events
	ev     *Events    // events
	hooks  *MiniHooks // events, where fentry/fexit load; nil otherwise

	// health is the events programs' state, read once per scrape by
	// Refresh and compared by every bound namespace's counter.
	health    health
	refreshed bool
}

// health is what tells an events counter its deltas may be wrong.
type health struct {
	misses      uint64 // the programs' recursion misses: state changes never counted
	dropped     uint64 // state changes lost to a full delta map
	miniDropped uint64 // timewait/request changes lost to a full delta map (hooks)
}

// Refresh reads the events programs' health (recursion misses and
// delta-map drops) once for every namespace counted after it: call it at
// the start of each scrape. Under all_netns that is a handful of syscalls
// per scrape instead of per namespace. Before the first Refresh, counters
// read the health themselves. A no-op for the other methods.
func (c *Counting) Refresh() error {
	h, err := c.readHealth()
	c.health, c.refreshed = h, err == nil // on error counters read it themselves
	return err
}

func (c *Counting) readHealth() (h health, err error) {
	if c.ev == nil {
		return h, nil
	}
	if h.misses, err = c.ev.Misses(); err != nil {
		return h, err
	}
	if h.dropped, err = c.ev.Dropped(); err != nil {
		return h, err
	}
	if c.hooks == nil {
		return h, nil
	}
	m, err := c.hooks.Misses()
	if err != nil {
		return h, err
	}
	h.misses += m
	h.miniDropped, err = c.hooks.Dropped()
	return h, err
}

// currentHealth is the health read by the last Refresh, or read now if
// there was none.
func (c *Counting) currentHealth() (health, error) {
	if c.refreshed {
		return c.health, nil
	}
	return c.readHealth()
}

// Open loads what method m needs: nothing for procfs and sockdiag, the
// iterator programs for iterator (tried once in the caller's namespace),
// and for events also the state-change programs and, where the kernel
// allows fentry/fexit, the timewait and request-socket hooks.
func Open(m Method, opts Options) (_ *Counting, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	c := &Counting{method: m, opts: opts}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	switch m {
	case MethodProcfs, MethodSockDiag:
		return c, nil
	case MethodIterator, MethodEvents:
	default:
		return nil, fmt.Errorf("kcount: unknown method %q", m)
	}
	if c.it, err = OpenIterator(opts.Ports); err != nil {
		return nil, err
	}
	var counts Counts
	var ports PortCounts
	if err := c.it.Count("", true, true, &counts, &ports, nil); err != nil {
		return nil, err
	}
	if m == MethodIterator {
		return c, nil
	}
	if c.ev, err = OpenEvents(); err != nil {
		return nil, err
	}
	if c.hooks, err = OpenMiniHooks(); err != nil {
		opts.Logger.Info("sockstate events: timewait and request sockets counted by a filtered sock_diag dump per scrape (fentry/fexit hooks unavailable)", zap.Error(err))
	} else {
		opts.Logger.Info("sockstate events: timewait and request sockets counted in the kernel by fentry/fexit hooks; a scrape reads counters only", zap.Strings("hooks", c.hooks.Hooks()))
	}
	return c, nil
}

// Method returns the opened method.
func (c *Counting) Method() Method { return c.method }

// Hooked reports whether MethodEvents counts timewait and request sockets
// with fentry/fexit hooks rather than a filtered dump per scrape.
func (c *Counting) Hooked() bool { return c.hooks != nil }

// Bind returns a Counter of the namespace ns, checked to work there.
func (c *Counting) Bind(ns Namespace) (Counter, error) {
	if c.method == MethodProcfs {
		p := &procfsCounter{}
		if err := p.bind(ns); err != nil {
			return nil, err
		}
		var t Tally
		if err := p.Count(&t); err != nil {
			p.Close()
			return nil, err
		}
		return p, nil
	}
	d, err := c.bindSockdiag(ns)
	if err != nil || c.method == MethodSockDiag {
		return d, err
	}
	if c.method == MethodIterator {
		return &iteratorCounter{sockdiagCounter: d, it: c.it}, nil
	}
	e, err := c.bindEvents(d)
	if err != nil {
		d.Close()
		return nil, err
	}
	return e, nil
}

// Close unloads what Open loaded; Counters bound must be closed first.
func (c *Counting) Close() error {
	var errs []error
	if c.hooks != nil {
		errs = append(errs, c.hooks.Close())
	}
	if c.ev != nil {
		errs = append(errs, c.ev.Close())
	}
	if c.it != nil {
		errs = append(errs, c.it.Close())
	}
	return errors.Join(errs...)
}

// procfsCounter streams /proc/net/{tcp,udp,udplite,raw}{,6}.
type procfsCounter struct {
	ns     Namespace
	thread *netnsutil.Thread // in ns; nil with a ProcDir
	scan   procnet.SocketTableScanner
}

func (p *procfsCounter) bind(ns Namespace) (err error) {
	p.ns = ns
	if ns.ProcDir == "" {
		p.thread, err = netnsutil.NewThread(ns.Path)
	}
	return err
}

func (*procfsCounter) Method() Method { return MethodProcfs }

func (p *procfsCounter) InProcNet(fn func(dir string) error) error {
	if p.thread == nil {
		return fn(p.ns.ProcDir)
	}
	return p.thread.Do(func() error { return fn("/proc/thread-self/net") })
}

func (p *procfsCounter) Count(t *Tally) error {
	return p.InProcNet(func(dir string) error {
		var errs []error
		for tr := range NumTransports {
			errs = append(errs, p.countTransport(dir, tr, t))
		}
		return errors.Join(errs...)
	})
}

// countTransport reads both families' tables of one transport from dir.
func (p *procfsCounter) countTransport(dir string, tr Transport, t *Tally) error {
	var errs []error
	for fi := range families {
		name := filepath.Join(dir, transports[tr].file+familySuffix[fi])
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // IPv6 disabled, or no UDP-Lite: no sockets, not an error
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("opening %s: %w", name, err))
			continue
		}
		counts, ports := &t.Conns[tr][fi], t.PortsFor(tr)
		var bad uint8
		err = p.scan.Scan(f, func(e *procnet.SocketEntry) {
			st := sockdiag.State(e.State)
			if st == sockdiag.NewSynRecv {
				st = sockdiag.SynRecv
			}
			if st == 0 || st >= sockdiag.NumStates {
				bad = e.State
				return
			}
			counts[st]++
			if pc := ports.Of(e.LocalPort); pc != nil {
				pc[st]++
			}
		})
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing %s: %w", name, err))
		}
		if bad != 0 {
			errs = append(errs, fmt.Errorf("parsing %s: socket in unknown state %#x", name, bad))
		}
	}
	return errors.Join(errs...)
}

func (*procfsCounter) Listeners(func(*sockdiag.Msg) error) error { return ErrNoListeners }

func (p *procfsCounter) Close() error {
	if p.thread != nil {
		p.thread.Close()
		p.thread = nil
	}
	return nil
}

// sockdiagCounter dumps sockets over NETLINK_SOCK_DIAG, counting while it
// reads. A transport whose diag handler the kernel lacks (ENOENT: e.g.
// CONFIG_INET_RAW_DIAG unset) is read from procfs instead, with one warning.
type sockdiagCounter struct {
	conn     *sockdiag.Conn
	procfs   procfsCounter
	fallback [NumTransports]bool
	logger   *zap.Logger
	// perFamily is set when the kernel refused a TCP dump of both
	// families in one pass (TCPDIAG_GETSOCK); TCP then takes two passes.
	perFamily bool
}

func (c *Counting) bindSockdiag(ns Namespace) (_ *sockdiagCounter, err error) {
	d := &sockdiagCounter{logger: c.opts.Logger}
	// The thread is in the namespace even with a ProcDir (root_path): the
	// netlink socket is opened there.
	if d.procfs.thread, err = netnsutil.NewThread(ns.Path); err != nil {
		return nil, err
	}
	d.procfs.ns = ns
	err = d.procfs.thread.Do(func() (err error) {
		d.conn, err = sockdiag.Open()
		return err
	})
	if err != nil {
		d.procfs.Close()
		return nil, err
	}
	// Probe: a dump of IPv4 listeners shows whether sock_diag answers here
	// (seccomp or LSM rules may refuse it).
	var sc sockdiag.StateCounts
	if err := d.conn.Count(sockdiag.Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: sockdiag.Listen.Mask()}, &sc); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (*sockdiagCounter) Method() Method { return MethodSockDiag }

func (s *sockdiagCounter) InProcNet(fn func(dir string) error) error {
	if s.procfs.ns.ProcDir != "" {
		return fn(s.procfs.ns.ProcDir)
	}
	return s.procfs.InProcNet(fn)
}

func (s *sockdiagCounter) Count(t *Tally) error {
	return s.countTransports(t, TCP, UDP, UDPLite, RAW)
}

func (s *sockdiagCounter) countTransports(t *Tally, trs ...Transport) error {
	var errs []error
	for _, tr := range trs {
		if !s.fallback[tr] {
			err := s.dumpTransport(t, tr)
			if err == nil {
				continue
			}
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
				continue
			}
			s.fallback[tr] = true
			s.logger.Warn("kernel has no sock_diag handler for "+transports[tr].file+"; reading its /proc/net tables instead",
				zap.Error(err))
			t.Conns[tr] = [2]sockdiag.StateCounts{}
			if pc := t.PortsFor(tr); pc != nil {
				pc.Reset()
			}
		}
		errs = append(errs, s.InProcNet(func(dir string) error {
			return s.procfs.countTransport(dir, tr, t)
		}))
	}
	return errors.Join(errs...)
}

func (s *sockdiagCounter) dumpTransport(t *Tally, tr Transport) error {
	if tr == TCP && !s.perFamily {
		err := s.conn.CountFamilies(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: sockdiag.AllStates},
			&t.Conns[TCP][0], &t.Conns[TCP][1], t.PortsFor(TCP))
		var ke *sockdiag.KernelError
		if !errors.As(err, &ke) {
			return err
		}
		s.perFamily = true
		s.logger.Info("kernel refuses TCP dumps of both families in one pass; using one pass per family", zap.Error(err))
		t.Conns[TCP] = [2]sockdiag.StateCounts{}
		t.PortsFor(TCP).Reset()
	}
	for fi, af := range families {
		r := sockdiag.Request{Family: af, Protocol: transports[tr].proto, States: sockdiag.AllStates}
		if err := s.conn.CountPorts(r, &t.Conns[tr][fi], t.PortsFor(tr)); err != nil {
			return err
		}
	}
	return nil
}

// tcpEach calls fn for every TCP socket in the states, both families.
func (s *sockdiagCounter) tcpEach(states uint32, fn func(*sockdiag.Msg) error) error {
	each := func(m *sockdiag.Msg, _ []byte) error { return fn(m) }
	if !s.perFamily {
		err := s.conn.Each(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: states}, each)
		var ke *sockdiag.KernelError
		if !errors.As(err, &ke) {
			return err
		}
		s.perFamily = true
	}
	for _, af := range families {
		if err := s.conn.Each(sockdiag.Request{Family: af, Protocol: unix.IPPROTO_TCP, States: states}, each); err != nil {
			return err
		}
	}
	return nil
}

func (s *sockdiagCounter) Listeners(fn func(*sockdiag.Msg) error) error {
	return s.tcpEach(sockdiag.Listen.Mask(), fn)
}

func (s *sockdiagCounter) Close() error {
	err := s.conn.Close()
	s.procfs.Close()
	return err
}
