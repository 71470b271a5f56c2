package connprobereceiver

import (
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/eventlog"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// records returns the records of one event name, in arrival order.
func records(sink *consumertest.LogsSink, event string) []plog.LogRecord {
	return eventlog.Records(sink.AllLogs(), event)
}

// startLogs runs cfg in a logs pipeline (and, with metrics, in a metrics
// pipeline too, as one shared receiver); stop shuts every pipeline down.
func startLogs(t *testing.T, cfg *Config, logs *consumertest.LogsSink, metrics *consumertest.MetricsSink) (r *connprobeReceiver, stop func()) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	f, set := NewFactory(), receivertest.NewNopSettings(metadata.Type)
	l, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	users := []component.Component{l}
	if metrics != nil {
		m, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
		require.NoError(t, err)
		require.Same(t, l, m, "one receiver for both pipelines")
		users = append(users, m)
	}
	for _, u := range users {
		require.NoError(t, u.Start(context.Background(), componenttest.NewNopHost()))
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, u := range users {
				assert.NoError(t, u.Shutdown(context.Background()))
			}
		})
	}
	t.Cleanup(stop)
	return l.(*sharedcomponent.Component[*connprobeReceiver]).Unwrap, stop
}

var tracerouteHop = regexp.MustCompile(`^\s*\d+\s+(\S+)`)

func intAttr(lr plog.LogRecord, key string) int64 {
	v, _ := lr.Attributes().Get(key)
	return v.Int()
}

func strAttr(lr plog.LogRecord, key string) string {
	v, _ := lr.Attributes().Get(key)
	return v.AsString()
}

// nftables drops every 4th echo request at the server. The burst records
// sum to exactly nft's counts (sent = requests seen, sent - received =
// drops) and to the cumulative packet metrics of the same run, though
// both pipelines read one engine.
func TestBurstRecordsMatchNftAndMetrics(t *testing.T) {
	c := testnet.NewChain(t)
	c.Server.Nft(t, testnet.DropEveryEcho(4))
	interval, timeout, spacing := testnet.Scaled(60*time.Millisecond), testnet.Scaled(150*time.Millisecond), time.Millisecond
	count := 10
	cfg := createDefaultConfig().(*Config)
	cfg.NetNS = c.Client.Path
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.Defaults.Ping = PingConfig{Interval: &interval, Count: &count, Timeout: &timeout, Spacing: &spacing}
	cfg.Targets = []TargetConfig{{Host: testnet.ChainServerV4, Name: "v4"}, {Host: testnet.ChainServerV6, Name: "v6"}}
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	r, stop := startLogs(t, cfg, logs, metrics)
	time.Sleep(testnet.Scaled(2 * time.Second))
	stop()

	type totals struct{ bursts, sent, received int64 }
	got := map[string]*totals{"v4": {}, "v6": {}}
	for _, lr := range records(logs, "connprobe.ping.burst") {
		tt := got[strAttr(lr, "connprobe.target")]
		tt.bursts++
		tt.sent += intAttr(lr, "connprobe.ping.sent")
		tt.received += intAttr(lr, "connprobe.ping.received")
		// a burst Shutdown interrupted sent fewer
		assert.LessOrEqual(t, intAttr(lr, "connprobe.ping.sent"), int64(count))
	}
	require.NotEmpty(t, metrics.AllMetrics(), "the metrics pipeline ran alongside")
	// The cumulative packet counters after shutdown cover every burst.
	md, err := r.s.scrape(context.Background())
	require.NoError(t, err)
	packets := metricNames(md)["connprobe.ping.packets"].Sum().DataPoints()
	metric := map[string]int64{}
	for i := 0; i < packets.Len(); i++ {
		dp := packets.At(i)
		tgt, _ := dp.Attributes().Get("connprobe.target")
		dir, _ := dp.Attributes().Get("network.io.direction")
		metric[tgt.Str()+"/"+dir.Str()] = dp.IntValue()
	}
	n := c.Server.NftCounters(t, "inet", "echoloss")
	for name, fam := range map[string]string{"v4": "4", "v6": "6"} {
		tt := got[name]
		t.Logf("%s: %d bursts, %d sent, %d received; nft: %d requests, %d dropped", name, tt.bursts, tt.sent, tt.received, n["echo"+fam], n["drop"+fam])
		require.GreaterOrEqual(t, tt.bursts, int64(5), name)
		assert.Equal(t, n["echo"+fam], uint64(tt.sent), "%s: requests nft saw = records' sent", name)
		assert.Equal(t, n["drop"+fam], uint64(tt.sent-tt.received), "%s: nft drops = records' losses", name)
		assert.Equal(t, tt.sent/4, tt.sent-tt.received, "%s: every 4th lost", name)
		assert.Equal(t, tt.sent, metric[name+"/transmit"], "%s: records' sent = connprobe.ping.packets transmit", name)
		assert.Equal(t, tt.received, metric[name+"/receive"], "%s: records' received = connprobe.ping.packets receive", name)
	}
}

// A trace through the 2-router chain gives a record with both hops; moving
// the route to the second router gives exactly one route change with the
// old and new hops and the traces' path ids. Port probes of an open and a
// closed port give one record each per scan.
func TestTraceRouteChangeAndScanRecords(t *testing.T) {
	c := testnet.NewChain(t)
	c.AddSecondRouter(t)
	var ln net.Listener
	c.Server.Do(t, func() (err error) { ln, err = net.Listen("tcp", ":8080"); return err })
	defer ln.Close()
	off, traceEvery, scanEvery := time.Duration(0), 150*time.Millisecond, 300*time.Millisecond
	hops, probes, timeout, pace := 5, 1, 300*time.Millisecond, 10*time.Millisecond
	cfg := createDefaultConfig().(*Config)
	cfg.NetNS = c.Client.Path
	cfg.Targets = []TargetConfig{{Host: testnet.ChainServerV4, Name: "server", ProbeConfig: ProbeConfig{
		Ping:  PingConfig{Interval: &off},
		Trace: TraceConfig{Interval: &traceEvery, MaxHops: &hops, Protocol: "icmp", ProbesPerHop: &probes, Timeout: &timeout, Pace: &pace},
		Scan:  ScanConfig{Interval: &scanEvery, Ports: []int{8080, 8081}, Timeout: &timeout},
	}}}
	logs := new(consumertest.LogsSink)
	_, stop := startLogs(t, cfg, logs, nil)

	hopAddrs := func(lr plog.LogRecord) []string {
		v, _ := lr.Attributes().Get("connprobe.trace.hops")
		var out []string
		for _, h := range v.Slice().AsRaw() {
			a, _ := h.(map[string]any)["address"].(string)
			out = append(out, a)
		}
		return out
	}
	lastTrace := func(want ...string) plog.LogRecord {
		var found plog.LogRecord
		require.Eventually(t, func() bool {
			trs := records(logs, "connprobe.trace")
			if len(trs) == 0 {
				return false
			}
			found = trs[len(trs)-1]
			return assert.ObjectsAreEqual(want, hopAddrs(found))
		}, 5*time.Second, 20*time.Millisecond, "trace with hops %v", want)
		return found
	}
	before := lastTrace(testnet.ChainRouterV4, testnet.ChainServerV4)
	time.Sleep(500 * time.Millisecond)
	require.Empty(t, records(logs, "connprobe.route.change"), "a stable route is no change")
	c.UseSecondRouter(t)
	after := lastTrace(testnet.ChainRouter2V4, testnet.ChainServerV4)
	time.Sleep(600 * time.Millisecond) // more traces on the new path
	stop()

	// traceroute(8) sees the path of the last record.
	testnet.RequireTool(t, "traceroute")
	out := c.Client.Exec(t, "traceroute", "-n", "-I", "-q", "1", "-w", "1", "-m", "5", testnet.ChainServerV4)
	var theirs []string
	for _, line := range strings.Split(out, "\n") {
		if m := tracerouteHop.FindStringSubmatch(line); m != nil {
			theirs = append(theirs, m[1])
		}
	}
	assert.Equal(t, theirs, hopAddrs(after), "traceroute -I: %s", out)

	v, _ := before.Attributes().Get("connprobe.trace.reached")
	assert.True(t, v.Bool())
	assert.Equal(t, int64(2), intAttr(before, "connprobe.trace.hop_count"))
	changes := records(logs, "connprobe.route.change")
	require.Len(t, changes, 1, "exactly one route change")
	ch := changes[0]
	oldHops, _ := ch.Attributes().Get("connprobe.trace.old_hops")
	newHops, _ := ch.Attributes().Get("connprobe.trace.new_hops")
	assert.Equal(t, []any{testnet.ChainRouterV4, testnet.ChainServerV4}, oldHops.Slice().AsRaw())
	assert.Equal(t, []any{testnet.ChainRouter2V4, testnet.ChainServerV4}, newHops.Slice().AsRaw())
	assert.Equal(t, strAttr(before, "connprobe.trace.path_id"), strAttr(ch, "connprobe.trace.old_path_id"))
	assert.Equal(t, strAttr(after, "connprobe.trace.path_id"), strAttr(ch, "connprobe.trace.new_path_id"))
	assert.NotEqual(t, strAttr(ch, "connprobe.trace.old_path_id"), strAttr(ch, "connprobe.trace.new_path_id"))
	for _, lr := range records(logs, "connprobe.trace") {
		for _, h := range hopAddrs(lr) {
			assert.NotEmpty(t, h, "every hop answered")
		}
	}

	scans := records(logs, "connprobe.port.scan")
	require.GreaterOrEqual(t, len(scans), 4, "two scans at least")
	states := map[int64]map[string]int{8080: {}, 8081: {}}
	for _, lr := range scans {
		port := intAttr(lr, "server.port")
		states[port][strAttr(lr, "connprobe.port.state")]++
		d, ok := lr.Attributes().Get("connprobe.tcp.connect.duration_ms")
		require.True(t, ok)
		assert.Greater(t, d.Double(), 0.0)
		assert.Less(t, d.Double(), float64(testnet.Scaled(100*time.Millisecond).Milliseconds()))
	}
	assert.GreaterOrEqual(t, states[8080]["open"], 2, "%v", states)
	assert.GreaterOrEqual(t, states[8081]["closed"], 2, "%v", states)
	assert.Len(t, states[8080], 1, "8080 is only ever open: %v", states)
	assert.Len(t, states[8081], 1, "8081 is only ever closed: %v", states)
	// The server's own view: 8080 listens, 8081 does not.
	ss := c.Server.Exec(t, "ss", "-Htln", "sport = :8080 or sport = :8081")
	assert.Contains(t, ss, ":8080")
	assert.NotContains(t, ss, ":8081")
}
