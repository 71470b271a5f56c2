package connprobereceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

func metricNames(md pmetric.Metrics) map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				out[ms.At(k).Name()] = ms.At(k)
			}
		}
	}
	return out
}

// Loopback v4 and v6 in a fresh namespace, every probe on, through the
// scraper; then the connmonitor file changes and is re-read.
func TestScraperLoopbackAndReload(t *testing.T) {
	ns := testnet.New(t)
	file := filepath.Join(t.TempDir(), "connmonitor.conf")
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.1 ping=50 numpings=2 trace=100 scan=100\n"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.NetNS = ns.Path
	cfg.ConnmonitorFile = file
	cfg.ConnmonitorCheckInterval = 50 * time.Millisecond
	d := 50 * time.Millisecond
	timeout := 200 * time.Millisecond
	cfg.Defaults.Ping.Timeout = &timeout
	cfg.Defaults.Scan.Timeout = &timeout
	cfg.Defaults.Trace.Timeout = &timeout
	cfg.Targets = []TargetConfig{{Host: "::1", Name: "six", ProbeConfig: ProbeConfig{
		Ping: PingConfig{Interval: &d}, Trace: TraceConfig{Interval: &d, Protocol: "udp"},
	}}}
	require.NoError(t, cfg.Validate())
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	// Every kind of result appears once its first probe completed (within
	// about 0.5 s natively; longer in an emulated guest).
	names := []string{
		"connprobe.ping.rtt.min", "connprobe.ping.rtt.avg", "connprobe.ping.rtt.max", "connprobe.ping.rtt.stddev",
		"connprobe.ping.loss", "connprobe.ping.packets", "connprobe.ping.duration",
		"connprobe.trace.hops", "connprobe.trace.path", "connprobe.trace.route_changes", "connprobe.trace.probes", "connprobe.trace.hop.rtt",
		"connprobe.tcp.port.state",
	}
	var m map[string]pmetric.Metric
	missing := names
	for deadline := time.Now().Add(testnet.Scaled(3 * time.Second)); len(missing) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		m = metricNames(md)
		missing = nil
		for _, name := range names {
			if _, ok := m[name]; !ok {
				missing = append(missing, name)
			}
		}
		// and from both targets: a point each for loss and the histogram,
		// three ports on each of three addresses
		if len(missing) == 0 && (m["connprobe.ping.loss"].Gauge().DataPoints().Len() < 2 ||
			m["connprobe.ping.duration"].Histogram().DataPoints().Len() < 2 ||
			m["connprobe.tcp.port.state"].Gauge().DataPoints().Len() < 9) {
			missing = []string{"a second target's results"}
		}
	}
	require.Empty(t, missing, "metrics never scraped")
	loss := m["connprobe.ping.loss"].Gauge().DataPoints()
	require.Equal(t, 2, loss.Len())
	for i := 0; i < loss.Len(); i++ {
		assert.Zero(t, loss.At(i).DoubleValue())
	}
	hops := m["connprobe.trace.hops"].Gauge().DataPoints()
	for i := 0; i < hops.Len(); i++ {
		assert.Equal(t, int64(1), hops.At(i).IntValue(), "loopback is one hop")
	}
	// Ports 22, 80, 443 are closed on an empty namespace's loopback.
	ps := m["connprobe.tcp.port.state"].Gauge().DataPoints()
	require.Equal(t, 9, ps.Len())
	for i := 0; i < ps.Len(); i++ {
		st, _ := ps.At(i).Attributes().Get("connprobe.port.state")
		want := int64(0)
		if st.Str() == "closed" {
			want = 1
		}
		assert.Equal(t, want, ps.At(i).IntValue())
	}
	// Histogram count = cumulative received packets.
	h := m["connprobe.ping.duration"].Histogram().DataPoints()
	require.Equal(t, 2, h.Len())

	// connmonitor-style reload: a new host appears, the old one goes.
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.2 ping=50 numpings=1\n"), 0o600))
	require.Eventually(t, func() bool {
		md, err := s.scrape(context.Background())
		if err != nil {
			t.Log(err)
			return false
		}
		seen := map[string]bool{}
		dps := metricNames(md)["connprobe.ping.packets"]
		if dps.Name() == "" {
			return false
		}
		for i := 0; i < dps.Sum().DataPoints().Len(); i++ {
			v, _ := dps.Sum().DataPoints().At(i).Attributes().Get("connprobe.target")
			seen[v.Str()] = true
		}
		return seen["127.0.0.2"] && !seen["127.0.0.1"] && seen["six"]
	}, testnet.Scaled(3*time.Second), 100*time.Millisecond)

	// A file that no longer parses keeps the previous targets.
	require.NoError(t, os.WriteFile(file, []byte("127.0.0.3 ping=1 ping=2\n"), 0o600))
	time.Sleep(200 * time.Millisecond)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Contains(t, metricNames(md), "connprobe.ping.packets")
}

func TestStartFailsOnBadNetnsAndFile(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Targets = []TargetConfig{{Host: "127.0.0.1"}}
	cfg.NetNS = "/nonexistent/netns"
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	err := s.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "/nonexistent/netns")
	require.NoError(t, s.shutdown(context.Background()))

	cfg.NetNS = ""
	cfg.ConnmonitorFile = filepath.Join(t.TempDir(), "c.conf")
	require.NoError(t, os.WriteFile(cfg.ConnmonitorFile, []byte("h ping=1\nh2 hops=0\n"), 0o600))
	s = newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	err = s.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `line 2: option "hops"`)
	require.NoError(t, s.shutdown(context.Background()))

	require.NoError(t, os.WriteFile(cfg.ConnmonitorFile, []byte("h ping=1\n127.0.0.1\nh trace=5\n"), 0o600))
	s = newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	err = s.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "line 2: host 127.0.0.1 is already probed (targets[0])")
	require.ErrorContains(t, err, "line 3: host h is already probed (line 1)")
	require.NoError(t, s.shutdown(context.Background()))
}
