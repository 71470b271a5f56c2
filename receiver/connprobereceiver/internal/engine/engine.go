// Package engine schedules the probes of every target (ping bursts,
// traceroutes, TCP port scans, DNS re-resolution) between scrapes and
// accumulates their results in per-scrape windows that Collect drains. It
// knows nothing of OpenTelemetry.
package engine // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil/nssock"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

// Target is one probed host with its probe settings (all defaults already
// applied). A zero interval turns that probe off.
type Target struct {
	Name     string // connprobe.target; the host when not set
	Host     string // IP address or DNS name
	IPFamily string // "ipv4", "ipv6" or "both"

	PingInterval time.Duration
	PingCount    int
	PingPayload  int
	PingTimeout  time.Duration
	PingSpacing  time.Duration // between the echo requests of one burst

	TraceInterval     time.Duration
	TraceMaxHops      int
	TraceProtocol     string // icmp, udp, tcp
	TracePort         uint16
	TraceSourcePort   uint16
	TraceProbesPerHop int
	TraceTimeout      time.Duration
	TracePace         time.Duration

	ScanInterval time.Duration
	ScanPorts    []uint16
	ScanTimeout  time.Duration

	DNSInterval time.Duration
	// DNSServer ("addr:port") replaces the servers of /etc/resolv.conf.
	DNSServer string

	TTL          int
	TOS          int
	DontFragment bool

	// Tag is carried unchanged into the target's Events (the receiver's
	// per-target output options); it takes part in SetTargets' comparison.
	Tag any
}

// Config of an Engine.
type Config struct {
	Netns   string // network namespace path; empty = ours
	Targets []Target
	Logger  *zap.Logger
	// ErrorLogInterval is the least time between two log lines for the
	// same target and error type.
	ErrorLogInterval time.Duration
	// ReceiveBuffer for the shared ICMP sockets (0 = kernel default).
	ReceiveBuffer int
	// Resolver overrides DNS lookups (tests); nil = Go resolver run
	// inside the namespace.
	Resolver func(ctx context.Context, host, network string) ([]netip.Addr, error)
	// Events, when set, receives every finished burst, trace, port probe
	// and route change as it completes, on the probing goroutine: it must
	// not block (queue and return).
	Events func(Event)
}

// Engine runs the probes.
type Engine struct {
	cfg    Config
	log    *zap.Logger
	maker  *nssock.Maker
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[connKey]*ping.Conn
	connEr map[connKey]error
	closed ping.Stats // of the sockets Shutdown closed

	mu      sync.Mutex
	targets []*target // in configuration order

	pinger *pinger
}

type connKey struct {
	family int
	df     bool
	// polled sockets (the ping bursts') have no receive goroutine: the
	// pinger reads them at each of its wake-ups. The others (ICMP
	// traceroute, which waits for each hop) read each answer at once.
	polled bool
}

// New prepares an engine; Start opens sockets and starts probing.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ErrorLogInterval == 0 {
		cfg.ErrorLogInterval = time.Minute
	}
	return &Engine{cfg: cfg, log: cfg.Logger, conns: map[connKey]*ping.Conn{}, connEr: map[connKey]error{}}
}

// Start enters the namespace (failing clearly when it cannot) and starts
// one scheduler per target. ICMP sockets are opened on first use, per
// family, so a host without IPv6 does not fail.
func (e *Engine) Start() error {
	mk, err := nssock.New(e.cfg.Netns)
	if err != nil {
		return err
	}
	e.maker = mk
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.pinger = newPinger(e)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.pinger.run(e.ctx)
	}()
	e.SetTargets(e.cfg.Targets)
	return nil
}

// Shutdown stops every probe and closes every socket; no goroutine
// remains.
func (e *Engine) Shutdown() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.wg.Wait()
	e.connMu.Lock()
	for k, c := range e.conns {
		_ = c.Close()
		addStats(&e.closed, c.Stats())
		delete(e.conns, k)
	}
	e.connMu.Unlock()
	e.maker.Close()
}

// SetTargets replaces the target list: targets whose settings did not
// change keep running (and keep their counters); others stop or start.
func (e *Engine) SetTargets(ts []Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := map[string][]*target{}
	for _, t := range e.targets {
		old[t.key()] = append(old[t.key()], t)
	}
	var next []*target
	for _, spec := range ts {
		k := spec.Key()
		if l := old[k]; len(l) > 0 && reflect.DeepEqual(l[0].spec, spec) {
			next = append(next, l[0])
			old[k] = l[1:]
			continue
		}
		t := newTarget(e, spec)
		next = append(next, t)
		t.start()
	}
	for _, l := range old {
		for _, t := range l {
			t.stop()
		}
	}
	e.targets = next
}

// ICMPMode says which kind of ICMP socket serves family (unix.AF_INET or
// unix.AF_INET6), or the error opening it.
func (e *Engine) ICMPMode(family int) (ping.Mode, error) {
	c, err := e.conn(family, false, true)
	if err != nil {
		return 0, err
	}
	return c.Mode(), nil
}

func (e *Engine) conn(family int, df, polled bool) (*ping.Conn, error) {
	k := connKey{family, df, polled}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if c := e.conns[k]; c != nil {
		return c, nil
	}
	if err := e.ctx.Err(); err != nil {
		return nil, err
	}
	c, err := ping.Open(e.maker, family, ping.Options{DontFragment: df, ReceiveBuffer: e.cfg.ReceiveBuffer, Polled: polled})
	if err != nil {
		if e.connEr[k] == nil {
			e.log.Warn("cannot open ICMP socket; ping and ICMP traceroute are off for this family",
				zap.String("family", familyName(family)), zap.Error(err))
		}
		e.connEr[k] = err
		return nil, err
	}
	e.log.Info("ICMP socket opened", zap.String("family", familyName(family)), zap.Stringer("mode", c.Mode()), zap.Bool("dont_fragment", df), zap.Bool("polled", polled))
	e.conns[k] = c
	return c, nil
}

// polledConns appends the polled sockets to dst.
func (e *Engine) polledConns(dst []*ping.Conn) []*ping.Conn {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	for k, c := range e.conns {
		if k.polled {
			dst = append(dst, c)
		}
	}
	return dst
}

func familyName(f int) string {
	if f == syscall.AF_INET6 {
		return "ipv6"
	}
	return "ipv4"
}

// ICMPStats sums the receive counters of every ICMP socket (also after
// Shutdown).
func (e *Engine) ICMPStats() ping.Stats {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	s := e.closed
	for _, c := range e.conns {
		addStats(&s, c.Stats())
	}
	return s
}

func addStats(s *ping.Stats, x ping.Stats) {
	s.Received += x.Received
	s.Matched += x.Matched
	s.Foreign += x.Foreign
	s.Malformed += x.Malformed
}

// Collect drains the current window of every target: each finished ping
// burst, trace, scan and resolution is in exactly one Collect result.
func (e *Engine) Collect() []TargetSnapshot {
	e.mu.Lock()
	ts := append([]*target(nil), e.targets...)
	e.mu.Unlock()
	out := make([]TargetSnapshot, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.collect())
	}
	return out
}

// sleepUntil waits for the time or the context; false when cancelled.
func sleepUntil(ctx context.Context, at time.Time) bool {
	return trace.Sleep(ctx, time.Until(at))
}

// every runs fn at a fixed period from a random phase in [0, period), so
// that thousands of targets spread over the period instead of firing
// together; a run that overruns delays the next one, never overlaps it.
func every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	next := time.Now().Add(time.Duration(rand.Int64N(int64(period))))
	for sleepUntil(ctx, next) {
		fn(ctx)
		next = next.Add(period)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

// ErrorType classifies an error for the per-target error metric.
func ErrorType(err error) string {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission_denied"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "unreachable"
	case errors.As(err, &resolveError{}):
		return "resolve"
	case errors.As(err, &dnsErr):
		return "resolve"
	}
	return "other"
}

type resolveError struct{ err error }

func (r resolveError) Error() string { return r.err.Error() }
func (r resolveError) Unwrap() error { return r.err }

func sortedAddrs(m map[netip.Addr]*addrState) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

var errNoAddress = errors.New("resolved to no address of the requested family")

func describe(t Target) string { return fmt.Sprintf("%s (%s)", t.Name, t.Host) }
