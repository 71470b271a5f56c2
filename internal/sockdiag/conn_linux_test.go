package sockdiag

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// hold opens n established TCP pairs on loopback inside ns and a listener;
// they are closed when the test ends.
func hold(t testing.TB, ns *testnet.NS, network, addr string, n int) net.Listener {
	t.Helper()
	ln := ns.Listen(t, network, addr)
	ns.Pairs(t, ln, n)
	return ln
}

func openIn(t testing.TB, ns *testnet.NS) *Conn {
	t.Helper()
	var c *Conn
	ns.Do(t, func() (err error) {
		c, err = Open()
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKernelCountAndListeners(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.New(t)
	hold(t, ns, "tcp4", "127.0.0.1:0", 40)
	ln6 := hold(t, ns, "tcp6", "[::1]:0", 7)
	c := openIn(t, ns)

	var v4, v6 StateCounts
	require.NoError(t, c.Count(Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: AllStates}, &v4))
	require.NoError(t, c.Count(Request{Family: unix.AF_INET6, Protocol: unix.IPPROTO_TCP, States: AllStates}, &v6))
	require.Equal(t, uint64(80), v4[Established])
	require.Equal(t, uint64(1), v4[Listen])
	require.Equal(t, uint64(14), v6[Established])
	require.Equal(t, uint64(15), v6.Total())
	// One pass over both families counts the same.
	var both StateCounts
	require.NoError(t, c.Count(Request{Protocol: unix.IPPROTO_TCP, States: AllStates}, &both))
	require.Equal(t, v4.Total()+v6.Total(), both.Total())
	require.Equal(t, v4[Established]+v6[Established], both[Established])
	var fams [11]int
	require.NoError(t, c.Each(Request{Protocol: unix.IPPROTO_TCP, States: AllStates}, func(m *Msg, _ []byte) error {
		fams[m.Family]++
		return nil
	}))
	require.Equal(t, 81, fams[unix.AF_INET])
	require.Equal(t, 15, fams[unix.AF_INET6])
	// The mask is applied by the kernel.
	var est StateCounts
	require.NoError(t, c.Count(Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: Listen.Mask()}, &est))
	require.Equal(t, StateCounts{Listen: 1}, est)

	ports := NewPortCounts([]uint16{uint16(ln6.Addr().(*net.TCPAddr).Port), 9})
	var all StateCounts
	require.NoError(t, c.CountPorts(Request{Family: unix.AF_INET6, Protocol: unix.IPPROTO_TCP, States: AllStates}, &all, ports))
	require.Equal(t, StateCounts{Established: 7, Listen: 1}, *ports.Of(uint16(ln6.Addr().(*net.TCPAddr).Port)))
	require.Equal(t, StateCounts{}, *ports.Of(9))
	require.Nil(t, ports.Of(10))

	var seen []string
	require.NoError(t, c.Listeners(unix.AF_INET6, func(m *Msg) error {
		seen = append(seen, m.SrcAddr().String())
		require.Equal(t, uint32(0), m.RQueue)
		require.Positive(t, m.WQueue)
		return nil
	}))
	require.Equal(t, []string{"::1"}, seen)
	out := ns.Exec(t, "ss", "-Htan6")
	require.Equal(t, 15, strings.Count(out, "\n"))

	// A protocol without a diag handler is a KernelError wrapping ENOENT,
	// and the socket stays usable.
	err := c.Count(Request{Family: unix.AF_INET, Protocol: 253, States: AllStates}, &est)
	require.ErrorIs(t, err, unix.ENOENT)
	require.NoError(t, c.Count(Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: AllStates}, &v4))
}

// TestKernelZeroAllocsPerSocket: counting 10 or 2,000 sockets allocates the
// same (nothing per socket).
func TestKernelZeroAllocsPerSocket(t *testing.T) {
	testnet.RequireRoot(t)
	small, big := testnet.New(t), testnet.New(t)
	hold(t, small, "tcp4", "127.0.0.1:0", 5)
	hold(t, big, "tcp4", "127.0.0.1:0", 1000)
	allocs := func(c *Conn, want uint64) float64 {
		var counts StateCounts
		r := Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: AllStates}
		a := testing.AllocsPerRun(10, func() {
			counts = StateCounts{}
			if err := c.Count(r, &counts); err != nil {
				t.Fatal(err)
			}
		})
		require.Equal(t, want, counts.Total())
		return a
	}
	cs, cb := openIn(t, small), openIn(t, big)
	require.Equal(t, allocs(cs, 11), allocs(cb, 2001))
	require.LessOrEqual(t, allocs(cb, 2001), 2.0, "allocations per dump")
}

func BenchmarkCount(b *testing.B) {
	testnet.RequireRoot(b)
	ns := testnet.New(b)
	hold(b, ns, "tcp4", "127.0.0.1:0", 5000)
	c := openIn(b, ns)
	r := Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: AllStates}
	b.ReportAllocs()
	for b.Loop() {
		var counts StateCounts
		if err := c.Count(r, &counts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10001, "ns/socket")
}
