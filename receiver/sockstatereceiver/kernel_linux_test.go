package sockstatereceiver

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

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
	hold := func(ns *testnet.NS, n int) {
		var fds []int
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
		t.Cleanup(func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		})
	}
	hold(a, 3)
	hold(b, 5)
	cfg := createDefaultConfig().(*Config)
	cfg.AllNetNS, cfg.MaxNetNS, cfg.Method = true, 1000, MethodAuto
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	udpClose := map[string]int64{}
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		path, _ := rms.At(i).Resource().Attributes().Get("netns.path")
		one := pmetric.NewMetrics()
		rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
		udpClose[path.Str()] = connCounts(t, one)[countKey{"udp", "closed", "ipv4"}]
	}
	require.Equal(t, int64(3), udpClose[a.Path])
	require.Equal(t, int64(5), udpClose[b.Path])
	require.Contains(t, udpClose, ownNetNS)
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
