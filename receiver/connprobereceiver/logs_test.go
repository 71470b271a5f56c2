package connprobereceiver

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

var (
	t0     = time.Date(2026, 11, 30, 12, 0, 0, 500_000_000, time.UTC)
	srv    = netip.MustParseAddr("10.61.2.2")
	router = netip.MustParseAddr("10.61.1.1")
)

func testEvent(kind engine.EventKind, f bodyFormat) engine.Event {
	return engine.Event{Kind: kind, Time: t0, Target: "server", Host: "server.example", Tag: f, Addr: srv}
}

// record builds the one record of ev.
func record(t *testing.T, ev engine.Event) plog.LogRecord {
	t.Helper()
	e := newEventLogs(LogsConfig{QueueSize: 1, MaxBatch: 1}, receivertest.NewNopSettings(metadata.Type), nil)
	ld, recs := e.newBatch(pcommon.NewResource())
	e.appendEvent(recs, ev)
	require.Equal(t, 1, ld.LogRecordCount())
	return recs.At(0)
}

func attrs(lr plog.LogRecord) map[string]any { return lr.Attributes().AsRaw() }

func TestPingBurstRecord(t *testing.T) {
	ev := testEvent(engine.EventPingBurst, bodyFormat{JSON: true, Timestamp: true})
	b := &engine.BurstResult{Sent: 4, Received: 3}
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond} {
		b.RTT.Add(d)
	}
	ev.Burst = b
	lr := record(t, ev)
	assert.Equal(t, "connprobe.ping.burst", lr.EventName())
	assert.Equal(t, t0, lr.Timestamp().AsTime())
	a := attrs(lr)
	assert.Equal(t, "server", a["connprobe.target"])
	assert.Equal(t, "10.61.2.2", a["server.address"])
	assert.Equal(t, "ipv4", a["network.type"])
	assert.Equal(t, int64(4), a["connprobe.ping.sent"])
	assert.Equal(t, int64(3), a["connprobe.ping.received"])
	assert.InDelta(t, 0.25, a["connprobe.ping.loss"], 1e-12)
	assert.InDelta(t, 1.0, a["connprobe.ping.rtt.min_ms"], 1e-9)
	assert.InDelta(t, 2.0, a["connprobe.ping.rtt.avg_ms"], 1e-9)
	assert.InDelta(t, 3.0, a["connprobe.ping.rtt.max_ms"], 1e-9)
	assert.InDelta(t, 0.816497, a["connprobe.ping.rtt.stddev_ms"], 1e-6)
	assert.Equal(t, `{"addr":"10.61.2.2","name":"server","timestamp":1796040000500.000,"ping":{"min":1.000000,"avg":2.000000,"max":3.000000,"std":0.816497,"loss":25.000000}}`, lr.Body().Str())
	var parsed map[string]any
	require.NoError(t, json.Unmarshal([]byte(lr.Body().Str()), &parsed))

	// No reply: no RTT attributes; connvitals' -1 in the body, plain text.
	ev.Burst = &engine.BurstResult{Sent: 2}
	ev.Tag = bodyFormat{}
	lr = record(t, ev)
	a = attrs(lr)
	assert.NotContains(t, a, "connprobe.ping.rtt.min_ms")
	assert.InDelta(t, 1.0, a["connprobe.ping.loss"], 0)
	assert.Equal(t, "server 10.61.2.2\n-1.000\t-1.000\t-1.000\t-1.000\t100.000", lr.Body().Str())
}

func TestTraceAndRouteChangeRecords(t *testing.T) {
	ev := testEvent(engine.EventTrace, bodyFormat{JSON: true})
	ev.Trace = &engine.TraceResult{Reached: true, PathID: 0xabc, Hops: []trace.Hop{
		{TTL: 1, Addr: router, RTTs: []time.Duration{time.Millisecond, 3 * time.Millisecond}, Sent: 3, Answered: 2},
		{TTL: 2, Sent: 3},
		{TTL: 3, Addr: srv, RTTs: []time.Duration{4 * time.Millisecond}, Sent: 1, Answered: 1},
	}}
	lr := record(t, ev)
	assert.Equal(t, "connprobe.trace", lr.EventName())
	a := attrs(lr)
	assert.Equal(t, "0000000000000abc", a["connprobe.trace.path_id"])
	assert.Equal(t, true, a["connprobe.trace.reached"])
	assert.Equal(t, int64(3), a["connprobe.trace.hop_count"])
	assert.Equal(t, []any{
		map[string]any{"ttl": int64(1), "sent": int64(3), "answered": int64(2), "address": "10.61.1.1", "rtt_ms": 2.0},
		map[string]any{"ttl": int64(2), "sent": int64(3), "answered": int64(0)},
		map[string]any{"ttl": int64(3), "sent": int64(1), "answered": int64(1), "address": "10.61.2.2", "rtt_ms": 4.0},
	}, a["connprobe.trace.hops"])
	assert.Equal(t, `{"addr":"10.61.2.2","name":"server","trace":[["10.61.1.1",2.000000],["*"],["10.61.2.2",4.000000]]}`, lr.Body().Str())

	ev = testEvent(engine.EventRouteChange, bodyFormat{Timestamp: true})
	ev.Change = &trace.Change{Old: []netip.Addr{router, srv}, New: []netip.Addr{netip.MustParseAddr("10.61.3.1"), {}, srv}, OldID: 1, NewID: 2}
	lr = record(t, ev)
	assert.Equal(t, "connprobe.route.change", lr.EventName())
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	a = attrs(lr)
	assert.Equal(t, []any{"10.61.1.1", "10.61.2.2"}, a["connprobe.trace.old_hops"])
	assert.Equal(t, []any{"10.61.3.1", "*", "10.61.2.2"}, a["connprobe.trace.new_hops"])
	assert.Equal(t, "0000000000000001", a["connprobe.trace.old_path_id"])
	assert.Equal(t, "0000000000000002", a["connprobe.trace.new_path_id"])
	assert.Equal(t, "server 10.61.2.2\nMon Nov 30 12:00:00 2026\nroute change 0000000000000001 -> 0000000000000002\n10.61.1.1 10.61.2.2\n10.61.3.1 * 10.61.2.2", lr.Body().Str())
}

func TestPortScanRecord(t *testing.T) {
	ev := testEvent(engine.EventPortScan, bodyFormat{JSON: true})
	ev.Addr = netip.MustParseAddr("::1")
	ev.Target = "::1"
	ev.Port = &engine.PortResult{Port: 8080, State: tcpconn.Open, Duration: 1500 * time.Microsecond}
	lr := record(t, ev)
	assert.Equal(t, "connprobe.port.scan", lr.EventName())
	a := attrs(lr)
	assert.Equal(t, "ipv6", a["network.type"])
	assert.Equal(t, int64(8080), a["server.port"])
	assert.Equal(t, "open", a["connprobe.port.state"])
	assert.InDelta(t, 1.5, a["connprobe.tcp.connect.duration_ms"], 1e-9)
	assert.Equal(t, `{"addr":"::1","name":"::1","scan":{"port":8080,"state":"open","rtt":1.500000}}`, lr.Body().Str())

	// A filtered port's duration is the timeout: not a connect time.
	ev.Port = &engine.PortResult{Port: 81, State: tcpconn.Filtered, Duration: time.Second}
	ev.Tag = bodyFormat{}
	lr = record(t, ev)
	assert.NotContains(t, attrs(lr), "connprobe.tcp.connect.duration_ms")
	assert.Equal(t, "::1\n81\tfiltered", lr.Body().Str())
}

// blockingSink holds every ConsumeLogs call until released.
type blockingSink struct {
	consumertest.LogsSink
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b.entered <- struct{}{}
	<-b.release
	return b.LogsSink.ConsumeLogs(ctx, ld)
}

// A stuck pipeline never blocks the engine: results beyond the queue are
// dropped and counted, the rest are delivered once it moves again.
func TestSlowPipelineDropsAndCounts(t *testing.T) {
	sink := &blockingSink{entered: make(chan struct{}, 16), release: make(chan struct{})}
	e := newEventLogs(LogsConfig{QueueSize: 2, MaxBatch: 100}, receivertest.NewNopSettings(metadata.Type), sink)
	e.run(pcommon.NewResource())
	ev := testEvent(engine.EventPortScan, bodyFormat{})
	ev.Port = &engine.PortResult{Port: 1, State: tcpconn.Closed}
	e.enqueue(ev)
	<-sink.entered // the first record is in ConsumeLogs, which is stuck
	start := time.Now()
	for range 10 {
		e.enqueue(ev)
	}
	assert.Less(t, time.Since(start), 100*time.Millisecond, "enqueue does not wait")
	assert.Equal(t, uint64(8), e.dropped.Load())
	close(sink.release)
	e.close()
	assert.Equal(t, 3, sink.LogRecordCount())
}

// One configuration in a metrics and a logs pipeline is one receiver
// (one engine).
func TestMetricsAndLogsShareOneReceiver(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Targets = []TargetConfig{{Host: "127.0.0.1"}}
	f := NewFactory()
	set := receivertest.NewNopSettings(metadata.Type)
	m, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	l, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.Same(t, m, l)
	other := createDefaultConfig().(*Config)
	other.Targets = cfg.Targets
	l2, err := f.CreateLogs(context.Background(), set, other, consumertest.NewNop())
	require.NoError(t, err)
	require.NotSame(t, l, l2)
	require.NoError(t, m.Shutdown(context.Background()))
	require.NoError(t, l.Shutdown(context.Background()))
	require.NoError(t, l2.Shutdown(context.Background()))
}
