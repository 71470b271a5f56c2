// Package sock is connprobe's socket plumbing, written once for the ping,
// traceroute and TCP connect probes: the interface that creates sockets
// (in a network namespace, see nssock), the conversion of an address to a
// socket address, and the IP options (TTL or hop limit, TOS or traffic
// class) chosen by address family.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped everywhere here:
// they get an AF_INET socket and a sockaddr_in. A resolver can return an
// IPv4 address in that form, and the probes send on IPv4 sockets (an
// AF_INET6 socket could reach it only as a dual-stack socket, and a raw
// ICMPv6 socket cannot reach it at all), so the mapped form is only ever a
// spelling of an IPv4 destination.
package sock // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"

import (
	"net/netip"
	"syscall"
)

// Maker creates a non-blocking, close-on-exec socket, in whichever network
// namespace it stands for (see nssock.Maker).
type Maker interface {
	Socket(domain, typ, proto int) (int, error)
}

// Is4 says whether a is an IPv4 destination: an IPv4 address or an
// IPv4-mapped IPv6 one.
func Is4(a netip.Addr) bool { return a.Is4() || a.Is4In6() }

// Family is the socket domain for destination a: AF_INET for IPv4 and
// IPv4-mapped addresses, AF_INET6 otherwise (syscall's constants, which
// are unix's on Linux, so the engine builds everywhere).
func Family(a netip.Addr) int {
	if Is4(a) {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}
