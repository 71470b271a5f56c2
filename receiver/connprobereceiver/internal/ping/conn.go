package ping

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"
)

// Mode is the kind of ICMP socket a Conn uses.
type Mode uint8

// Socket kinds.
const (
	// ModeRaw is a SOCK_RAW ICMP socket (needs CAP_NET_RAW). It sees echo
	// replies and ICMP errors for every process; we match on id, sequence,
	// destination and a per-probe cookie.
	ModeRaw Mode = iota + 1
	// ModeDatagram is an unprivileged SOCK_DGRAM ICMP ("ping") socket,
	// allowed when the caller's group is in net.ipv4.ping_group_range.
	// The kernel picks the echo id and only hands us our own replies.
	// ICMP errors (time exceeded) are not read, so ICMP traceroute needs
	// ModeRaw.
	ModeDatagram
)

func (m Mode) String() string {
	switch m {
	case ModeRaw:
		return "raw"
	case ModeDatagram:
		return "datagram"
	}
	return "unknown"
}

// Options apply to one Conn (one socket).
type Options struct {
	// DontFragment sets IP_PMTUDISC_DO (IPv4) / IPV6_DONTFRAG (IPv6).
	DontFragment bool
	// ReceiveBuffer, when non-zero, sets SO_RCVBUF(FORCE) so bursts for
	// thousands of targets do not overflow the socket queue.
	ReceiveBuffer int
	// Mode forces a socket kind; zero tries raw, then datagram.
	Mode Mode
	// Polled opens the socket without a receive goroutine: the owner
	// calls Conn.Poll, which reads every answer queued (recvmmsg) and
	// hands each to its probe. One goroutine can then send a batch of
	// requests and take the answers of earlier ones in one wake-up.
	// RTTs come from the kernel's receive timestamps, so they do not
	// depend on when Poll runs; the socket's receive buffer must hold
	// what arrives between two calls.
	Polled bool
}

// Result is the answer to one probe.
type Result struct {
	Kind Kind
	Code uint8
	From netip.Addr // who answered: the target, or a router
	Sent time.Time  // just before sendmsg
	Recv time.Time  // kernel receive timestamp (SO_TIMESTAMPNS)
	// ReadStamped is set when the kernel had no arrival time for the
	// answer and stamped it when it was read (right after timestamps
	// were first switched on, or without a stamp at all): Recv, and so
	// the RTT, then include the time the answer waited to be read.
	ReadStamped bool
}

// RTT is the round trip time of the probe.
func (r Result) RTT() time.Duration { return r.Recv.Sub(r.Sent) }

// Probe is one echo request in flight. Wait for its result on C.
type Probe struct {
	key    uint32
	dst    netip.Addr
	cookie [CookieLen]byte
	cookN  int
	sent   atomic.Int64 // unix nanoseconds; written before sendmsg, read by the receive loop
	// C receives exactly one Result if an answer arrives; nothing on
	// timeout. Call Conn.Forget after giving up. Nil for SendFunc probes.
	C chan Result
	h Answerer
}

// Answerer takes the answer to a probe sent with SendFunc.
type Answerer interface {
	// Answer is called at most once per probe, on the receive goroutine;
	// it must not block.
	Answer(Result)
}

// Stats counts what the receive loop saw and dropped.
type Stats struct {
	Received  uint64 // ICMP messages read
	Matched   uint64 // answers delivered to a probe
	Foreign   uint64 // valid but not ours (other processes, late answers)
	Malformed uint64 // could not be parsed
}

// Request describes one echo request.
type Request struct {
	Dst         netip.Addr
	PayloadSize int // bytes after the ICMP header (cookie included)
	TTL         int // 0 = socket default
	TOS         int // IPv4 TOS / IPv6 traffic class; 0 = default
}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("ICMP socket closed")
