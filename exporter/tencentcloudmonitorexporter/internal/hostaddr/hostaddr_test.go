package hostaddr

import (
	"github.com/netstack-otel/netstack/internal/netnsutil"

	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/testnet"
)

func TestParseRoutesRecorded(t *testing.T) {
	b, err := os.ReadFile("testdata/route-debian12-docker.txt")
	require.NoError(t, err)
	routes, err := ParseRoutes(bytes.NewReader(b))
	require.NoError(t, err)
	require.Len(t, routes, 2)
	def, ok := DefaultRoute(routes)
	require.True(t, ok)
	assert.Equal(t, "eth0", def.Iface)
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), def.Gateway)
	p, ok := routes[1].Prefix()
	require.True(t, ok)
	assert.Equal(t, netip.MustParsePrefix("192.0.2.0/24"), p)
}

func TestParseRoutesErrors(t *testing.T) {
	const hdr = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	for name, in := range map[string]string{
		"empty":       "",
		"bad header":  "Foo Bar\n",
		"short line":  hdr + "eth0\t00000000\t010200C0\n",
		"bad dest":    hdr + "eth0\tZZ000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
		"short dest":  hdr + "eth0\t000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
		"bad flags":   hdr + "eth0\t00000000\t010200C0\tXYZW\t0\t0\t0\t00000000\t0\t0\t0\n",
		"bad metric":  hdr + "eth0\t00000000\t010200C0\t0003\t0\t0\t-1\t00000000\t0\t0\t0\n",
		"bad mask":    hdr + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t0000000G\t0\t0\t0\n",
		"bad gateway": hdr + "eth0\t00000000\t010200C\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRoutes(strings.NewReader(in))
			assert.Error(t, err)
		})
	}
}

func TestDefaultRouteLowestMetricAndUp(t *testing.T) {
	in := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"down0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n" + // not RTF_UP
		"slow0\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n" +
		"fast0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"fast0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	routes, err := ParseRoutes(strings.NewReader(in))
	require.NoError(t, err)
	def, ok := DefaultRoute(routes)
	require.True(t, ok)
	assert.Equal(t, "fast0", def.Iface)
	a, ok := Pick([]netip.Addr{netip.MustParseAddr("fe80::1"), netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("192.168.2.7")}, "fast0", routes)
	require.True(t, ok)
	assert.Equal(t, netip.MustParseAddr("192.168.2.7"), a, "the address in the interface's connected network wins")
	_, ok = Pick([]netip.Addr{netip.MustParseAddr("fe80::1")}, "fast0", routes)
	assert.False(t, ok)
}

func FuzzParseRoutes(f *testing.F) {
	b, err := os.ReadFile("testdata/route-debian12-docker.txt")
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\nx 00000000 00000000 1 0 0 0 00000000\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		routes, err := ParseRoutes(bytes.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range routes {
			if !r.Dest.Is4() || !r.Gateway.Is4() || !r.Mask.Is4() {
				t.Fatalf("non-IPv4 address parsed: %+v", r)
			}
			_, _ = r.Prefix()
		}
		if def, ok := DefaultRoute(routes); ok && def.Dest != netip.IPv4Unspecified() {
			t.Fatalf("default route with destination %s", def.Dest)
		}
	})
}

// TestPrimaryInNetns builds a namespace with two uplinks and checks Primary
// picks the address `ip route`/`ip addr` say the default route leaves from.
func TestPrimaryInNetns(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "ip")
	host, gw1, gw2 := testnet.New(t), testnet.New(t), testnet.New(t)
	if1, _ := testnet.Link(t, host, gw1, "10.77.1.10/24", "10.77.1.1/24")
	if2, _ := testnet.Link(t, host, gw2, "10.77.2.10/24", "10.77.2.1/24")
	host.AddAddr(t, if2, "10.77.3.10/24") // a second address on the preferred link

	// No default route yet: a clear error.
	_, err := Primary(netnsutil.Config{NetNS: host.Path})
	require.ErrorContains(t, err, "no IPv4 default route")

	host.Exec(t, "ip", "route", "add", "default", "via", "10.77.1.1", "dev", if1, "metric", "200")
	host.Exec(t, "ip", "route", "add", "default", "via", "10.77.2.1", "dev", if2, "metric", "100")
	got, err := Primary(netnsutil.Config{NetNS: host.Path})
	require.NoError(t, err)

	// What iproute2 says: the default route with the lowest metric, and the
	// source address the kernel would pick towards its gateway.
	out := host.Exec(t, "ip", "-4", "route", "get", "10.77.2.1")
	f := strings.Fields(out)
	var src string
	for i := range f {
		if f[i] == "src" && i+1 < len(f) {
			src = f[i+1]
		}
	}
	require.NotEmpty(t, src, out)
	assert.Equal(t, src, got.String())
	assert.Equal(t, "10.77.2.10", got.String())

	_, err = Primary(netnsutil.Config{RootPath: "/nonexistent"})
	assert.Error(t, err)
}
