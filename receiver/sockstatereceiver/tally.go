package sockstatereceiver

import (
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// transport indexes the per-transport counts.
type transport int

const (
	tcp transport = iota
	udp
	udplite
	raw
	numTransports
)

// ipprotoUDPLite is IPPROTO_UDPLITE (Linux's; x/sys/unix has it on Linux only).
const ipprotoUDPLite = 136

var transports = [numTransports]struct {
	proto uint8
	file  string // /proc/net table name, "6" appended for IPv6
	attr  metadata.AttributeNetworkTransport
}{
	tcp:     {unix.IPPROTO_TCP, "tcp", metadata.AttributeNetworkTransportTCP},
	udp:     {unix.IPPROTO_UDP, "udp", metadata.AttributeNetworkTransportUDP},
	udplite: {ipprotoUDPLite, "udplite", metadata.AttributeNetworkTransportUdplite},
	raw:     {unix.IPPROTO_RAW, "raw", metadata.AttributeNetworkTransportRaw},
}

// families indexes address families: 0 IPv4, 1 IPv6.
var families = [2]struct {
	af     uint8
	suffix string
	attr   metadata.AttributeNetworkType
}{
	{unix.AF_INET, "", metadata.AttributeNetworkTypeIpv4},
	{unix.AF_INET6, "6", metadata.AttributeNetworkTypeIpv6},
}

// tally is one namespace's counts, filled by a counter and reset per scrape.
type tally struct {
	conns [numTransports][2]sockdiag.StateCounts
	// ports counts TCP and UDP sockets per configured local port; nil when
	// no ports are configured.
	ports [2]*sockdiag.PortCounts
}

func newTally(ports []uint16) *tally {
	t := &tally{}
	if len(ports) > 0 {
		t.ports = [2]*sockdiag.PortCounts{sockdiag.NewPortCounts(ports), sockdiag.NewPortCounts(ports)}
	}
	return t
}

func (t *tally) reset() {
	t.conns = [numTransports][2]sockdiag.StateCounts{}
	t.ports[0].Reset()
	t.ports[1].Reset()
}

// portsFor returns the per-port counts for a transport, nil if not tracked.
func (t *tally) portsFor(tr transport) *sockdiag.PortCounts {
	if tr == tcp || tr == udp {
		return t.ports[tr]
	}
	return nil
}

// stateAttr maps kernel states to the metric attribute.
var stateAttr = [sockdiag.NumStates]metadata.AttributeNetworkConnectionState{
	sockdiag.Established: metadata.AttributeNetworkConnectionStateEstablished,
	sockdiag.SynSent:     metadata.AttributeNetworkConnectionStateSynSent,
	sockdiag.SynRecv:     metadata.AttributeNetworkConnectionStateSynReceived,
	sockdiag.FinWait1:    metadata.AttributeNetworkConnectionStateFinWait1,
	sockdiag.FinWait2:    metadata.AttributeNetworkConnectionStateFinWait2,
	sockdiag.TimeWait:    metadata.AttributeNetworkConnectionStateTimeWait,
	sockdiag.Close:       metadata.AttributeNetworkConnectionStateClosed,
	sockdiag.CloseWait:   metadata.AttributeNetworkConnectionStateCloseWait,
	sockdiag.LastAck:     metadata.AttributeNetworkConnectionStateLastAck,
	sockdiag.Listen:      metadata.AttributeNetworkConnectionStateListen,
	sockdiag.Closing:     metadata.AttributeNetworkConnectionStateClosing,
}

// tcpStates are the states a TCP socket is reported in; the other
// transports only use Established and Close.
var (
	tcpStates = []sockdiag.State{sockdiag.Established, sockdiag.SynSent, sockdiag.SynRecv, sockdiag.FinWait1,
		sockdiag.FinWait2, sockdiag.TimeWait, sockdiag.Close, sockdiag.CloseWait, sockdiag.LastAck,
		sockdiag.Listen, sockdiag.Closing}
	dgramStates = []sockdiag.State{sockdiag.Established, sockdiag.Close}
)

func statesOf(tr transport) []sockdiag.State {
	if tr == tcp {
		return tcpStates
	}
	return dgramStates
}
