package tencentcloudmonitorexporter

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter/internal/metadata"
)

const (
	testSecretID  = "AKIDnetstackTESTsecretID0001"
	testSecretKey = "netstackTESTsecretKEYdoNotLog42"
	testInstance  = "10.1.2.3"
)

// testExporter is an exporter wired to a fake server, with its logs observed.
type testExporter struct {
	*tcmExporter
	logs *observer.ObservedLogs
}

func testConfig(f *fakeMonitor) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Region = "ap-guangzhou"
	cfg.Endpoint = f.endpoint()
	cfg.SecretID = testSecretID
	cfg.SecretKey = testSecretKey
	cfg.AnnounceInstance = testInstance
	cfg.BackOffConfig.InitialInterval = 50 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 500 * time.Millisecond
	cfg.BackOffConfig.MaxElapsedTime = time.Minute
	cfg.RequestsPerSecond = 0
	return cfg
}

// fakeClock is a settable clock for the aggregator's minute flushing.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }

func startExporter(t testing.TB, cfg *Config, host component.Host, clock ...*fakeClock) *testExporter {
	t.Helper()
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.ID = component.NewID(metadata.Type) // stable, so a restart finds its queue
	exp, err := createMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	e := exp.(*tcmExporter)
	if len(clock) > 0 {
		e.now = clock[0].now
	}
	if host == nil {
		host = componenttest.NewNopHost()
	}
	require.NoError(t, e.Start(context.Background(), host))
	te := &testExporter{tcmExporter: e, logs: logs}
	t.Cleanup(func() { assertNoSecrets(t, logs) })
	return te
}

// assertNoSecrets checks that no log entry, message or field, holds a secret.
func assertNoSecrets(t testing.TB, logs *observer.ObservedLogs) {
	t.Helper()
	for _, e := range logs.All() {
		text := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range []string{testSecretKey, testSecretID, "wrongKEY"} {
			assert.NotContains(t, text, s, "secret in log entry %q", e.Message)
		}
	}
}

// snmpScrape is what the netsnmp receiver emits for one scrape.
type snmpScrape struct {
	ts, start time.Time
	tcp       map[string]int64 // metric suffix -> value
	udpIn     [2]int64         // ipv4, ipv6
	udpOut    [2]int64
	udpErr    map[string][2]int64 // in_errors, no_ports, send_buffer_errors
	listenOv  int64
	currEstab int64
}

func (s snmpScrape) metrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("netns", "host")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts, start := pcommon.NewTimestampFromTime(s.ts), pcommon.NewTimestampFromTime(s.start)
	counter := func(name string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return sum.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, v int64, attrs ...string) {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(v)
		for i := 0; i+1 < len(attrs); i += 2 {
			dp.Attributes().PutStr(attrs[i], attrs[i+1])
		}
	}
	for _, k := range []string{"active_opens", "passive_opens", "attempt_fails", "established_resets", "retransmitted_segments"} {
		point(counter("system.network.tcp."+k), s.tcp[k])
	}
	point(counter("system.network.tcp.listen.overflows"), s.listenOv)
	dg := counter("system.network.udp.datagrams")
	for i, typ := range []string{"ipv4", "ipv6"} {
		point(dg, s.udpIn[i], "network.io.direction", "receive", "network.type", typ)
		point(dg, s.udpOut[i], "network.io.direction", "transmit", "network.type", typ)
	}
	for _, k := range []string{"in_errors", "no_ports", "send_buffer_errors"} {
		dps := counter("system.network.udp." + k)
		point(dps, s.udpErr[k][0], "network.type", "ipv4")
		point(dps, s.udpErr[k][1], "network.type", "ipv6")
	}
	m := ms.AppendEmpty()
	m.SetName("system.network.tcp.current_established")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(false)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	point(sum.DataPoints(), s.currEstab)
	return md
}

// TestSeedMetrics feeds four one-minute scrapes with known counter values and
// checks the eleven seed metrics and TcpCurrEstab arrive with the right
// per-interval deltas, including a 2^32 wrap, a restart (new start time) and
// a reset without a new start time.
func TestSeedMetrics(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	e := startExporter(t, testConfig(f), nil)

	base := time.Now().Truncate(time.Minute).Add(-3 * time.Minute)
	start1 := base.Add(-time.Hour)
	start2 := base.Add(90 * time.Second) // the producer restarted before scrape 2
	const w = 1<<32 - 6                  // 6 below the 32-bit wrap
	scrapes := []snmpScrape{
		{tcp: map[string]int64{"active_opens": 100, "passive_opens": w - 290, "attempt_fails": 50, "established_resets": 1_000_000, "retransmitted_segments": 7},
			udpIn: [2]int64{1000, 5}, udpOut: [2]int64{2000, 6}, listenOv: 3, currEstab: 5,
			udpErr: map[string][2]int64{"in_errors": {1, 100}, "no_ports": {2, 100}, "send_buffer_errors": {0, 100}}},
		{tcp: map[string]int64{"active_opens": 160, "passive_opens": w, "attempt_fails": 70, "established_resets": 1_000_010, "retransmitted_segments": 7},
			udpIn: [2]int64{1500, 50}, udpOut: [2]int64{2100, 60}, listenOv: 3, currEstab: 6,
			udpErr: map[string][2]int64{"in_errors": {4, 900}, "no_ports": {12, 900}, "send_buffer_errors": {1, 900}}},
		{tcp: map[string]int64{"active_opens": 175, "passive_opens": 100, "attempt_fails": 5, "established_resets": 3, "retransmitted_segments": 9},
			udpIn: [2]int64{1501, 51}, udpOut: [2]int64{2101, 61}, listenOv: 10, currEstab: 7,
			udpErr: map[string][2]int64{"in_errors": {4, 901}, "no_ports": {13, 901}, "send_buffer_errors": {1, 901}}},
		{tcp: map[string]int64{"active_opens": 175, "passive_opens": 200, "attempt_fails": 9, "established_resets": 8, "retransmitted_segments": 19},
			udpIn: [2]int64{1601, 52}, udpOut: [2]int64{2401, 62}, listenOv: 10, currEstab: 8,
			udpErr: map[string][2]int64{"in_errors": {5, 902}, "no_ports": {13, 902}, "send_buffer_errors": {3, 902}}},
	}
	for i := range scrapes {
		scrapes[i].ts = base.Add(time.Duration(i)*time.Minute + 10*time.Second)
		scrapes[i].start = start1
		if i >= 2 {
			scrapes[i].start = start2
		}
		require.NoError(t, e.ConsumeMetrics(context.Background(), scrapes[i].metrics()))
	}
	require.NoError(t, e.Shutdown(context.Background()))

	minute := func(i int) uint64 { return uint64(base.Add(time.Duration(i) * time.Minute).Unix()) }
	// A restart (new start time) makes scrape 2 a new baseline for every
	// counter; TcpEstabResets' drop would otherwise be a reset too.
	want := map[pointKey]uint64{}
	add := func(i int, name string, v uint64) {
		want[pointKey{instance: testInstance, metric: name, ts: minute(i)}] = v
	}
	add(1, "TcpActiveOpens", 60)
	add(3, "TcpActiveOpens", 0)
	add(1, "TcpPassiveOpens", 290)
	add(3, "TcpPassiveOpens", 100)
	add(1, "TcpAttemptFails", 20)
	add(3, "TcpAttemptFails", 4)
	add(1, "TcpEstabResets", 10)
	add(3, "TcpEstabResets", 5)
	add(1, "TcpRetransSegs", 0)
	add(3, "TcpRetransSegs", 10)
	add(1, "TcpExtListenOverflows", 0)
	add(3, "TcpExtListenOverflows", 0)
	add(1, "UdpInDatagrams", 500)
	add(3, "UdpInDatagrams", 100)
	add(1, "UdpOutDatagrams", 100)
	add(3, "UdpOutDatagrams", 300)
	add(1, "UdpInErrors", 3)
	add(3, "UdpInErrors", 1)
	add(1, "UdpNoPorts", 10)
	add(3, "UdpNoPorts", 0)
	add(1, "UdpSndbufErrors", 1)
	add(3, "UdpSndbufErrors", 2)
	for i := 0; i < 4; i++ {
		add(i, "TcpCurrEstab", uint64(5+i))
	}
	_, _, stored, counts := f.snapshot()
	assert.Equal(t, want, stored)
	for k, n := range counts {
		assert.Equal(t, 1, n, "point %v sent %d times", k, n)
	}
}

// TestSeedMetricsWrapAndReset checks the 32-bit wrap and a reset without a
// new start time, with scrapes every 20 s summed into minutes.
func TestSeedMetricsWrapAndReset(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	cfg := testConfig(f)
	cfg.Metrics = []MetricMapping{
		{Metric: "system.network.tcp.passive_opens", Name: "TcpPassiveOpens", CounterBits: 32},
		{Metric: "system.network.tcp.established_resets", Name: "TcpEstabResets", CounterBits: 32},
		{Metric: "system.network.tcp.active_opens", Name: "TcpActiveOpens", CounterBits: 64},
	}
	base := time.Now().Truncate(time.Minute).Add(-3 * time.Minute)
	clock := &fakeClock{}
	clock.set(base)
	e := startExporter(t, cfg, nil, clock)
	start := base.Add(-time.Hour)
	const top = 1<<32 - 1
	passive := []int64{top - 100, top - 10, 5, 25, 30, 40} // wrap between 2 and 3: 10+1+5 = 16
	resets := []int64{1_000_000, 1_000_040, 2, 12, 15, 15} // reset at 3: new baseline
	active := []int64{top - 100, top - 10, 5, 25, 30, 40}  // 64-bit: a drop is a reset, not a wrap
	for i := range passive {
		s := snmpScrape{ts: base.Add(time.Duration(i)*20*time.Second + 5*time.Second), start: start,
			tcp:    map[string]int64{"passive_opens": passive[i], "established_resets": resets[i], "active_opens": active[i]},
			udpErr: map[string][2]int64{}}
		clock.set(s.ts.Add(time.Second))
		require.NoError(t, e.ConsumeMetrics(context.Background(), s.metrics()))
	}
	require.NoError(t, e.Shutdown(context.Background()))
	m0, m1 := uint64(base.Unix()), uint64(base.Add(time.Minute).Unix())
	want := map[pointKey]uint64{
		{testInstance, "TcpPassiveOpens", m0}: 90 + 16,
		{testInstance, "TcpPassiveOpens", m1}: 20 + 5 + 10,
		{testInstance, "TcpEstabResets", m0}:  40,
		{testInstance, "TcpEstabResets", m1}:  10 + 3 + 0,
		{testInstance, "TcpActiveOpens", m0}:  90,
		{testInstance, "TcpActiveOpens", m1}:  20 + 5 + 10,
	}
	_, _, stored, _ := f.snapshot()
	assert.Equal(t, want, stored)
}

func gauges(names []string, ts time.Time, value func(i int) int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for i, n := range names {
		m := ms.AppendEmpty()
		m.SetName(n)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetIntValue(value(i))
	}
	return md
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%03d", prefix, i)
	}
	return out
}

// TestRetryThrottlingAnd500 injects RequestLimitExceeded, HTTP 500s and
// network failures: every point still arrives exactly once.
func TestRetryThrottlingAnd500(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	cfg := testConfig(f)
	cfg.SendUnmapped = true
	e := startExporter(t, cfg, nil)
	f.inject(failure{code: "RequestLimitExceeded"}, failure{status: 500}, failure{status: 502},
		failure{code: "InternalError"}, failure{status: 429})
	ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("g", 70), ts, func(i int) int64 { return int64(i) })))
	f.waitAccepted(t, 3, 20*time.Second)
	require.NoError(t, e.Shutdown(context.Background()))
	reqs, accepted, stored, counts := f.snapshot()
	assert.Equal(t, 3, accepted, "70 points are 3 requests")
	assert.Equal(t, 3+5, reqs, "5 injected failures retried")
	require.Len(t, stored, 70)
	for i := 0; i < 70; i++ {
		k := pointKey{testInstance, fmt.Sprintf("g_%03d", i), uint64(ts.Unix())}
		assert.Equal(t, uint64(i), stored[k], k.metric)
		assert.Equal(t, 1, counts[k], k.metric)
	}
	assert.NotEmpty(t, e.logs.FilterMessageSnippet("Will retry").All(), "retries are logged")
}

// TestPermanentErrorsNotRetried checks wrong keys and the codes the issue
// lists as permanent are sent once and reported with their request id.
func TestPermanentErrorsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name, code, wantMsg string
		wrongKey            bool
	}{
		{name: "wrong key", wrongKey: true, code: "AuthFailure.SignatureFailure", wantMsg: "AuthFailure.SignatureFailure"},
		{name: "offline", code: "ActionOffline", wantMsg: "Managed Service for Prometheus or a CLS metric topic"},
		{name: "not enabled", code: "FailedOperation.ServiceNotEnabled", wantMsg: "prometheusremotewrite"},
		{name: "quota", code: "LimitExceeded.MetricQuotaExceeded", wantMsg: "metric name quota"},
		{name: "invalid parameter", code: "InvalidParameter", wantMsg: "InvalidParameter"},
		{name: "unknown parameter", code: "UnknownParameter", wantMsg: "UnknownParameter"},
		{name: "http 403", wantMsg: "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeMonitor(t, testSecretID, testSecretKey)
			cfg := testConfig(f)
			cfg.SendUnmapped = true
			if tc.wrongKey {
				cfg.SecretKey = configopaque.String("wrongKEY" + testSecretKey[8:])
			} else if tc.code != "" {
				f.always = &failure{code: tc.code}
			} else {
				f.always = &failure{status: 403}
			}
			e := startExporter(t, cfg, nil)
			ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
			require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("p", 3), ts, func(int) int64 { return 1 })))
			require.NoError(t, e.Shutdown(context.Background()))
			reqs, accepted, _, _ := f.snapshot()
			assert.Equal(t, 1, reqs, "a permanent error is not retried")
			assert.Equal(t, 0, accepted)
			dropped := e.logs.FilterMessageSnippet("Exporting failed").All()
			require.Len(t, dropped, 1, "the failure is logged once")
			errText := fmt.Sprint(dropped[0].ContextMap()["error"])
			assert.Contains(t, errText, tc.wantMsg)
			if tc.code != "" {
				assert.Contains(t, errText, "RequestId")
			}
			assert.Empty(t, e.logs.FilterMessageSnippet("Will retry").All())
		})
	}
}

// TestServerThrottleRate checks the pacing keeps a 50 requests/s server
// limit from ever answering RequestLimitExceeded.
func TestServerThrottleRate(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	f.rateLimit = 50
	cfg := testConfig(f)
	cfg.SendUnmapped = true
	cfg.RequestsPerSecond = 40
	e := startExporter(t, cfg, nil)
	ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	start := time.Now()
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("r", 30*60), ts, func(int) int64 { return 2 })))
	f.waitAccepted(t, 60, 20*time.Second)
	elapsed := time.Since(start)
	require.NoError(t, e.Shutdown(context.Background()))
	reqs, accepted, stored, _ := f.snapshot()
	assert.Equal(t, 60, reqs, "no request throttled")
	assert.Equal(t, 60, accepted)
	assert.Len(t, stored, 1800)
	assert.GreaterOrEqual(t, elapsed, 1400*time.Millisecond, "60 requests at 40/s take 1.5 s")
}

// TestExactlyOnceAcrossDowntime takes the server down for 30 s while data
// keeps arriving and the collector restarts with a persistent queue: no
// point is lost and none is sent twice.
func TestExactlyOnceAcrossDowntime(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s of downtime")
	}
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	dir := t.TempDir()
	// The real file_storage extension (bbolt), restarted with the exporter.
	sf := filestorage.NewFactory()
	storageID := component.NewID(sf.Type())
	var ext extension.Extension
	newHost := func() component.Host {
		scfg := sf.CreateDefaultConfig().(*filestorage.Config)
		scfg.Directory = dir
		var err error
		ext, err = sf.Create(context.Background(), extensiontest.NewNopSettings(sf.Type()), scfg)
		require.NoError(t, err)
		host := storagetest.NewStorageHost().WithExtension(storageID, ext)
		require.NoError(t, ext.Start(context.Background(), host))
		return host
	}
	cfg := testConfig(f)
	cfg.SendUnmapped = true
	cfg.BackOffConfig.MaxElapsedTime = 0 // retry until it works
	q := cfg.QueueConfig.Get()
	q.StorageID = &storageID
	cfg.QueueConfig = configoptional.Some(*q)
	now := time.Now()
	ts1 := now.Truncate(time.Minute).Add(-3 * time.Minute)
	ts2 := ts1.Add(time.Minute)
	ts3 := ts2.Add(time.Minute)
	value := func(i int) int64 { return int64(i * 7) }

	e := startExporter(t, cfg, newHost())
	// Server up: minute 1 goes through.
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("a", 100), ts1, value)))
	require.Eventually(t, func() bool { _, n, _, _ := f.snapshot(); return n == 4 }, 10*time.Second, 20*time.Millisecond)

	// Down: minute 2 is queued and retried; the collector restarts.
	f.down()
	downAt := time.Now()
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("a", 100), ts2, value)))
	time.Sleep(2 * time.Second)
	require.NoError(t, e.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	e = startExporter(t, cfg, newHost())
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("a", 100), ts3, value)))
	time.Sleep(30*time.Second - time.Since(downAt))
	_, acceptedDuringDown, _, _ := f.snapshot()
	require.Equal(t, 4, acceptedDuringDown)
	f.up()

	if !assert.Eventually(t, func() bool { _, n, _, _ := f.snapshot(); return n == 12 }, 20*time.Second, 50*time.Millisecond) {
		r, n, _, _ := f.snapshot()
		t.Logf("requests %d accepted %d last error %q", r, n, f.lastErr)
		for _, l := range e.logs.All() {
			t.Logf("%s %v", l.Message, l.ContextMap())
		}
	}
	require.NoError(t, e.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	_, accepted, stored, counts := f.snapshot()
	assert.Equal(t, 12, accepted)
	require.Len(t, stored, 300, "no point lost")
	for k, n := range counts {
		assert.Equal(t, 1, n, "point %v sent %d times", k, n)
	}
	for _, ts := range []time.Time{ts1, ts2, ts3} {
		for i := 0; i < 100; i++ {
			k := pointKey{testInstance, fmt.Sprintf("a_%03d", i), uint64(ts.Unix())}
			assert.Equal(t, uint64(i*7), stored[k], "%v", k)
		}
	}
}

// TestTooOldDropped checks points beyond the API's 300 s window are dropped
// with a clear error instead of being sent.
func TestTooOldDropped(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	cfg := testConfig(f)
	cfg.SendUnmapped = true
	e := startExporter(t, cfg, nil)
	ts := time.Now().Add(-10 * time.Minute)
	require.NoError(t, e.ConsumeMetrics(context.Background(), gauges(names("old", 2), ts, func(int) int64 { return 1 })))
	require.NoError(t, e.Shutdown(context.Background()))
	reqs, _, _, _ := f.snapshot()
	assert.Equal(t, 0, reqs)
	dropped := e.logs.FilterMessageSnippet("Exporting failed").All()
	require.Len(t, dropped, 1)
	assert.Contains(t, fmt.Sprint(dropped[0].ContextMap()["error"]), "within the last 5m0s")
}

// TestPartialFailureResendsOnlyTheRest checks that when one request of a
// queued item fails, the retry sends only the requests not yet delivered.
func TestPartialFailureResendsOnlyTheRest(t *testing.T) {
	f := newFakeMonitor(t, testSecretID, testSecretKey)
	cfg := testConfig(f)
	e := startExporter(t, cfg, nil)
	// An item holding 3 requests, as an older queue could.
	ts := time.Now().Truncate(time.Minute).Add(-2 * time.Minute)
	md := gauges(names("x", 61), ts, func(i int) int64 { return int64(i) })
	for i := 0; i < md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len(); i++ {
		m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(i)
		m.SetName(strings.ReplaceAll(m.Name(), ".", "_"))
	}
	f.mu.Lock()
	f.decide = func(request, _ int) *failure {
		if request == 2 {
			return &failure{status: 503}
		}
		return nil
	}
	f.mu.Unlock()
	require.NoError(t, e.inner.ConsumeMetrics(context.Background(), md))
	f.waitAccepted(t, 3, 10*time.Second)
	require.NoError(t, e.Shutdown(context.Background()))
	reqs, accepted, stored, counts := f.snapshot()
	assert.Equal(t, 3, accepted)
	assert.Equal(t, 4, reqs)
	assert.Len(t, stored, 61)
	for k, n := range counts {
		assert.Equal(t, 1, n, "%v", k)
	}
}
