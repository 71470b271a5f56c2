package kcount

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// Method is a way of counting a namespace's sockets per state.
type Method string

// The counting methods, best first.
const (
	// MethodEvents keeps TCP counts current through state-change programs
	// (O(1) per scrape) and walks UDP with its iterator.
	MethodEvents Method = "events"
	// MethodIterator walks TCP and UDP with BPF socket iterators.
	MethodIterator Method = "iterator"
	// MethodSockDiag dumps sockets over NETLINK_SOCK_DIAG.
	MethodSockDiag Method = "sockdiag"
	// MethodProcfs reads the /proc/net socket tables.
	MethodProcfs Method = "procfs"
)

// Methods are the counting methods, best first.
var Methods = []Method{MethodEvents, MethodIterator, MethodSockDiag, MethodProcfs}

// Transport indexes a Tally's per-transport counts.
type Transport int

// The transports counted.
const (
	TCP Transport = iota
	UDP
	UDPLite
	RAW
	NumTransports
)

// Tally is one namespace's counts, filled by a Counter.
type Tally struct {
	Conns [NumTransports][2]sockdiag.StateCounts
	// Ports counts TCP and UDP sockets per configured local port; nil when
	// no ports are configured.
	Ports [2]*sockdiag.PortCounts
}

// NewTally returns a Tally that also counts sockets per local port in ports.
func NewTally(ports []uint16) *Tally {
	t := &Tally{}
	if len(ports) > 0 {
		t.Ports = [2]*sockdiag.PortCounts{sockdiag.NewPortCounts(ports), sockdiag.NewPortCounts(ports)}
	}
	return t
}

// Reset zeroes every count.
func (t *Tally) Reset() {
	t.Conns = [NumTransports][2]sockdiag.StateCounts{}
	t.Ports[0].Reset()
	t.Ports[1].Reset()
}

// PortsFor returns the per-port counts for a transport, nil if not tracked.
func (t *Tally) PortsFor(tr Transport) *sockdiag.PortCounts {
	if tr == TCP || tr == UDP {
		return t.Ports[tr]
	}
	return nil
}

// Namespace is what counting needs of a network namespace.
type Namespace struct {
	// Path is the namespace to enter; "" for the caller's own.
	Path string
	// ProcDir is a host procfs net directory (e.g. /hostfs/proc/1/net) to
	// read the tables from; "" for /proc/thread-self/net inside Path.
	ProcDir string
}

// Counter counts the sockets of one namespace: a binding of an opened
// Counting to that namespace. Close it when the namespace is no longer
// read; the Counting stays open.
type Counter interface {
	Method() Method
	// Count adds the namespace's sockets to t.
	Count(t *Tally) error
	// Listeners calls fn for each TCP LISTEN socket with its accept queue
	// (RQueue) and limit (WQueue); ErrNoListeners if the method cannot.
	Listeners(fn func(m *sockdiag.Msg) error) error
	// InProcNet runs fn with the namespace's /proc/net directory, inside
	// the namespace when needed.
	InProcNet(fn func(dir string) error) error
	Close() error
}

// Drifter is a Counter that corrects itself by recounting (MethodEvents).
type Drifter interface {
	// Drift is the absolute difference between the kept counts and a full
	// recount at the last resync; false before the first resync after the
	// seed.
	Drift() (int64, bool)
	// ForceResync makes the next Count recount first.
	ForceResync()
}

// ErrNoListeners is returned by Listeners of a method that cannot see the
// accept-queue limit.
var ErrNoListeners = errors.New("listen queue metrics need NETLINK_SOCK_DIAG (the procfs tables do not show the accept-queue limit)")

// ErrNotLinux is returned by Open outside Linux.
var ErrNotLinux = errors.New("socket counting is Linux only")

// Options configure Open.
type Options struct {
	// Ports are the local ports also counted separately (at most MaxPorts).
	Ports []uint16
	// ResyncInterval is how often MethodEvents recounts a namespace with an
	// iterator pass and reports the drift.
	ResyncInterval time.Duration
	// Logger gets the method's one-off notices (fallbacks, hooks).
	Logger *zap.Logger
}
