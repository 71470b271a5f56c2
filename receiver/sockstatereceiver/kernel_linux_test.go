package sockstatereceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// TestKernelPopulation builds a known population in a fresh namespace and
// checks that every method counts exactly the constructed numbers, that ss
// in the same namespace agrees, and the listen-queue and sockstat metrics.
func TestKernelPopulation(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "ss")
	p := newPopulation(t)

	// ss agrees with the construction (waitSettled already required it).
	require.True(t, sameCounts(ssCounts(t, p.ns), p.want, map[string]bool{"udplite": true}))

	for _, m := range []Method{MethodSockDiag, MethodProcfs, MethodIterator, MethodAuto} {
		t.Run(string(m), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Method = m
			cfg.NetNS = p.ns.Path
			cfg.Ports = []uint16{7001}
			cfg.Metrics.SystemNetworkConnectionLocalPortCount.Enabled = true
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			if err := s.start(context.Background(), nil); err != nil {
				if m == MethodIterator && strings.Contains(err.Error(), "not available") {
					t.Skip(err)
				}
				require.NoError(t, err)
			}
			defer func() { require.NoError(t, s.shutdown(context.Background())) }()
			md, err := s.scrape(context.Background())
			require.NoError(t, err)

			got := connCounts(t, md)
			for k, v := range p.want {
				require.Equal(t, v, got[k], "%s: %v", s.method, k)
			}
			for k, v := range got {
				require.Equal(t, p.want[k], v, "%s: %v", s.method, k)
			}
			// Every state a transport uses is emitted, zero or not.
			require.Contains(t, got, countKey{"tcp", "closing", "ipv6"})
			require.Contains(t, got, countKey{"raw", "established", "ipv4"})

			// Port 7001 holds the listener and the SYN_RECV request socket
			// per family; the connecting clients use other local ports.
			perPort := map[string]int64{}
			eachPoint(md, "system.network.connection.local_port.count", func(a map[string]any, v int64) {
				require.Equal(t, int64(7001), a["network.local.port"])
				perPort[a["network.transport"].(string)+"/"+a["network.connection.state"].(string)] += v
			})
			require.Equal(t, int64(2), perPort["tcp/listen"])
			require.Equal(t, int64(2), perPort["tcp/syn_received"])
			require.Equal(t, int64(0), perPort["tcp/established"])

			// The sockstat TIME_WAIT buckets are the namespace's (both families).
			eachPoint(md, "system.network.tcp.time_wait.count", func(_ map[string]any, v int64) {
				require.Equal(t, int64(2*popTimeWait), v)
			})
			eachPoint(md, "system.network.socket.in_use", func(a map[string]any, v int64) {
				if a["network.transport"] == "udplite" {
					require.Equal(t, int64(1), v, "udplite in use, %v", a["network.type"])
				}
			})

			if s.method == MethodProcfs {
				return
			}
			// Listen queues: the full one holds 3 with limit 2, like ss's Recv-Q/Send-Q.
			size, limit := map[string]int64{}, map[string]int64{}
			eachPoint(md, "system.network.tcp.listen.queue.usage", func(a map[string]any, v int64) {
				size[fmt.Sprintf("%s/%d", a["network.type"], a["network.local.port"])] = v
			})
			eachPoint(md, "system.network.tcp.listen.queue.limit", func(a map[string]any, v int64) {
				limit[fmt.Sprintf("%s/%d", a["network.type"], a["network.local.port"])] = v
			})
			require.Len(t, size, 6)
			for fam, port := range p.queuePort {
				k := fmt.Sprintf("%s/%d", fam, port)
				require.Equal(t, int64(3), size[k], k)
				require.Equal(t, int64(2), limit[k], k)
				flag := map[string]string{"ipv4": "-4", "ipv6": "-6"}[fam]
				f := strings.Fields(p.ns.Exec(t, "ss", "-Htln", flag, "sport", "=", fmt.Sprint(port)))
				require.Equal(t, []string{"LISTEN", "3", "2"}, f[:3], "ss for %s", k)
			}
		})
	}
}

// TestKernelAllNetNS reads every namespace of the host and finds two fresh
// ones with their own counts under their netns.path.
func TestKernelAllNetNS(t *testing.T) {
	testnet.RequireRoot(t)
	a, b := testnet.New(t), testnet.New(t)
	holdUDP(t, a, 3)
	holdUDP(t, b, 5)
	got := countsByNetNS(t, scrapeAllNetNS(t))
	require.Equal(t, int64(3), got[a.Path][countKey{"udp", "closed", "ipv4"}])
	require.Equal(t, int64(5), got[b.Path][countKey{"udp", "closed", "ipv4"}])
	require.Contains(t, got, ownNetNS)
}

// scrapeAllNetNS is one all_netns scrape (method auto) of the host.
func scrapeAllNetNS(t *testing.T) pmetric.Metrics {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.AllNetNS, cfg.MaxNetNS, cfg.Method = true, 1000, MethodAuto
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	return md
}

// vanishingCounting binds counters that delete their namespace in the
// middle of a scrape, as `ip netns del` or an exiting container does under
// all_netns.
type vanishingCounting struct {
	counting
	path string
	del  func()
}

func (v *vanishingCounting) Bind(ns kcount.Namespace) (kcount.Counter, error) {
	c, err := v.counting.Bind(ns)
	if err != nil || ns.Path != v.path {
		return c, err
	}
	return &vanishingCounter{Counter: c, del: v.del}, nil
}

type vanishingCounter struct {
	kcount.Counter
	del func()
}

func (v *vanishingCounter) Count(t *kcount.Tally) error {
	v.del()
	if err := v.Counter.Count(t); err != nil {
		return err
	}
	return errors.New("dump cut short")
}

func TestKernelAllNetNSNamespaceDeletedMidScrape(t *testing.T) {
	testnet.RequireRoot(t)
	doomed := testnet.New(t)
	cfg := createDefaultConfig().(*Config)
	cfg.AllNetNS, cfg.MaxNetNS, cfg.Method = true, 1000, MethodSockDiag
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	open := s.open
	deleted := false
	s.open = func(m Method) (counting, error) {
		c, err := open(m)
		if err != nil {
			return nil, err
		}
		return &vanishingCounting{counting: c, path: doomed.Path, del: func() {
			out, err := exec.Command("ip", "netns", "del", doomed.Name).CombinedOutput()
			require.NoError(t, err, string(out))
			deleted = true
		}}, nil
	}
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	_, err := s.scrape(context.Background())
	require.True(t, deleted, "the doomed namespace was not scraped")
	require.NoError(t, err, "a namespace deleted while it is read is not a scrape error")
}

// TestKernelAllNetNSEvents reads every namespace with the events method:
// namespaces created after start are picked up by the next scrape without a
// restart, each one's counts equal ss run in it (ip netns exec), state
// changes after the seed are followed by the one state-change program's
// per-namespace deltas, and the drift is exported per namespace.
func TestKernelAllNetNSEvents(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "ss")
	cfg := createDefaultConfig().(*Config)
	cfg.AllNetNS, cfg.MaxNetNS, cfg.Method, cfg.ResyncInterval = true, 100000, MethodEvents, time.Hour
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()

	// pairs connects n pairs in ns and returns the client ends.
	pairs := func(ns *testnet.NS, network, addr string, n int) []net.Conn {
		ln := ns.Listen(t, network, addr)
		var clients []net.Conn
		ns.Do(t, func() error {
			return testnet.ConnectPairs(ln, n, func(c, s net.Conn) {
				clients = append(clients, c)
				t.Cleanup(func() { c.Close(); s.Close() })
			})
		})
		return clients
	}
	a, b := testnet.New(t), testnet.New(t)
	aClients := pairs(a, "tcp4", "127.0.0.1:0", 6)
	pairs(b, "tcp6", "[::1]:0", 3)
	holdUDP(t, b, 2)

	// settle scrapes until every namespace's counts equal ss in it.
	settle := func(stage string, nss ...*testnet.NS) pmetric.Metrics {
		t.Helper()
		var got, ss map[string]map[countKey]int64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			got, ss = countsByNetNS(t, md), map[string]map[countKey]int64{}
			same := true
			for _, ns := range nss {
				ss[ns.Path] = ssCounts(t, ns)
				same = same && got[ns.Path] != nil && sameCounts(got[ns.Path], ss[ns.Path], map[string]bool{"udplite": true})
			}
			if same {
				return md
			}
		}
		for _, ns := range nss {
			t.Logf("%s: %s: events %v\nss %v", stage, ns.Path, got[ns.Path], ss[ns.Path])
		}
		t.Fatalf("%s: counts differ from ss", stage)
		return pmetric.Metrics{}
	}
	settle("namespaces created after start", a, b)

	// Changes after the seed, and one more namespace.
	c := testnet.New(t)
	pairs(c, "tcp4", "127.0.0.1:0", 2)
	for _, cl := range aClients[:3] {
		require.NoError(t, cl.Close()) // the client closes first: FIN_WAIT2, then TIME_WAIT once the server closes
	}
	pairs(a, "tcp6", "[::1]:0", 2)
	md := settle("after changes and a third namespace", a, b, c)
	got := countsByNetNS(t, md)
	require.Equal(t, int64(3), got[a.Path][countKey{"tcp", "close_wait", "ipv4"}], "the servers of the closed clients")
	require.Equal(t, int64(4), got[a.Path][countKey{"tcp", "established", "ipv6"}])
	require.Equal(t, int64(4), got[c.Path][countKey{"tcp", "established", "ipv4"}])

	// A forced resync of every namespace finds no drift, reported per
	// namespace.
	for _, k := range []*testnet.NS{a, b, c} {
		ino, err := netnsutil.Inode(k.Path)
		require.NoError(t, err)
		d, ok := s.bound[targetKey{k.Path, ino}].(kcount.Drifter)
		require.True(t, ok, "%s is bound to an events counter", k.Path)
		d.ForceResync()
	}
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	drift := map[string]int64{}
	eachResource(md, func(path string, one pmetric.Metrics) {
		eachPoint(one, "sockstate.events.drift", func(_ map[string]any, v int64) { drift[path] = v })
	})
	for _, k := range []*testnet.NS{a, b, c} {
		require.Contains(t, drift, k.Path)
		require.Zero(t, drift[k.Path], k.Path)
	}

	// A deleted namespace's counter is closed at the next scrape.
	out, err := exec.Command("ip", "netns", "del", c.Name).CombinedOutput()
	require.NoError(t, err, string(out))
	_, err = s.scrape(context.Background())
	require.NoError(t, err)
	for k := range s.bound {
		require.NotEqual(t, c.Path, k.label, "counter of the deleted namespace still bound")
	}
}

// countsByNetNS is connCounts per netns.path, zero counts left out.
func countsByNetNS(t *testing.T, md pmetric.Metrics) map[string]map[countKey]int64 {
	t.Helper()
	out := map[string]map[countKey]int64{}
	eachResource(md, func(path string, one pmetric.Metrics) {
		got := connCounts(t, one)
		for k, v := range got {
			if v == 0 {
				delete(got, k)
			}
		}
		out[path] = got
	})
	return out
}

// eachResource calls fn with each resource's metrics alone and its
// netns.path.
func eachResource(md pmetric.Metrics, fn func(path string, one pmetric.Metrics)) {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		path, _ := rms.At(i).Resource().Attributes().Get("netns.path")
		one := pmetric.NewMetrics()
		rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
		fn(path.Str(), one)
	}
}

// holdUDP binds n UDP sockets to 127.0.0.1 in ns until the test ends.
func holdUDP(t *testing.T, ns *testnet.NS, n int) {
	t.Helper()
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	ns.Do(t, func() error {
		for range n {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
		}
		return nil
	})
}
