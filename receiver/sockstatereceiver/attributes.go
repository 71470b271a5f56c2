package sockstatereceiver

import (
	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// transportAttr maps kcount's transports to the metric attribute.
var transportAttr = [kcount.NumTransports]metadata.AttributeNetworkTransport{
	kcount.TCP:     metadata.AttributeNetworkTransportTCP,
	kcount.UDP:     metadata.AttributeNetworkTransportUDP,
	kcount.UDPLite: metadata.AttributeNetworkTransportUdplite,
	kcount.RAW:     metadata.AttributeNetworkTransportRaw,
}

// familyAttr maps kcount's family index (0 IPv4, 1 IPv6) to the metric
// attribute; familySuffix is what /proc/net appends to IPv6 names.
var (
	familyAttr   = [2]metadata.AttributeNetworkType{metadata.AttributeNetworkTypeIpv4, metadata.AttributeNetworkTypeIpv6}
	familySuffix = [2]string{"", "6"}
)

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

func statesOf(tr kcount.Transport) []sockdiag.State {
	if tr == kcount.TCP {
		return tcpStates
	}
	return dgramStates
}
