// Package hostaddr finds the host's primary LAN address, the address of the
// default route's interface, from /proc/net/route without sending anything.
package hostaddr // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter/internal/hostaddr"

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// rtfUp is RTF_UP from <linux/route.h>.
const rtfUp = 0x1

// Route is one line of /proc/net/route.
type Route struct {
	Iface   string
	Dest    netip.Addr
	Gateway netip.Addr
	Mask    netip.Addr
	Flags   uint16
	Metric  uint32
}

// Prefix is the route's destination network.
func (r Route) Prefix() (netip.Prefix, bool) {
	m := r.Mask.As4()
	ones, bits := net.IPMask(m[:]).Size()
	if bits == 0 {
		return netip.Prefix{}, false // not a contiguous mask
	}
	return netip.PrefixFrom(r.Dest, ones), true
}

// hexAddr decodes the kernel's "%08X" of a __be32 printed as a native u32.
func hexAddr(s string) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("address %q: want 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}

// ParseRoutes parses /proc/net/route.
func ParseRoutes(r io.Reader) ([]Route, error) {
	sc := bufio.NewScanner(r)
	var routes []Route
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 {
			if len(f) < 8 || f[0] != "Iface" || f[1] != "Destination" || f[2] != "Gateway" || f[7] != "Mask" {
				return nil, fmt.Errorf("line 1: unexpected header %q", sc.Text())
			}
			continue
		}
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 8", line, len(f))
		}
		var rt Route
		var err error
		rt.Iface = f[0]
		if rt.Dest, err = hexAddr(f[1]); err != nil {
			return nil, fmt.Errorf("line %d: destination: %w", line, err)
		}
		if rt.Gateway, err = hexAddr(f[2]); err != nil {
			return nil, fmt.Errorf("line %d: gateway: %w", line, err)
		}
		flags, err := strconv.ParseUint(f[3], 16, 16)
		if err != nil {
			return nil, fmt.Errorf("line %d: flags %q: %w", line, f[3], err)
		}
		rt.Flags = uint16(flags)
		metric, err := strconv.ParseUint(f[6], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: metric %q: %w", line, f[6], err)
		}
		rt.Metric = uint32(metric)
		if rt.Mask, err = hexAddr(f[7]); err != nil {
			return nil, fmt.Errorf("line %d: mask: %w", line, err)
		}
		routes = append(routes, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, errors.New("empty file, want a header line")
	}
	return routes, nil
}

// DefaultRoute returns the up default route with the lowest metric.
func DefaultRoute(routes []Route) (Route, bool) {
	var best Route
	found := false
	for _, r := range routes {
		if r.Flags&rtfUp == 0 || r.Dest != netip.IPv4Unspecified() || r.Mask != netip.IPv4Unspecified() {
			continue
		}
		if !found || r.Metric < best.Metric {
			best, found = r, true
		}
	}
	return best, found
}

// Pick chooses, among an interface's addresses, the IPv4 address inside one
// of the interface's connected networks, else its first global IPv4 address.
func Pick(addrs []netip.Addr, iface string, routes []Route) (netip.Addr, bool) {
	var first netip.Addr
	for _, a := range addrs {
		if !a.Is4() || !a.IsGlobalUnicast() && !a.IsPrivate() {
			continue
		}
		if !first.IsValid() {
			first = a
		}
		for _, r := range routes {
			if r.Iface != iface || r.Gateway != netip.IPv4Unspecified() || r.Dest == netip.IPv4Unspecified() {
				continue
			}
			if p, ok := r.Prefix(); ok && p.Contains(a) {
				return a, true
			}
		}
	}
	return first, first.IsValid()
}

// Primary returns the primary LAN address: the IPv4 address of the default
// route's interface, in the configured namespace: netns, PID 1's of a
// root_path procfs (entered when it is not the collector's own, which
// needs CAP_SYS_ADMIN), or the collector's own.
func Primary(ns netnsutil.Config) (netip.Addr, error) {
	t, err := ns.Open()
	if err != nil {
		return netip.Addr{}, err
	}
	defer t.Close()
	// The route table and the interfaces of the same namespace: with
	// root_path naming another namespace than ours, that one is entered.
	path := filepath.Join(t.NetDir(), "route")
	var addr netip.Addr
	err = t.Do(func() error {
		var err error
		addr, err = primary(path)
		return err
	})
	return addr, err
}

func primary(path string) (netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil {
		return netip.Addr{}, err
	}
	defer f.Close()
	routes, err := ParseRoutes(f)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parsing %s: %w", path, err)
	}
	def, ok := DefaultRoute(routes)
	if !ok {
		return netip.Addr{}, fmt.Errorf("no IPv4 default route in %s", path)
	}
	ifi, err := net.InterfaceByName(def.Iface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("default route interface %q (from %s): %w", def.Iface, path, err)
	}
	ifAddrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %q: %w", def.Iface, err)
	}
	var addrs []netip.Addr
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			if ad, ok := netip.AddrFromSlice(n.IP); ok {
				addrs = append(addrs, ad.Unmap())
			}
		}
	}
	a, ok := Pick(addrs, def.Iface, routes)
	if !ok {
		return netip.Addr{}, fmt.Errorf("default route interface %q has no IPv4 address", def.Iface)
	}
	return a, nil
}
