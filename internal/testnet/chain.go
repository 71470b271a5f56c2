package testnet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Addresses of a Chain.
const (
	ChainRouterV4 = "10.61.1.1"
	ChainServerV4 = "10.61.2.2"
	ChainRouterV6 = "fd61:1::1"
	ChainServerV6 = "fd61:2::2"
	// ChainRouter2V4 is the second router's address on the client's side
	// (see AddSecondRouter).
	ChainRouter2V4 = "10.61.3.1"
)

// Chain is client — router — server, IPv4 and IPv6, forwarding on, so the
// server is 2 hops from the client.
type Chain struct {
	Client, Router, Server *NS
	ServerIfc              string // the server's interface towards the router
}

// NewChain builds a Chain with default routes via the router both ways.
func NewChain(t testing.TB) *Chain {
	t.Helper()
	c := &Chain{Client: New(t), Router: New(t), Server: New(t)}
	// Without DAD, link-local addresses are usable at once: neighbor
	// discovery does not stall the first seconds of IPv6 traffic.
	for _, ns := range []*NS{c.Client, c.Router, c.Server} {
		ns.Sysctl(t, "net.ipv6.conf.all.accept_dad", "0")
		ns.Sysctl(t, "net.ipv6.conf.default.accept_dad", "0")
	}
	Link(t, c.Client, c.Router, "10.61.1.2/24", ChainRouterV4+"/24")
	_, c.ServerIfc = Link(t, c.Router, c.Server, "10.61.2.1/24", ChainServerV4+"/24")
	c.Router.Sysctl(t, "net.ipv4.ip_forward", "1")
	c.Router.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	ifc := func(ns *NS, addr string) string {
		out := ns.Exec(t, "ip", "-o", "addr", "show", "to", addr)
		return strings.Fields(out)[1]
	}
	c.Client.AddAddr(t, ifc(c.Client, "10.61.1.2"), "fd61:1::2/64")
	c.Router.AddAddr(t, ifc(c.Router, ChainRouterV4), ChainRouterV6+"/64")
	c.Router.AddAddr(t, ifc(c.Router, "10.61.2.1"), "fd61:2::1/64")
	c.Server.AddAddr(t, c.ServerIfc, ChainServerV6+"/64")
	c.Client.Exec(t, "ip", "route", "add", "default", "via", ChainRouterV4)
	c.Client.Exec(t, "ip", "-6", "route", "add", "default", "via", ChainRouterV6)
	c.Server.Exec(t, "ip", "route", "add", "default", "via", "10.61.2.1")
	c.Server.Exec(t, "ip", "-6", "route", "add", "default", "via", "fd61:2::1")
	return c
}

// AddSecondRouter adds a second IPv4 path from the client to the server
// through a new router (ChainRouter2V4), unused until the client's route
// to ChainServerV4 is replaced with one via ChainRouter2V4 (UseSecondRouter).
func (c *Chain) AddSecondRouter(t testing.TB) *NS {
	t.Helper()
	r2 := New(t)
	Link(t, c.Client, r2, "10.61.3.2/24", ChainRouter2V4+"/24")
	Link(t, r2, c.Server, "10.61.4.1/24", "10.61.4.2/24")
	r2.Sysctl(t, "net.ipv4.ip_forward", "1")
	r2.Exec(t, "ip", "route", "add", ChainServerV4+"/32", "via", "10.61.4.2")
	c.Server.Exec(t, "ip", "route", "add", "10.61.3.0/24", "via", "10.61.4.1")
	return r2
}

// UseSecondRouter moves the client's route to ChainServerV4 onto the
// second router (AddSecondRouter first).
func (c *Chain) UseSecondRouter(t testing.TB) {
	t.Helper()
	c.Client.Exec(t, "ip", "route", "replace", ChainServerV4+"/32", "via", ChainRouter2V4)
}

// DropEveryEcho returns an input-hook ruleset (for Nft, in the receiving
// namespace) that counts every ICMP and ICMPv6 echo request and drops
// every nth of each family, counted: NftCounters reads "echo4", "drop4",
// "echo6" and "drop6".
func DropEveryEcho(n int) string {
	return fmt.Sprintf(`table inet echoloss {
	chain in {
		type filter hook input priority 0;
		icmp type echo-request counter comment "echo4"
		icmpv6 type echo-request counter comment "echo6"
		icmp type echo-request numgen inc mod %[1]d == %[2]d counter drop comment "drop4"
		icmpv6 type echo-request numgen inc mod %[1]d == %[2]d counter drop comment "drop6"
	}
}
`, n, n-1)
}

var nftCounter = regexp.MustCompile(`packets (\d+) .*comment "(\w+)"`)

// NftCounters returns the packet counts of the commented counters of an
// nftables table (family and name, e.g. "inet", "echoloss").
func (n *NS) NftCounters(t testing.TB, family, table string) map[string]uint64 {
	t.Helper()
	out := n.Exec(t, "nft", "list", "table", family, table)
	got := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		m := nftCounter.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseUint(m[1], 10, 64)
		got[m[2]] = v
	}
	return got
}
