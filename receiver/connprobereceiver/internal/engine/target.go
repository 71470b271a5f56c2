package engine

import (
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"

	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

// TargetSnapshot is what one target did since the previous Collect.
type TargetSnapshot struct {
	Name, Host string
	// DNS is the last resolution that finished in this window (names only).
	DNS *DNSResult
	// Errors counts errors by ErrorType since Start (cumulative).
	Errors map[string]uint64
	Addrs  []AddrSnapshot
}

// DNSResult is one resolution.
type DNSResult struct {
	Duration time.Duration
	Addrs    int
	Err      error
}

// AddrSnapshot is one resolved address of a target.
type AddrSnapshot struct {
	Addr netip.Addr
	// Ping holds the bursts that finished in this window; nil if none did.
	Ping *PingWindow
	// PacketsSent and PacketsReceived are cumulative since the address
	// was first probed.
	PacketsSent, PacketsReceived uint64
	// Trace is the last finished trace; nil before the first.
	Trace *TraceState
	// Ports holds the last scan result per port, in configured order;
	// empty before the first scan.
	Ports []PortResult
}

// PingWindow aggregates the bursts that finished within one window.
type PingWindow struct {
	Bursts   int
	Sent     int
	Received int
	// RTT holds running statistics of every reply of the window.
	RTT RTTStats
	// RTTs are the samples themselves, at most MaxWindowSamples of them
	// (memory stays bounded whatever the scrape interval).
	RTTs []time.Duration
}

// MaxWindowSamples bounds PingWindow.RTTs.
const MaxWindowSamples = 1 << 16

// RTTStats are running (Welford) statistics of round-trip times, in
// seconds: connvitals' min, mean, max and population standard deviation.
type RTTStats struct {
	N              int
	Min, Max, Mean float64
	m2             float64
}

// Add folds one sample in.
func (s *RTTStats) Add(d time.Duration) {
	v := d.Seconds()
	s.N++
	if s.N == 1 || v < s.Min {
		s.Min = v
	}
	if s.N == 1 || v > s.Max {
		s.Max = v
	}
	delta := v - s.Mean
	s.Mean += delta / float64(s.N)
	s.m2 += delta * (v - s.Mean)
}

// Stddev is the population standard deviation.
func (s *RTTStats) Stddev() float64 {
	if s.N == 0 {
		return 0
	}
	return math.Sqrt(s.m2 / float64(s.N))
}

// TraceState is the last finished trace and the route history.
type TraceState struct {
	Hops    []trace.Hop
	Reached bool
	// Path is the route as known: each hop's address from the last trace
	// where it answered (zero if it never did).
	Path         []netip.Addr
	PathID       uint64
	RouteChanges uint64
	// HopProbes counts every trace probe since Start by outcome:
	// "answered", "rate_limited" (the hop answered other probes of the
	// same trace, so the silence is its ICMP rate limit, not loss),
	// "no_answer" (the hop answered none).
	HopProbes map[string]uint64
}

// PortResult is the last connect probe of one port.
type PortResult struct {
	Port     uint16
	State    tcpconn.State // zero when Err is set
	Duration time.Duration
	Err      error
}

type target struct {
	e      *Engine
	spec   Target
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	addrs    map[netip.Addr]*addrState
	dns      *DNSResult
	errs     map[string]uint64
	lastLog  map[string]time.Time
	suppress map[string]int
}

type addrState struct {
	cancel context.CancelFunc
	ping   *pingSched // nil when ping is off
	// guarded by target.mu
	window      PingWindow
	sent, recvd uint64
	trace       *TraceState
	tracker     trace.Tracker
	hopProbes   map[string]uint64
	ports       map[uint16]PortResult
}

func (t *target) key() string { return t.spec.Key() }

func newTarget(e *Engine, spec Target) *target {
	ctx, cancel := context.WithCancel(e.ctx)
	return &target{
		e: e, spec: spec, ctx: ctx, cancel: cancel,
		addrs: map[netip.Addr]*addrState{}, errs: map[string]uint64{},
		lastLog: map[string]time.Time{}, suppress: map[string]int{},
	}
}

func (t *target) start() {
	t.e.wg.Add(1)
	go func() {
		defer t.e.wg.Done()
		t.run()
	}()
}

func (t *target) stop() {
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	for _, st := range t.addrs {
		st.stop(t.e)
	}
	t.mu.Unlock()
}

func (st *addrState) stop(e *Engine) {
	st.cancel()
	if st.ping != nil {
		e.pinger.remove(st.ping)
	}
}

// run resolves the host (again every DNS interval) and keeps one set of
// probe loops per resolved address.
func (t *target) run() {
	defer t.wg.Wait()
	// Nothing left to do here once the addresses are set: the pinger and
	// the per-address loops do the probing, so no goroutine (and its
	// stack) stays behind per target.
	if a, err := netip.ParseAddr(t.spec.Host); err == nil {
		if t.familyAllowed(a) {
			t.setAddrs([]netip.Addr{a.Unmap()})
		} else {
			t.fail(fmt.Errorf("target %s: address %s is not %s", describe(t.spec), a, t.spec.IPFamily))
		}
		return
	}
	t.resolve()
	if t.spec.DNSInterval <= 0 {
		return
	}
	next := time.Now().Add(t.spec.DNSInterval)
	for sleepUntil(t.ctx, next) {
		t.resolve()
		next = next.Add(t.spec.DNSInterval)
	}
}

func (t *target) familyAllowed(a netip.Addr) bool {
	switch t.spec.IPFamily {
	case "ipv4":
		return a.Is4() || a.Is4In6()
	case "ipv6":
		return a.Is6() && !a.Is4In6()
	}
	return true
}

func (t *target) resolve() {
	network := map[string]string{"ipv4": "ip4", "ipv6": "ip6"}[t.spec.IPFamily]
	if network == "" {
		network = "ip"
	}
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	addrs, err := t.e.lookup(ctx, t.spec.Host, network, t.spec.DNSServer)
	d := time.Since(start)
	if t.ctx.Err() != nil {
		return
	}
	var keep []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); t.familyAllowed(a) {
			keep = append(keep, a)
		}
	}
	if err == nil && len(keep) == 0 {
		err = errNoAddress
	}
	res := &DNSResult{Duration: d, Addrs: len(keep), Err: err}
	t.mu.Lock()
	t.dns = res
	t.mu.Unlock()
	if err != nil {
		// Keep probing the addresses we had: a DNS hiccup is not an outage.
		t.fail(resolveError{fmt.Errorf("resolving %s: %w", t.spec.Host, err)})
		return
	}
	t.setAddrs(keep)
}

func (e *Engine) lookup(ctx context.Context, host, network, server string) ([]netip.Addr, error) {
	if e.cfg.Resolver != nil {
		return e.cfg.Resolver(ctx, host, network)
	}
	dial := e.dialDNS
	if server != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return e.dialDNS(ctx, network, server)
		}
	}
	r := &net.Resolver{PreferGo: true, Dial: dial}
	return r.LookupNetIP(ctx, network, host)
}

// dialDNS creates the resolver's sockets inside the namespace.
func (e *Engine) dialDNS(_ context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	family := sock.Family(ap.Addr())
	typ, proto := syscall.SOCK_DGRAM, syscall.IPPROTO_UDP
	if network == "tcp" || network == "tcp4" || network == "tcp6" {
		typ, proto = syscall.SOCK_STREAM, syscall.IPPROTO_TCP
	}
	fd, err := e.maker.Socket(family, typ, proto)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dns")
	defer f.Close() // FileConn dups the descriptor
	if err := connect(fd, ap); err != nil {
		return nil, fmt.Errorf("connecting to DNS server %s: %w", address, err)
	}
	// A TCP connection still being set up is fine: the resolver's first
	// write waits for it.
	return net.FileConn(f)
}

func (t *target) setAddrs(addrs []netip.Addr) {
	want := map[netip.Addr]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for a, st := range t.addrs {
		if !want[a] {
			st.stop(t.e)
			delete(t.addrs, a)
		}
	}
	for a := range want {
		if t.addrs[a] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(t.ctx)
		st := &addrState{cancel: cancel, hopProbes: map[string]uint64{}, ports: map[uint16]PortResult{}}
		t.addrs[a] = st
		t.startLoops(ctx, a, st)
	}
}

func (t *target) startLoops(ctx context.Context, a netip.Addr, st *addrState) {
	spawn := func(period time.Duration, fn func(context.Context)) {
		if period <= 0 {
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			every(ctx, period, fn)
		}()
	}
	if t.spec.PingInterval > 0 && t.spec.PingCount > 0 {
		st.ping = t.e.pinger.add(t, a, st)
	}
	spawn(t.spec.TraceInterval, func(ctx context.Context) { t.trace(ctx, a, st) })
	spawn(t.spec.ScanInterval, func(ctx context.Context) { t.scan(ctx, a, st) })
}

func (t *target) trace(ctx context.Context, a netip.Addr, st *addrState) {
	var p trace.Prober
	switch t.spec.TraceProtocol {
	case "udp", "tcp":
		p = &trace.SocketProber{Maker: t.e.maker, TCP: t.spec.TraceProtocol == "tcp", Dst: a, Port: t.spec.TracePort, SrcPort: t.spec.TraceSourcePort, TOS: t.spec.TOS}
	default:
		c, err := t.e.conn(sock.Family(a), t.spec.DontFragment, false)
		if err != nil {
			t.fail(fmt.Errorf("tracing %s: %w", a, err))
			return
		}
		p = &trace.ICMPProber{Conn: c, Dst: a, PayloadSize: t.spec.PingPayload, TOS: t.spec.TOS}
	}
	path, err := trace.Run(ctx, p, trace.Options{
		MaxHops: t.spec.TraceMaxHops, ProbesPerHop: t.spec.TraceProbesPerHop,
		Timeout: t.spec.TraceTimeout, Pace: t.spec.TracePace,
	})
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		t.fail(fmt.Errorf("tracing %s: %w", a, err))
		return
	}
	t.mu.Lock()
	changed, ch := st.tracker.Update(path)
	for _, h := range path.Hops {
		switch h.Status() {
		case "no_answer":
			st.hopProbes["no_answer"] += uint64(h.Sent)
		default:
			st.hopProbes["answered"] += uint64(h.Answered)
			st.hopProbes["rate_limited"] += uint64(h.Sent - h.Answered)
		}
	}
	hp := make(map[string]uint64, len(st.hopProbes))
	for k, v := range st.hopProbes {
		hp[k] = v
	}
	st.trace = &TraceState{Hops: path.Hops, Reached: path.Reached, Path: slices.Clone(st.tracker.Hops()), PathID: st.tracker.ID(), RouteChanges: st.tracker.Changes(), HopProbes: hp}
	pathID := st.tracker.ID()
	t.mu.Unlock()
	done := time.Now()
	t.emit(EventTrace, a, done, func(ev *Event) {
		ev.Trace = &TraceResult{Hops: path.Hops, Reached: path.Reached, PathID: pathID}
	})
	if changed {
		t.emit(EventRouteChange, a, done, func(ev *Event) {
			// the tracker updates its hop list in place on later traces
			ev.Change = &trace.Change{Old: slices.Clone(ch.Old), New: slices.Clone(ch.New), OldID: ch.OldID, NewID: ch.NewID}
		})
		t.e.log.Info("route changed",
			zap.String("target", t.spec.Name), zap.Stringer("address", a), zap.Time("time", path.Start),
			zap.Stringers("old_path", ch.Old), zap.Stringers("new_path", ch.New),
			zap.Uint64("old_path_id", ch.OldID), zap.Uint64("new_path_id", ch.NewID))
	}
}

func (t *target) scan(ctx context.Context, a netip.Addr, st *addrState) {
	for _, port := range t.spec.ScanPorts {
		if ctx.Err() != nil {
			return
		}
		r := tcpconn.Probe(t.e.maker, a, port, tcpconn.Options{Timeout: t.spec.ScanTimeout, TTL: t.spec.TTL, TOS: t.spec.TOS})
		if r.Err != nil {
			t.fail(fmt.Errorf("scanning %s port %d: %w", a, port, r.Err))
		}
		pr := PortResult{Port: port, State: r.State, Duration: r.Duration, Err: r.Err}
		t.mu.Lock()
		st.ports[port] = pr
		t.mu.Unlock()
		if r.Err == nil {
			t.emit(EventPortScan, a, time.Now(), func(ev *Event) { ev.Port = &pr })
		}
	}
}

// fail counts an error and logs it, at most once per ErrorLogInterval per
// error type (with the number of suppressed repeats).
func (t *target) fail(err error) {
	typ := ErrorType(err)
	now := time.Now()
	t.mu.Lock()
	t.errs[typ]++
	logIt := now.Sub(t.lastLog[typ]) >= t.e.cfg.ErrorLogInterval
	suppressed := t.suppress[typ]
	if logIt {
		t.lastLog[typ] = now
		t.suppress[typ] = 0
	} else {
		t.suppress[typ]++
	}
	t.mu.Unlock()
	if logIt {
		t.e.log.Warn("probe failed", zap.String("target", t.spec.Name), zap.String("error.type", typ),
			zap.Int("suppressed_since_last_log", suppressed), zap.Error(err))
	}
}

func (t *target) collect() TargetSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := TargetSnapshot{Name: t.spec.Name, Host: t.spec.Host, DNS: t.dns, Errors: make(map[string]uint64, len(t.errs))}
	t.dns = nil
	for k, v := range t.errs {
		s.Errors[k] = v
	}
	for _, a := range sortedAddrs(t.addrs) {
		st := t.addrs[a]
		as := AddrSnapshot{Addr: a, PacketsSent: st.sent, PacketsReceived: st.recvd, Trace: st.trace}
		if st.window.Bursts > 0 {
			w := st.window
			as.Ping = &w
			st.window = PingWindow{RTTs: make([]time.Duration, 0, min(cap(w.RTTs), MaxWindowSamples))}
		}
		for _, p := range t.spec.ScanPorts {
			if r, ok := st.ports[p]; ok {
				as.Ports = append(as.Ports, r)
			}
		}
		s.Addrs = append(s.Addrs, as)
	}
	return s
}
