package probe

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWanted: the fallback's filters are the kernel's: local, peer and
// either-end ports, peer CIDRs, all of them applying at once.
func TestWanted(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		name        string
		cfg         Config
		local, peer string
		want        bool
	}{
		{"no filter", Config{}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"local port", Config{LocalPorts: []uint16{80}}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"local port, other", Config{LocalPorts: []uint16{81}}, "10.0.0.1:80", "10.0.0.2:4000", false},
		{"peer port", Config{PeerPorts: []uint16{4000}}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"peer port, other", Config{PeerPorts: []uint16{80}}, "10.0.0.1:80", "10.0.0.2:4000", false},
		{"either end, local", Config{Ports: []uint16{80}}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"either end, peer", Config{Ports: []uint16{4000}}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"either end, neither", Config{Ports: []uint16{5001}}, "10.0.0.1:80", "10.0.0.2:4000", false},
		{"cidr", Config{PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}, "10.0.0.1:80", "10.0.0.2:4000", true},
		{"cidr, other", Config{PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}, "10.0.0.1:80", "10.0.0.2:4000", false},
		{"port and cidr", Config{Ports: []uint16{80}, PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}, "10.0.0.1:80", "10.0.0.2:4000", false},
		{"ipv6 cidr", Config{PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}, "[fd00::1]:80", "[fd00::2]:4000", true},
	} {
		require.Equal(t, c.want, c.cfg.wanted(ap(c.local), ap(c.peer)), c.name)
	}
}
