//go:build linux

package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// diagSource is the fallback: no eBPF, every scrape dumps the connected TCP
// sockets with struct tcp_info through NETLINK_SOCK_DIAG. Gauges and totals
// are the same as the probe's; what it cannot give is the kernel-side
// sampling (srtt min/max, samples), close summaries (a closed flow's last
// values are those of the previous scrape), zero-window events and the
// retransmit cause (reported as unclassified).
type diagSource struct {
	conn   *sockdiag.Conn
	cfg    probe.Config
	ti     sockdiag.TCPInfo
	first  map[uint64]time.Time // socket cookie -> first seen
	seen   map[uint64]time.Time
	counts probe.Counters
}

// connected are the states with a peer whose tcp_info is meaningful.
const connected = 1<<sockdiag.Established | 1<<sockdiag.FinWait1 | 1<<sockdiag.FinWait2 |
	1<<sockdiag.CloseWait | 1<<sockdiag.LastAck | 1<<sockdiag.Closing

func openDiagSource(nsPath string, cfg probe.Config) (flowSource, error) {
	var c *sockdiag.Conn
	if err := netnsutil.Do(nsPath, func() (err error) { c, err = sockdiag.Open(); return err }); err != nil {
		return nil, err
	}
	return &diagSource{conn: c, cfg: cfg, first: map[uint64]time.Time{}, seen: map[uint64]time.Time{}}, nil
}

func (d *diagSource) wanted(local, peer netip.AddrPort) bool {
	if len(d.cfg.LocalPorts) > 0 && !slices.Contains(d.cfg.LocalPorts, local.Port()) {
		return false
	}
	if len(d.cfg.PeerPorts) > 0 && !slices.Contains(d.cfg.PeerPorts, peer.Port()) {
		return false
	}
	if len(d.cfg.PeerCIDRs) == 0 {
		return true
	}
	return slices.ContainsFunc(d.cfg.PeerCIDRs, func(p netip.Prefix) bool { return p.Contains(peer.Addr()) })
}

func (d *diagSource) Flows(fn func(*probe.Flow)) error {
	now := time.Now()
	clear(d.seen)
	var f probe.Flow
	var tracked uint64
	err := d.conn.Each(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: connected, Ext: sockdiag.InfoExt}, func(m *sockdiag.Msg, attrs []byte) error {
		local := netip.AddrPortFrom(m.SrcAddr().Unmap(), m.SPort)
		peer := netip.AddrPortFrom(m.DstAddr().Unmap(), m.DPort)
		if !d.wanted(local, peer) {
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
		f = probe.Flow{
			ID: m.Cookie, Kind: probe.KindLive, Local: local, Peer: peer,
			IPv6: m.Family == unix.AF_INET6, State: uint8(m.State), Start: start, Duration: now.Sub(start),
			SRTT: time.Duration(ti.RTT) * time.Microsecond, RTTVar: time.Duration(ti.RTTVar) * time.Microsecond,
			RTO: time.Duration(ti.RTO) * time.Microsecond, Cwnd: ti.SndCwnd, Ssthresh: ti.SndSsthresh,
			InFlight: ti.Unacked - (ti.Sacked + ti.Lost) + ti.Retrans, Lost: ti.Lost, RetransOut: ti.Retrans,
			SendWindow: ti.SndWnd, RecvQueue: m.RQueue, SendQueue: m.WQueue,
			Retransmits: uint64(ti.TotalRetrans), RetransUnclassified: uint64(ti.TotalRetrans),
			BytesAcked: ti.BytesAcked, BytesReceived: ti.BytesReceived, BytesRetrans: ti.BytesRetrans,
			SegsOut: uint64(ti.SegsOut), SegsIn: uint64(ti.SegsIn),
		}
		fn(&f)
		return nil
	})
	d.first, d.seen = d.seen, d.first
	d.counts.Tracked = tracked
	return err
}

// Closed has nothing to report: without the probe a closed flow simply
// disappears (the aggregator keeps its last values).
func (d *diagSource) Closed(_ context.Context, buf []probe.Flow) ([]probe.Flow, error) {
	return buf[:0], nil
}

func (d *diagSource) Counters() (probe.Counters, error) { return d.counts, nil }

// HZ: tcp_info reports the RTO in microseconds already.
func (d *diagSource) HZ() int { return 1 }

func (d *diagSource) Close() error { return d.conn.Close() }
