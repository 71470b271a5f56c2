package ping

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil/nssock"
	"github.com/netstack-otel/netstack/internal/testnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openIn(t *testing.T, ns *testnet.NS, family int, opt Options) *Conn {
	t.Helper()
	mk, err := nssock.New(ns.Path)
	require.NoError(t, err)
	defer mk.Close()
	c, err := Open(mk, family, opt)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func pingOnce(t *testing.T, c *Conn, dst string, size int) Result {
	t.Helper()
	p, err := c.Send(Request{Dst: netip.MustParseAddr(dst), PayloadSize: size}, nil)
	require.NoError(t, err)
	select {
	case r := <-p.C:
		return r
	case <-time.After(2 * time.Second):
		c.Forget(p)
		t.Fatalf("no reply from %s", dst)
	}
	return Result{}
}

func TestLoopbackRawAndDatagram(t *testing.T) {
	ns := testnet.New(t)
	ns.Sysctl(t, "net.ipv4.ping_group_range", "0 2147483647")
	for _, tc := range []struct {
		family int
		mode   Mode
		dst    string
	}{
		{unix.AF_INET, ModeRaw, "127.0.0.1"},
		{unix.AF_INET6, ModeRaw, "::1"},
		{unix.AF_INET, ModeDatagram, "127.0.0.1"},
		{unix.AF_INET6, ModeDatagram, "::1"},
	} {
		c := openIn(t, ns, tc.family, Options{Mode: tc.mode})
		assert.Equal(t, tc.mode, c.Mode())
		for _, size := range []int{0, 3, 41, 1400} {
			r := pingOnce(t, c, tc.dst, size)
			assert.Equal(t, KindEchoReply, r.Kind)
			assert.Equal(t, tc.dst, r.From.String())
			assert.Greater(t, r.RTT(), time.Duration(0))
			assert.Less(t, r.RTT(), 100*time.Millisecond)
		}
	}
}

func TestDatagramNeedsPingGroupRange(t *testing.T) {
	ns := testnet.New(t)
	ns.Sysctl(t, "net.ipv4.ping_group_range", "1 0")
	mk, err := nssock.New(ns.Path)
	require.NoError(t, err)
	defer mk.Close()
	_, err = Open(mk, unix.AF_INET, Options{Mode: ModeDatagram})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ping_group_range")
}

// A concurrent iputils ping (its own raw socket, maybe the same id) must
// never be taken for ours, and ours never for its.
func TestConcurrentIputilsPing(t *testing.T) {
	testnet.RequireTool(t, "ping")
	ns := testnet.New(t)
	c := openIn(t, ns, unix.AF_INET, Options{})
	cmd := ns.Command("ping", "-n", "-q", "-i", "0.002", "-c", "300", "127.0.0.1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	got := 0
	for range 200 {
		r := pingOnce(t, c, "127.0.0.1", 16)
		require.Equal(t, KindEchoReply, r.Kind)
		got++
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, cmd.Wait())
	assert.Equal(t, 200, got)
	st := c.Stats()
	assert.Equal(t, uint64(200), st.Matched)
	// iputils' replies carry its own id: the socket filter drops them in
	// the kernel (unless it drew our id, when the cookie rejects them).
	t.Logf("foreign messages that reached the socket: %d", st.Foreign)
}

// Two sockets forced onto the same echo id with the same sequence numbers
// (as two processes might draw): the per-probe cookie keeps every reply
// with its own probe.
func TestSameIDTellsProbesApartByCookie(t *testing.T) {
	ns := testnet.New(t)
	a := openIn(t, ns, unix.AF_INET, Options{})
	b := openIn(t, ns, unix.AF_INET, Options{})
	b.id = a.id
	require.NoError(t, attachIDFilter(int(b.file.Fd()), true, b.id))
	dst := netip.MustParseAddr("127.0.0.1")
	for i := range 100 {
		pa, err := a.Send(Request{Dst: dst, PayloadSize: 16}, nil)
		require.NoError(t, err)
		pb, err := b.Send(Request{Dst: dst, PayloadSize: 16}, nil)
		require.NoError(t, err)
		require.Equal(t, pa.key, pb.key, "same id and sequence (probe %d)", i)
		for _, p := range []*Probe{pa, pb} {
			select {
			case r := <-p.C:
				require.Equal(t, KindEchoReply, r.Kind)
			case <-time.After(time.Second):
				t.Fatalf("probe %d lost", i)
			}
		}
	}
	assert.Equal(t, uint64(100), a.Stats().Matched)
	assert.Equal(t, uint64(100), b.Stats().Matched)
	assert.Equal(t, uint64(100), a.Stats().Foreign, "b's replies reached a and were rejected by cookie")
	assert.Equal(t, uint64(100), b.Stats().Foreign)
}

// A Polled socket has no receive goroutine: Poll reads the queued answers
// in batches (recvmmsg), each with its own kernel timestamp however late
// Poll runs; a payload too large for a batch slot switches the socket to
// one read at a time, without losing an answer.
func TestPolledBatches(t *testing.T) {
	ns := testnet.New(t)
	c := openIn(t, ns, unix.AF_INET, Options{Polled: true, ReceiveBuffer: 4 << 20})
	dst := netip.MustParseAddr("127.0.0.1")
	ans := make(chanAnswer, 100)
	for round, size := range []int{56, maxBatchPayload, 3000, 56} {
		for range 100 {
			_, err := c.SendFunc(Request{Dst: dst, PayloadSize: size}, nil, ans)
			require.NoError(t, err)
		}
		// Far longer than any RTT here: RTTs that included the wait
		// would show.
		time.Sleep(200 * time.Millisecond)
		require.Empty(t, ans, "answers before Poll")
		c.Poll()
		require.Len(t, ans, 100, "size %d", size)
		for range 100 {
			r := <-ans
			require.Equal(t, KindEchoReply, r.Kind)
			if r.ReadStamped {
				// The kernel switches arrival stamps on for the
				// first socket that asks a moment later.
				require.Zero(t, round, "answer stamped at read time in round %d", round)
				continue
			}
			require.Less(t, r.RTT(), 100*time.Millisecond, "size %d", size)
			require.Greater(t, r.RTT(), time.Duration(0))
		}
	}
	st := c.Stats()
	assert.Equal(t, uint64(400), st.Matched)
	assert.Zero(t, st.Malformed)
	require.NoError(t, c.Close())
	c.Poll() // after Close: nothing, no panic
	_, err := c.SendFunc(Request{Dst: dst, PayloadSize: 56}, nil, ans)
	require.ErrorIs(t, err, ErrClosed)
}
