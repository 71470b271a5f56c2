package sock

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockaddr converts ap for connect, bind or sendmsg. An IPv4-mapped
// address becomes a sockaddr_in (see the package comment). An IPv6 zone,
// an interface name or index, becomes the scope id; a zone that names no
// interface is an error.
func Sockaddr(ap netip.AddrPort) (unix.Sockaddr, error) {
	a := ap.Addr()
	if Is4(a) {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, nil
	}
	id, err := zoneID(a)
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), ZoneId: id, Addr: a.As16()}, nil
}

// RawSockaddr fills rsa for ap and returns its length, without the
// allocation of Sockaddr, for sendto on a hot path. The conversion is the
// one of Sockaddr.
func RawSockaddr(rsa *unix.RawSockaddrAny, ap netip.AddrPort) (uint32, error) {
	a := ap.Addr()
	port := ap.Port()
	if Is4(a) {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4, nil
	}
	id, err := zoneID(a)
	if err != nil {
		return 0, err
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16(), Scope_id: id}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6, nil
}

// zoneID is the interface index named by a's zone (0 without one): a
// number is taken as the index, a name is looked up in the caller's
// network namespace.
func zoneID(a netip.Addr) (uint32, error) {
	z := a.Zone()
	if z == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, fmt.Errorf("zone of %s: %w", a, err)
	}
	return uint32(ifi.Index), nil
}

// Options are the IP-level socket options of one address family.
type Options struct {
	Level   int // IPPROTO_IP or IPPROTO_IPV6
	TTL     int // IP_TTL or IPV6_UNICAST_HOPS, for setsockopt
	TTLCmsg int // IP_TTL or IPV6_HOPLIMIT, for a control message on sendmsg
	TOS     int // IP_TOS or IPV6_TCLASS, for setsockopt and sendmsg
	RecvErr int // IP_RECVERR or IPV6_RECVERR
}

// OptionsFor returns the options of family (unix.AF_INET or
// unix.AF_INET6).
func OptionsFor(family int) Options {
	if family == unix.AF_INET6 {
		return Options{Level: unix.IPPROTO_IPV6, TTL: unix.IPV6_UNICAST_HOPS, TTLCmsg: unix.IPV6_HOPLIMIT, TOS: unix.IPV6_TCLASS, RecvErr: unix.IPV6_RECVERR}
	}
	return Options{Level: unix.IPPROTO_IP, TTL: unix.IP_TTL, TTLCmsg: unix.IP_TTL, TOS: unix.IP_TOS, RecvErr: unix.IP_RECVERR}
}

// SetTTLTOS sets the TTL (hop limit) and TOS (traffic class) of socket fd
// of family; zero leaves the socket's default.
func SetTTLTOS(fd, family, ttl, tos int) error {
	o := OptionsFor(family)
	if ttl > 0 {
		if err := unix.SetsockoptInt(fd, o.Level, o.TTL, ttl); err != nil {
			return fmt.Errorf("setting TTL %d: %w", ttl, err)
		}
	}
	if tos > 0 {
		if err := unix.SetsockoptInt(fd, o.Level, o.TOS, tos); err != nil {
			return fmt.Errorf("setting TOS %d: %w", tos, err)
		}
	}
	return nil
}
