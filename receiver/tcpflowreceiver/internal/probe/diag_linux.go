//go:build linux

package probe

import (
	"context"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// Diag is the Source used where eBPF is unavailable: every Flows call dumps
// the connected TCP sockets of the namespace with struct tcp_info through
// NETLINK_SOCK_DIAG. Gauges and totals are the probe's; what it cannot give
// is the kernel-side sampling (srtt min/max, samples, events), close
// summaries (Closed returns nothing: a closed flow simply disappears),
// zero-window events and the retransmit cause (Flow.RetransUnclassified).
type Diag struct {
	conn   *sockdiag.Conn
	cfg    Config
	ti     sockdiag.TCPInfo
	first  map[uint64]time.Time // socket cookie -> first seen
	seen   map[uint64]time.Time
	counts Counters
	flow   Flow
}

// connected are the states with a peer whose tcp_info is meaningful.
const connected = 1<<sockdiag.Established | 1<<sockdiag.FinWait1 | 1<<sockdiag.FinWait2 |
	1<<sockdiag.CloseWait | 1<<sockdiag.LastAck | 1<<sockdiag.Closing

// OpenDiag opens a sock_diag socket in the namespace cfg.NetnsPath (the
// caller's own when empty). Of cfg it uses the port and peer CIDR filters
// and MaxFlows.
func OpenDiag(cfg Config) (*Diag, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var c *sockdiag.Conn
	if err := netnsutil.Do(cfg.NetnsPath, func() (err error) { c, err = sockdiag.Open(); return err }); err != nil {
		return nil, err
	}
	return &Diag{conn: c, cfg: cfg, first: map[uint64]time.Time{}, seen: map[uint64]time.Time{}}, nil
}

// Flows dumps the namespace's connected TCP sockets and calls fn for each
// one the filters admit, up to MaxFlows (the rest counted as TableFull). The
// Flow passed to fn is reused; copy it to keep it.
func (d *Diag) Flows(fn func(*Flow)) error {
	now := time.Now()
	clear(d.seen)
	var tracked uint64
	err := d.conn.Each(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: connected, Ext: sockdiag.InfoExt}, func(m *sockdiag.Msg, attrs []byte) error {
		local := netip.AddrPortFrom(m.SrcAddr().Unmap(), m.SPort)
		peer := netip.AddrPortFrom(m.DstAddr().Unmap(), m.DPort)
		if !d.cfg.wanted(local, peer) {
			d.counts.Filtered++
			return nil
		}
		if ok, err := sockdiag.FindTCPInfo(attrs, &d.ti); err != nil || !ok {
			return err
		}
		if tracked >= uint64(d.cfg.MaxFlows) {
			d.counts.TableFull++
			return nil
		}
		tracked++
		start, ok := d.first[m.Cookie]
		if !ok {
			start = now
			d.counts.Admitted++
		}
		d.seen[m.Cookie] = start
		ti := &d.ti
		d.flow = Flow{
			ID: m.Cookie, Cookie: m.Cookie, Kind: KindLive, Local: local, Peer: peer,
			IPv6: m.Family == unix.AF_INET6, State: uint8(m.State), Start: start, Duration: now.Sub(start),
			SRTT: time.Duration(ti.RTT) * time.Microsecond, RTTVar: time.Duration(ti.RTTVar) * time.Microsecond,
			RTO: time.Duration(ti.RTO) * time.Microsecond, Cwnd: ti.SndCwnd, Ssthresh: ti.SndSsthresh,
			InFlight: ti.Unacked - (ti.Sacked + ti.Lost) + ti.Retrans, Lost: ti.Lost, RetransOut: ti.Retrans,
			SendWindow: ti.SndWnd, RecvQueue: m.RQueue, SendQueue: m.WQueue,
			Retransmits: uint64(ti.TotalRetrans), RetransUnclassified: uint64(ti.TotalRetrans),
			BytesAcked: ti.BytesAcked, BytesReceived: ti.BytesReceived, BytesRetrans: ti.BytesRetrans,
			SegsOut: uint64(ti.SegsOut), SegsIn: uint64(ti.SegsIn),
		}
		fn(&d.flow)
		return nil
	})
	d.first, d.seen = d.seen, d.first
	d.counts.Tracked = tracked
	return err
}

// Closed has nothing to report: without the probe a closed flow simply
// disappears (a reader keeps its last values).
func (d *Diag) Closed(context.Context, func(*Flow)) error { return nil }

// Counters are the filter and table counts of the Flows calls so far.
func (d *Diag) Counters() (Counters, error) { return d.counts, nil }

// RTOKnown: tcp_info reports the RTO in microseconds, no HZ needed.
func (d *Diag) RTOKnown() bool { return true }

// Close closes the sock_diag socket.
func (d *Diag) Close() error { return d.conn.Close() }

var _ Source = (*Diag)(nil)
