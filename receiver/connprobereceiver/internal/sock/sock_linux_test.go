package sock

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddr(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want unix.Sockaddr
	}{
		{"192.0.2.1:80", &unix.SockaddrInet4{Port: 80, Addr: [4]byte{192, 0, 2, 1}}},
		{"[2001:db8::1]:443", &unix.SockaddrInet6{Port: 443, Addr: netip.MustParseAddr("2001:db8::1").As16()}},
		// IPv4-mapped: an IPv4 destination, so a sockaddr_in.
		{"[::ffff:192.0.2.1]:53", &unix.SockaddrInet4{Port: 53, Addr: [4]byte{192, 0, 2, 1}}},
		{"[fe80::1%7]:0", &unix.SockaddrInet6{ZoneId: 7, Addr: netip.MustParseAddr("fe80::1").As16()}},
		{"[fe80::1%lo]:9", &unix.SockaddrInet6{Port: 9, ZoneId: uint32(lo.Index), Addr: netip.MustParseAddr("fe80::1").As16()}},
	} {
		ap := netip.MustParseAddrPort(tc.in)
		got, err := Sockaddr(ap)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		switch w := tc.want.(type) {
		case *unix.SockaddrInet4:
			g, ok := got.(*unix.SockaddrInet4)
			if !ok || g.Port != w.Port || g.Addr != w.Addr {
				t.Errorf("%s: got %+v, want %+v", tc.in, got, w)
			}
			if Family(ap.Addr()) != unix.AF_INET {
				t.Errorf("%s: family %d, want AF_INET", tc.in, Family(ap.Addr()))
			}
		case *unix.SockaddrInet6:
			g, ok := got.(*unix.SockaddrInet6)
			if !ok || g.Port != w.Port || g.Addr != w.Addr || g.ZoneId != w.ZoneId {
				t.Errorf("%s: got %+v, want %+v", tc.in, got, w)
			}
			if Family(ap.Addr()) != unix.AF_INET6 {
				t.Errorf("%s: family %d, want AF_INET6", tc.in, Family(ap.Addr()))
			}
		}
		checkRaw(t, ap, got)
	}
}

func TestSockaddrBadZone(t *testing.T) {
	ap := netip.MustParseAddrPort("[fe80::1%no-such-if0]:1")
	if _, err := Sockaddr(ap); err == nil {
		t.Fatal("Sockaddr accepted a zone that names no interface")
	}
	var rsa unix.RawSockaddrAny
	if _, err := RawSockaddr(&rsa, ap); err == nil {
		t.Fatal("RawSockaddr accepted a zone that names no interface")
	}
}

// checkRaw asserts that RawSockaddr writes what Sockaddr says.
func checkRaw(t *testing.T, ap netip.AddrPort, sa unix.Sockaddr) {
	t.Helper()
	var rsa unix.RawSockaddrAny
	n, err := RawSockaddr(&rsa, ap)
	if err != nil {
		t.Fatalf("%s: RawSockaddr: %v", ap, err)
	}
	port := func(p *uint16) int { return int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(p))[:])) }
	switch w := sa.(type) {
	case *unix.SockaddrInet4:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		if n != unix.SizeofSockaddrInet4 || r.Family != unix.AF_INET || r.Addr != w.Addr || port(&r.Port) != w.Port {
			t.Errorf("%s: raw %+v (len %d), want %+v", ap, r, n, w)
		}
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		if n != unix.SizeofSockaddrInet6 || r.Family != unix.AF_INET6 || r.Addr != w.Addr || r.Scope_id != w.ZoneId || port(&r.Port) != w.Port {
			t.Errorf("%s: raw %+v (len %d), want %+v", ap, r, n, w)
		}
	}
}

// FuzzSockaddr: any address converts without a panic, to the family
// Family names, and the raw form agrees.
func FuzzSockaddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1:80", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:53", "[fe80::1%1]:0", "[fe80::1%lo]:9", "[::]:0", "0.0.0.0:65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return
		}
		sa, err := Sockaddr(ap)
		if err != nil {
			return // a zone naming no interface
		}
		_, v4 := sa.(*unix.SockaddrInet4)
		if v4 != (Family(ap.Addr()) == unix.AF_INET) {
			t.Fatalf("%s: sockaddr %T but family %d", ap, sa, Family(ap.Addr()))
		}
		checkRaw(t, ap, sa)
	})
}

func TestOptionsFor(t *testing.T) {
	if o := OptionsFor(unix.AF_INET); o != (Options{unix.IPPROTO_IP, unix.IP_TTL, unix.IP_TTL, unix.IP_TOS, unix.IP_RECVERR}) {
		t.Errorf("AF_INET: %+v", o)
	}
	if o := OptionsFor(unix.AF_INET6); o != (Options{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, unix.IPV6_HOPLIMIT, unix.IPV6_TCLASS, unix.IPV6_RECVERR}) {
		t.Errorf("AF_INET6: %+v", o)
	}
}

// TestSetTTLTOS sets the options on real sockets and reads them back from
// the kernel, and connects to an IPv4-mapped loopback address as Family
// and Sockaddr say.
func TestSetTTLTOS(t *testing.T) {
	for _, dst := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		a := netip.MustParseAddr(dst)
		family := Family(a)
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := SetTTLTOS(fd, family, 7, 0x20); err != nil {
			t.Fatalf("%s: %v", dst, err)
		}
		o := OptionsFor(family)
		if v, err := unix.GetsockoptInt(fd, o.Level, o.TTL); err != nil || v != 7 {
			t.Errorf("%s: TTL %d (%v), want 7", dst, v, err)
		}
		if v, err := unix.GetsockoptInt(fd, o.Level, o.TOS); err != nil || v != 0x20 {
			t.Errorf("%s: TOS %#x (%v), want 0x20", dst, v, err)
		}
		sa, err := Sockaddr(netip.AddrPortFrom(a, 9))
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatalf("connect %s on family %d: %v", dst, family, err)
		}
		peer, err := unix.Getpeername(fd)
		if err != nil {
			t.Fatal(err)
		}
		switch p := peer.(type) {
		case *unix.SockaddrInet4:
			if netip.AddrFrom4(p.Addr) != a.Unmap() || p.Port != 9 {
				t.Errorf("%s: peer %v:%d", dst, p.Addr, p.Port)
			}
		case *unix.SockaddrInet6:
			if netip.AddrFrom16(p.Addr) != a || p.Port != 9 {
				t.Errorf("%s: peer %v:%d", dst, p.Addr, p.Port)
			}
		}
	}
	// Zero leaves the defaults.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	before, _ := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL)
	if err := SetTTLTOS(fd, unix.AF_INET, 0, 0); err != nil {
		t.Fatal(err)
	}
	if after, _ := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL); after != before {
		t.Errorf("TTL changed from %d to %d with ttl 0", before, after)
	}
}
