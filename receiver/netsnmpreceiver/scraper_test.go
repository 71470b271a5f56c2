package netsnmpreceiver

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

const fixtures = "../../internal/procnet/testdata"

// fakeProc lays out a host procfs as a container would see it mounted at
// root_path: <root>/1/net/{snmp,netstat,snmp6} and <root>/1/ns/net.
func fakeProc(t *testing.T, kernel string, files ...string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "1", "net"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "1", "ns"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "1", "ns", "net"), nil, 0o644))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(fixtures, kernel, f))
		require.NoError(t, err)
		writeProc(t, root, f, string(b))
	}
	return root
}

func writeProc(t *testing.T, root, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(root, "1", "net", name), []byte(content), 0o644))
}

func newTestScraper(t *testing.T, cfg *Config) (*netsnmpScraper, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s, err := newScraper(cfg, set)
	require.NoError(t, err)
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s, logs
}

func defaultConfig() *Config { return createDefaultConfig().(*Config) }

// nstatScraper starts a scraper with nstat enabled on a fake procfs whose
// only file is name (snmp or netstat) holding content.
func nstatScraper(t *testing.T, name, content string) (*netsnmpScraper, *Config, *observer.ObservedLogs) {
	t.Helper()
	cfg := defaultConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18")
	writeProc(t, cfg.RootPath, name, content)
	cfg.Nstat.Enabled = true
	s, logs := newTestScraper(t, cfg)
	return s, cfg, logs
}

var compareOpts = []pmetrictest.CompareMetricsOption{
	pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp(),
	pmetrictest.IgnoreResourceAttributeValue("netns.path"), pmetrictest.IgnoreResourceAttributeValue("netns.inode"),
	pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder(),
}

func TestScrapeGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kernel string
		nstat  bool
	}{
		{"curated_6.18", "linux-6.18", false},
		{"nstat_6.18", "linux-6.18", true},
		{"curated_4.19", "linux-4.19", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			files := []string{"snmp", "netstat", "snmp6"}
			if tc.kernel == "linux-4.19" {
				files = files[:2] // no IPv6: snmp6 absent
			}
			cfg.RootPath = fakeProc(t, tc.kernel, files...)
			if tc.nstat {
				cfg.Nstat = NstatConfig{Enabled: true, Exclude: []string{"^MPTcp"}}
			}
			s, logs := newTestScraper(t, cfg)
			md, err := s.scrape(context.Background())
			require.NoError(t, err)
			expectedFile := filepath.Join("testdata", "scraper", tc.name+".yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, golden.WriteMetrics(t, expectedFile, md))
			}
			expected, err := golden.ReadMetrics(expectedFile)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(expected, md, compareOpts...))
			if tc.kernel == "linux-4.19" {
				assert.Equal(t, 1, logs.FilterMessage("counter file not present, its counters will not be reported").Len())
			}
		})
	}
}

// metricValues flattens a scrape to "name{attr=value,...}" -> value.
func metricValues(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		var attrs []string
		dp.Attributes().Range(func(k string, v pcommon.Value) bool {
			attrs = append(attrs, k+"="+v.AsString())
			return true
		})
		key := m.Name()
		if len(attrs) > 0 {
			sort.Strings(attrs)
			key += "{" + strings.Join(attrs, ",") + "}"
		}
		out[key] = dp.IntValue()
	})
	return out
}

func startTimes(md pmetric.Metrics) map[pcommon.Timestamp]int {
	out := map[pcommon.Timestamp]int{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for k := 0; k < ms.Len(); k++ {
		if ms.At(k).Type() == pmetric.MetricTypeSum {
			dps := ms.At(k).Sum().DataPoints()
			for d := 0; d < dps.Len(); d++ {
				out[dps.At(d).StartTimestamp()]++
			}
		}
	}
	return out
}

func TestCounterResetStartsNewSeries(t *testing.T) {
	s, cfg, logs := nstatScraper(t, "snmp", "Tcp: ActiveOpens CurrEstab InSegs OutSegs\nTcp: 100 5 1000 900\n")

	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	first := startTimes(md1)
	require.Len(t, first, 1)

	// CurrEstab going down is normal for a gauge; it must not restart.
	writeProc(t, cfg.RootPath, "snmp", "Tcp: ActiveOpens CurrEstab InSegs OutSegs\nTcp: 150 2 1100 950\n")
	md2, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, first, startTimes(md2))
	assert.Equal(t, int64(150), metricValues(md2)["system.network.tcp.active_opens"])
	assert.Equal(t, int64(2), metricValues(md2)["system.network.tcp.current_established"])

	// A counter going backwards (namespace recreated under a bind mount,
	// counters cleared) starts a new series: new start time, raw values.
	writeProc(t, cfg.RootPath, "snmp", "Tcp: ActiveOpens CurrEstab InSegs OutSegs\nTcp: 3 1 20 10\n")
	md3, err := s.scrape(context.Background())
	require.NoError(t, err)
	third := startTimes(md3)
	require.Len(t, third, 1)
	assert.NotEqual(t, first, third)
	for st := range third {
		for old := range first {
			assert.Greater(t, st, old)
		}
	}
	v := metricValues(md3)
	assert.Equal(t, int64(3), v["system.network.tcp.active_opens"])
	assert.Equal(t, int64(20), v["system.network.tcp.segments{network.io.direction=receive}"])
	assert.Equal(t, int64(3), v["nstat.TcpActiveOpens"])
	assert.Equal(t, 1, logs.FilterMessageSnippet("starting new cumulative series").Len())
}

func TestWrap32(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18")
	writeProc(t, cfg.RootPath, "snmp", "Udp: InDatagrams OutDatagrams\nUdp: 4294967290 7\n")
	s, _ := newTestScraper(t, cfg)
	s.main.counters.Wrap32 = true // as on a 32-bit kernel

	md1, err := s.scrape(context.Background())
	require.NoError(t, err)
	writeProc(t, cfg.RootPath, "snmp", "Udp: InDatagrams OutDatagrams\nUdp: 4 9\n")
	md2, err := s.scrape(context.Background())
	require.NoError(t, err)
	in := "system.network.udp.datagrams{network.io.direction=receive,network.type=ipv4}"
	assert.Equal(t, int64(4294967290), metricValues(md1)[in])
	assert.Equal(t, int64(1<<32+4), metricValues(md2)[in], "a 32-bit wrap continues the series")
	assert.Equal(t, startTimes(md1), startTimes(md2))
}

func TestMalformedLineIsPartialError(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18", "netstat", "snmp6")
	writeProc(t, cfg.RootPath, "snmp", "Tcp: ActiveOpens PassiveOpens\nTcp: 10 x\nUdp: NoPorts\nUdp: 4\n")
	s, _ := newTestScraper(t, cfg)
	md, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	assert.ErrorContains(t, err, filepath.Join(cfg.RootPath, "1", "net", "snmp")+`: line 2: TcpPassiveOpens: value "x" is not an integer`)
	v := metricValues(md)
	assert.Equal(t, int64(10), v["system.network.tcp.active_opens"])
	assert.Equal(t, int64(4), v["system.network.udp.no_ports{network.type=ipv4}"])
	assert.NotContains(t, v, "system.network.tcp.passive_opens")
	assert.Contains(t, v, "system.network.tcp.listen.overflows")
}

func TestNegativeCounterIsAnError(t *testing.T) {
	s, _, _ := nstatScraper(t, "snmp", "Tcp: MaxConn ActiveOpens\nTcp: -1 -5\n")
	md, err := s.scrape(context.Background())
	assert.ErrorContains(t, err, "TcpActiveOpens: counter is negative (-5)")
	v := metricValues(md)
	assert.Equal(t, int64(-1), v["nstat.TcpMaxConn"])
	assert.NotContains(t, v, "system.network.tcp.active_opens")
	assert.NotContains(t, v, "nstat.TcpActiveOpens")
}

func TestNstatFilters(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18", "snmp", "netstat", "snmp6")
	cfg.Nstat = NstatConfig{Enabled: true, Include: []string{"^TcpExtListen", "^Udp6"}, Exclude: []string{"Lite|Csum"}}
	s, _ := newTestScraper(t, cfg)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	var got []string
	for k := range metricValues(md) {
		if strings.HasPrefix(k, "nstat.") {
			got = append(got, k)
		}
	}
	assert.ElementsMatch(t, []string{
		"nstat.TcpExtListenOverflows", "nstat.TcpExtListenDrops",
		"nstat.Udp6InDatagrams", "nstat.Udp6NoPorts", "nstat.Udp6InErrors", "nstat.Udp6OutDatagrams",
		"nstat.Udp6RcvbufErrors", "nstat.Udp6SndbufErrors", "nstat.Udp6IgnoredMulti", "nstat.Udp6MemErrors",
	}, got)
}

func TestDisabledMetricsSkipTheirFiles(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootPath = fakeProc(t, "linux-6.18", "snmp", "netstat", "snmp6")
	m := &cfg.Metrics
	m.SystemNetworkUDPDatagrams.Enabled = false
	m.SystemNetworkUDPInErrors.Enabled = false
	m.SystemNetworkUDPNoPorts.Enabled = false
	m.SystemNetworkUDPReceiveBufferErrors.Enabled = false
	m.SystemNetworkUDPSendBufferErrors.Enabled = false
	s, _ := newTestScraper(t, cfg)
	assert.Nil(t, s.proc.files[fileSNMP6], "snmp6 only feeds UDP metrics and nstat: not opened")
	assert.NotNil(t, s.proc.files[fileSNMP])
}

func TestRootPathErrors(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootPath = t.TempDir()
	set := receivertest.NewNopSettings(metadata.Type)
	s, err := newScraper(cfg, set)
	require.NoError(t, err)
	err = s.start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, "root_path "+cfg.RootPath+": neither")

	cfg = defaultConfig()
	cfg.NetNS = "/nonexistent/netns"
	s, err = newScraper(cfg, set)
	require.NoError(t, err)
	assert.ErrorContains(t, s.start(context.Background(), componenttest.NewNopHost()), "opening network namespace /nonexistent/netns")
}

func newBenchSettings() receiver.Settings { return receivertest.NewNopSettings(metadata.Type) }

// When only nstat.* is recorded (no counter feeds a generated metric), the
// nstat family creates the resource itself, as the metrics builder would:
// same resource attributes, scope and schema URL.
func TestNstatAloneHasTheReceiversResource(t *testing.T) {
	s, _, _ := nstatScraper(t, "netstat", "TcpExt: NotAGeneratedMetric\nTcpExt: 7\n")
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	assert.Equal(t, "https://opentelemetry.io/schemas/1.38.0", rm.SchemaUrl())
	_, ok := rm.Resource().Attributes().Get("netns.inode")
	assert.True(t, ok, "netns.inode")
	require.Equal(t, 1, rm.ScopeMetrics().Len())
	assert.Equal(t, metadata.ScopeName, rm.ScopeMetrics().At(0).Scope().Name())
	assert.Equal(t, map[string]int64{"nstat.TcpExtNotAGeneratedMetric": 7}, metricValues(md))
}
