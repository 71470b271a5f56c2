// Package probe reads per-flow TCP state from the kernel behind one Source
// interface. Probe loads and reads the tcpflow eBPF programs: per-socket
// flow state aggregated in the kernel (tp_btf/tcp_probe,
// sock/inet_sock_set_state, tcp/tcp_retransmit_skb), read at scrape time
// through a flow iterator, closed flows and streamed samples through ring
// buffers. Diag is the fallback where eBPF is unavailable: tcp_info polled
// through NETLINK_SOCK_DIAG. It has no OpenTelemetry imports.
package probe

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Source is a reader of per-flow state: the eBPF Probe, or Diag.
type Source interface {
	// Flows calls fn for every tracked flow (KindLive) and flows evicted
	// since the last call (KindEvicted). The Flow is reused: copy it to
	// keep it.
	Flows(fn func(*Flow)) error
	// Closed calls fn for each closed-flow summary received since the last
	// call and forgets them: the summaries are consumed where they wait,
	// not copied out. fn runs with the source's lock held, so it must not
	// call the Source; the Flow is reused: copy it to keep it.
	Closed(ctx context.Context, fn func(*Flow)) error
	// Counters reads the source's self-metrics.
	Counters() (Counters, error)
	// RTOKnown says whether Flow.RTO is filled in. The probe converts the
	// kernel's jiffies with the tick rate it measures and cannot when that
	// failed; tcp_info has the RTO in microseconds.
	RTOKnown() bool
	// Close releases the source.
	Close() error
}

// RetransType indexes Flow.Retrans; the order matches enum retrans_type in
// bpf/tcpflow.c.
type RetransType int

const (
	RetransTimeout RetransType = iota
	RetransFast
	RetransTailLossProbe
	RetransSYN
	RetransSYNACK
	NumRetransTypes
)

var retransNames = [NumRetransTypes]string{"timeout", "fast", "tail_loss_probe", "syn", "synack"}

func (t RetransType) String() string {
	if t < 0 || t >= NumRetransTypes {
		return "unknown"
	}
	return retransNames[t]
}

// Kind says why a flow record was produced.
type Kind uint8

const (
	KindLive    Kind = 0 // tracked flow, values read now
	KindEvicted Kind = 1 // idle longer than IdleTimeout: last record, removed from the table
	KindClosed  Kind = 2 // the socket reached TCP_CLOSE: final summary
)

// Flow is one TCP connection's state. Counters (Retransmits, Bytes*,
// Segs*) count from when the flow entered the table: from zero for
// connections established while the probe runs, from admission otherwise.
type Flow struct {
	ID          uint64
	Cookie      uint64 // socket cookie (0 from sources without one)
	Kind        Kind
	Local, Peer netip.AddrPort
	IPv6        bool
	NetnsCookie uint64
	// NetnsInode is the flow's network namespace as /proc/PID/ns/net and
	// lsns name it (0 from sources without one).
	NetnsInode uint64
	State      uint8
	Start      time.Time // when the flow entered the table
	Duration   time.Duration

	// Live gauges, as tcp_info / ss -ti report them.
	SRTT, RTTVar, RTO time.Duration // RTO is 0 when kernel HZ is unknown
	Cwnd, Ssthresh    uint32
	InFlight          uint32 // segments
	Lost, RetransOut  uint32 // segments
	SendWindow        uint32 // bytes
	RecvQueue         uint32 // bytes not yet read by the application
	SendQueue         uint32 // bytes not yet acknowledged
	Idle              time.Duration

	// Counters.
	Retransmits   uint64 // segments (tcp_info total_retrans)
	BytesAcked    uint64 // sent and acknowledged
	BytesReceived uint64
	BytesRetrans  uint64
	SegsOut       uint64
	SegsIn        uint64
	RetransByType [NumRetransTypes]uint64
	// RetransUnclassified is set instead of RetransByType by sources that
	// cannot tell the cause (the sockdiag fallback).
	RetransUnclassified uint64
	ZeroWindow          uint64 // transitions to a zero send window
	CwndChanges         uint64 // in on_cwnd_change mode

	// Sampling aggregates (over the flow's life).
	Events           uint64 // tcp_probe events (received segments)
	Samples          uint64 // of which sampled
	SRTTSum          time.Duration
	SRTTMin, SRTTMax time.Duration
}

// Counters are the probe's self-metrics, summed over CPUs.
type Counters struct {
	Admitted    uint64 // flows that entered the table
	TableFull   uint64 // events refused because the table was full
	RingFull    uint64 // closed-flow records lost: ring buffer full
	Evicted     uint64 // idle flows removed from the table
	Closed      uint64 // tracked flows that closed
	Filtered    uint64 // events refused by the netns/port/CIDR filters
	StorageFail uint64 // socket storage allocation failures
	Tracked     uint64 // flows in the table now
	// PendingLost counts closed-flow records dropped in user space because
	// more than MaxPendingClosed arrived between two reads.
	PendingLost uint64
	// SampleRate and SampleRingFull count samples not streamed: over
	// MaxSamplesPerSec, or the sample ring buffer was full.
	SampleRate     uint64
	SampleRingFull uint64
}

// RTTBuckets is the number of log2 buckets of the srtt sample histogram:
// bucket b counts samples with srtt in (2^(b-1), 2^b] microseconds (b = 0:
// up to 1 µs), the last bucket also everything above 2^30 µs.
const RTTBuckets = 32

// RTTHistogram counts the srtt samples the probe took (every sample that
// feeds Flow.Samples) per bucket, since the probe was loaded, summed over
// CPUs: index 0 IPv4 sockets, 1 IPv6 sockets.
type RTTHistogram [2][RTTBuckets]uint64

// RTTBound is the upper bound of bucket b, in seconds.
func RTTBound(b int) float64 { return float64(uint64(1)<<b) / 1e6 }

// Config is what the kernel side enforces.
type Config struct {
	OnCwndChange      bool          // sample only when cwnd changed (tcp_probe_plus full=0)
	MinSampleInterval time.Duration // per flow (probetime)
	IdleTimeout       time.Duration // evict flows idle this long (purgetime); 0 = never
	MaxFlows          uint32        // table size
	NetnsCookie       uint64        // only flows of this netns; 0 = all
	// NetnsPath is the namespace NetnsCookie names ("" = the caller's): where
	// the socket-walk flow iterator, used on kernels that refuse the
	// storage-map iterator, reads.
	NetnsPath string
	// Namespaces, set when NetnsCookie is 0 (every namespace is watched),
	// lists the namespaces the socket-walk iterator reads, by inode, each
	// with a path to enter it (/proc/PID/ns/net, /run/netns/NAME). It is
	// called once per Flows, and only on kernels that refuse the
	// storage-map iterator, which sees every namespace's flows in one pass.
	Namespaces func() map[uint64]string
	LocalPorts []uint16 // only these local ports; empty = all
	PeerPorts  []uint16 // only these peer ports; empty = all
	Ports      []uint16 // only flows with one of these ports at either end; empty = all
	PeerCIDRs  []netip.Prefix

	// Stream writes every sample to a ring buffer read with ReadSamples.
	Stream bool
	// SampleRingSize is the sample ring buffer's size in bytes (a power of
	// two, at least a page); 0 = DefaultSampleRingSize.
	SampleRingSize int
	// MaxSamplesPerSec caps the streamed samples over all flows; 0 = none.
	MaxSamplesPerSec uint64
	// MaxPendingClosed bounds closed-flow records kept between reads.
	MaxPendingClosed int
	// OnClosed, if set, is called with each closed-flow record (reused: copy
	// what you keep) from the ring buffer reader's goroutine, as it arrives.
	OnClosed func(*Flow)
	// DiscardClosed keeps no records for Closed (when only OnClosed wants
	// them).
	DiscardClosed bool
}

// DefaultSampleRingSize holds ~60k samples (128 bytes each + 8 of header).
const DefaultSampleRingSize = 8 << 20

// Sample is one streamed tcp_probe sample: the fields of the kernel's
// tcp:tcp_probe tracepoint in its units, and tcp_probe_plus's.
type Sample struct {
	Time         time.Time // kernel time of the event
	Cookie       uint64    // socket cookie (the tracepoint's sock_cookie)
	NetnsInode   uint64    // the flow's network namespace inode
	Local, Peer  netip.AddrPort
	IPv6         bool
	DataLen      uint32 // payload bytes of the received segment
	SndNxt       uint32
	SndUna       uint32
	SndCwnd      uint32 // segments
	Ssthresh     uint32 // tcp_current_ssthresh(), as the tracepoint
	SndWnd       uint32 // bytes
	RcvWnd       uint32 // bytes
	SRTTus       uint32
	RTTVarus     uint32
	RTOus        uint32 // 0 when kernel HZ is unknown
	Lost         uint32 // segments
	InFlight     uint32 // segments
	Retrans      uint32 // segments retransmitted and not yet acknowledged
	TotalRetrans uint32
	RecvQueue    uint32 // bytes
	SendQueue    uint32 // bytes
}

// wanted applies the port and peer CIDR filters as the kernel side does
// when it admits a flow.
func (c *Config) wanted(local, peer netip.AddrPort) bool {
	if len(c.LocalPorts) > 0 && !slices.Contains(c.LocalPorts, local.Port()) {
		return false
	}
	if len(c.PeerPorts) > 0 && !slices.Contains(c.PeerPorts, peer.Port()) {
		return false
	}
	if len(c.Ports) > 0 && !slices.Contains(c.Ports, local.Port()) && !slices.Contains(c.Ports, peer.Port()) {
		return false
	}
	if len(c.PeerCIDRs) == 0 {
		return true
	}
	return slices.ContainsFunc(c.PeerCIDRs, func(p netip.Prefix) bool { return p.Contains(peer.Addr()) })
}

// Limits of the kernel-side filters.
const (
	MaxPorts = 8
	MaxCIDRs = 8
)
