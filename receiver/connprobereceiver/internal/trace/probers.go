package trace

import (
	"net/netip"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// ICMPProber sends echo requests through a shared ping.Conn (raw socket).
type ICMPProber struct {
	Conn        *ping.Conn
	Dst         netip.Addr
	PayloadSize int
	TOS         int
}

// SocketProber sends UDP datagrams or TCP SYNs (connect) from a fixed
// source port to a fixed destination port, so every probe of every trace
// has the same 5-tuple and ECMP routers keep it on one path. ICMP errors
// come back on the socket's error queue (IP_RECVERR), which needs no
// privilege.
type SocketProber struct {
	Maker   sock.Maker
	TCP     bool
	Dst     netip.Addr
	Port    uint16 // destination port
	SrcPort uint16 // fixed source port (0: the kernel picks one per probe)
	TOS     int
}
