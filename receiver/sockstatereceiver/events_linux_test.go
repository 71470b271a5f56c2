package sockstatereceiver

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

func startScraper(t *testing.T, m Method, nsPath string) *sockScraper {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Method = m
	cfg.NetNS = nsPath
	cfg.ResyncInterval = time.Hour
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s
}

func scrapeCounts(t *testing.T, s *sockScraper) map[countKey]int64 {
	t.Helper()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	got := connCounts(t, md)
	for k, v := range got {
		if v == 0 {
			delete(got, k)
		}
	}
	return got
}

// TestKernelEventsTrackChanges seeds the events method on the known
// population, then changes states in every way the programs must follow
// (new connections, child sockets, request sockets, full-socket and orphan
// FIN_WAIT2 to TIME_WAIT, substate changes of timewait sockets, closes) and
// checks, without a resync, that its counts equal a full sockdiag dump and
// ss in the same namespace.
func TestKernelEventsTrackChanges(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "ss")
	p := newPopulation(t)
	ev := startScraper(t, MethodEvents, p.ns.Path)
	diag := startScraper(t, MethodSockDiag, p.ns.Path)
	require.Equal(t, MethodEvents, ev.method)
	require.Equal(t, p.want, scrapeCounts(t, ev), "seeded counts")

	lo := netip.MustParseAddrPort("127.0.0.1:0")
	p.ns.Do(t, func() error {
		l, port, err := p.listen(unix.AF_INET, lo, 128)
		if err != nil {
			return err
		}
		dst := sockaddr(netip.AddrPortFrom(lo.Addr(), port))
		var servers, clients []int
		for range 30 {
			c, err := p.socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			if err := unix.Connect(c, dst); err != nil {
				return err
			}
			s, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
			if err != nil {
				return err
			}
			p.fds = append(p.fds, s)
			servers, clients = append(servers, s), append(clients, c)
		}
		for i := range 10 { // client closes first: client TIME_WAIT
			unix.Close(clients[i])
			if err := waitState(servers[i], tcpCloseWait); err != nil {
				return err
			}
			unix.Close(servers[i])
			p.forget(clients[i], servers[i])
		}
		for i := 10; i < 15; i++ { // server closes first: server TIME_WAIT
			unix.Close(servers[i])
			unix.Close(clients[i])
			p.forget(clients[i], servers[i])
		}
		for i := 15; i < 20; i++ { // orphaned FIN_WAIT2 (a timewait socket) left
			unix.Close(clients[i])
			p.forget(clients[i])
		}
		for i := 20; i < 25; i++ { // half-closed: FIN_WAIT2 full socket, then TIME_WAIT
			if err := unix.Shutdown(clients[i], unix.SHUT_WR); err != nil {
				return err
			}
			if err := waitState(servers[i], tcpCloseWait); err != nil {
				return err
			}
			unix.Close(servers[i])
			p.forget(servers[i])
		}
		// One more request socket behind the dropped ACK.
		c, err := p.socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		return unix.Connect(c, sockaddr(netip.AddrPortFrom(lo.Addr(), 7001)))
	})
	settle := func(stage string) {
		t.Helper()
		var want, got, ss map[countKey]int64
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			want = scrapeCounts(t, diag)
			got = scrapeCounts(t, ev)
			ss = ssCounts(t, p.ns)
			if sameCounts(got, want, nil) && sameCounts(ss, want, map[string]bool{"udplite": true}) {
				return
			}
		}
		t.Fatalf("%s: events %v\nsockdiag %v\nss %v", stage, got, want, ss)
	}
	settle("after churn")
	got := scrapeCounts(t, ev)
	// TIME_WAIT: the population's, 10 client-side, 5 server-side, 5 from
	// half-closed pairs; FIN_WAIT2: the population's 3 full sockets and 5
	// orphans (timewait sockets in substate FIN_WAIT2).
	require.Equal(t, int64(popTimeWait+10+5+5), got[countKey{"tcp", "time_wait", "ipv4"}])
	require.Equal(t, int64(popFinWait2+5), got[countKey{"tcp", "fin_wait_2", "ipv4"}])

	// The orphans' peers close now: their timewait sockets move from
	// FIN_WAIT2 to TIME_WAIT inside tcp_timewait_state_process.
	p.ns.Do(t, func() error {
		for _, fd := range append([]int(nil), p.fds...) {
			if ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && ti.State == tcpCloseWait {
				unix.Close(fd)
				p.forget(fd)
			}
		}
		return nil
	})
	settle("after the peers of FIN_WAIT2 sockets closed")
	got = scrapeCounts(t, ev)
	require.Zero(t, got[countKey{"tcp", "fin_wait_2", "ipv4"}])
	require.Zero(t, got[countKey{"tcp", "close_wait", "ipv4"}])

	// A forced resync finds no drift.
	ev.single.(*eventsCounter).force = true
	scrapeCounts(t, ev)
	drift, ok := ev.single.(*eventsCounter).lastDrift()
	require.True(t, ok)
	require.Zero(t, drift)
}
