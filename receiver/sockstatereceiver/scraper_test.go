package sockstatereceiver

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

func testScraper(t *testing.T, cfg *Config) (*sockScraper, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	return newScraper(cfg, set), logs
}

var compareOpts = []pmetrictest.CompareMetricsOption{
	pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp(),
	pmetrictest.IgnoreResourceAttributeValue("netns.path"), pmetrictest.IgnoreResourceAttributeValue("netns.inode"),
	pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
}

// TestScrapeGoldenProcfs reads the socket tables and sockstat captured from
// the kernel test's population (Linux 6.18) through root_path.
func TestScrapeGoldenProcfs(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Method = MethodProcfs
	cfg.RootPath = filepath.Join("testdata", "proc")
	cfg.Ports = []uint16{7001}
	cfg.Metrics.SystemNetworkConnectionLocalPortCount.Enabled = true
	s, logs := testScraper(t, cfg)
	s.pageSize = 4096
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	expectedFile := filepath.Join("testdata", "golden", "procfs_6.18.yaml")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, golden.WriteMetrics(t, expectedFile, md))
	}
	expected, err := golden.ReadMetrics(expectedFile)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(expected, md, compareOpts...))
	require.Equal(t, 1, logs.FilterMessage("listen queue metrics unavailable").Len())

	// The same population as the kernel test builds.
	got := connCounts(t, md)
	for k, v := range got {
		if v == 0 {
			delete(got, k)
		}
	}
	require.Equal(t, newPopulationWant(), got)
}

// fakeCounter stands in for a kernel method, bound to every namespace.
type fakeCounter struct {
	m              Method
	counts         func(t *kcount.Tally) error
	listening      []sockdiag.Msg
	closed         bool
	countingClosed bool
	procDir        string
}

func (f *fakeCounter) Method() Method { return f.m }
func (f *fakeCounter) Refresh() error { return nil }
func (f *fakeCounter) Bind(ns kcount.Namespace) (kcount.Counter, error) {
	f.procDir = ns.ProcDir
	return f, nil
}
func (f *fakeCounter) Count(t *kcount.Tally) error               { return f.counts(t) }
func (f *fakeCounter) InProcNet(fn func(dir string) error) error { return fn(f.procDir) }
func (f *fakeCounter) Close() error {
	if f.closed {
		f.countingClosed = true
	}
	f.closed = true
	return nil
}
func (f *fakeCounter) Listeners(fn func(*sockdiag.Msg) error) error {
	for i := range f.listening {
		if err := fn(&f.listening[i]); err != nil {
			return err
		}
	}
	return nil
}

func listener(ap string, q, limit uint32) sockdiag.Msg {
	a := netip.MustParseAddrPort(ap)
	m := sockdiag.Msg{Family: 2, State: sockdiag.Listen, SPort: a.Port(), RQueue: q, WQueue: limit}
	if a.Addr().Is6() {
		m.Family = 10
		m.Src = a.Addr().As16()
	} else {
		b := a.Addr().As4()
		copy(m.Src[:], b[:])
	}
	return m
}

func TestAutoPicksBestWorkingMethodAndListenerBounds(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.RootPath = filepath.Join("testdata", "proc") // sockstat from the fixture
	cfg.ListenPorts = []uint16{80, 443, 8080}
	cfg.MaxListeners = 2
	s, logs := testScraper(t, cfg)
	fake := &fakeCounter{m: MethodSockDiag, counts: func(t *kcount.Tally) error {
		t.Conns[kcount.TCP][0][sockdiag.Established] = 7
		return nil
	}, listening: []sockdiag.Msg{
		listener("0.0.0.0:80", 3, 128), listener("[::]:443", 0, 4096), listener("127.0.0.1:22", 1, 5), listener("0.0.0.0:8080", 0, 1),
	}}
	var tried []Method
	s.open = func(m Method) (counting, error) {
		tried = append(tried, m)
		if m == MethodSockDiag {
			return fake, nil
		}
		return nil, errors.New(string(m) + " unavailable here")
	}
	require.NoError(t, s.start(context.Background(), nil))
	require.Equal(t, []Method{MethodEvents, MethodIterator, MethodSockDiag}, tried)
	entry := logs.FilterMessage("sockstate counting method (auto)").All()
	require.Len(t, entry, 1)
	require.Equal(t, "sockdiag", entry[0].ContextMap()["method"])
	require.Equal(t, "iterator unavailable here", entry[0].ContextMap()["skipped_iterator"])

	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(7), connCounts(t, md)[countKey{"tcp", "established", "ipv4"}])
	size := map[string]int64{}
	eachPoint(md, "system.network.tcp.listen.queue.usage", func(a map[string]any, v int64) {
		size[netip.AddrPortFrom(netip.MustParseAddr(a["network.local.address"].(string)), uint16(a["network.local.port"].(int64))).String()] = v
	})
	// Port 22 is not listed; 8080 is over max_listeners.
	require.Equal(t, map[string]int64{"0.0.0.0:80": 3, "[::]:443": 0}, size)
	require.Equal(t, 1, logs.FilterMessage("more listeners than max_listeners; the rest are not reported").Len())
	require.NoError(t, s.shutdown(context.Background()))
	require.True(t, fake.closed)
	require.True(t, fake.countingClosed, "the counter and the counting method are closed")
}

func TestScrapePartialErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.RootPath = t.TempDir() // no sockstat there
	require.NoError(t, os.MkdirAll(filepath.Join(cfg.RootPath, "1", "net"), 0o755))
	s, _ := testScraper(t, cfg)
	s.open = func(m Method) (counting, error) {
		return &fakeCounter{m: m, counts: func(*kcount.Tally) error { return errors.New("dump failed") }}, nil
	}
	require.NoError(t, s.start(context.Background(), nil))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	_, err := s.scrape(context.Background())
	var partial scrapererror.PartialScrapeError
	require.ErrorAs(t, err, &partial)
	require.ErrorContains(t, err, "counting sockets (events): dump failed")
	require.ErrorContains(t, err, "reading sockstat")
}

func TestStartFailsWhenNoMethodWorks(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Method = MethodIterator
	s, _ := testScraper(t, cfg)
	s.open = func(Method) (counting, error) { return nil, errors.New("no BPF") }
	require.ErrorContains(t, s.start(context.Background(), nil), "method iterator: no BPF")
	cfg.Method = MethodAuto
	require.ErrorContains(t, s.start(context.Background(), nil), "method auto: no method works")
}
