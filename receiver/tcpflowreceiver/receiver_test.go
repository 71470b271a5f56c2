package tcpflowreceiver

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/internal/eventlog"
	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/sharedcomponent"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// streaming is a recorded source that also streams fixed samples, then
// waits for Close like the probe's reader.
type streaming struct {
	*recorded
	samples []probe.Sample
	closed  chan struct{}
	once    sync.Once
}

func (s *streaming) ReadSamples(_ time.Duration, fn func(*probe.Sample), flush func()) error {
	for i := range s.samples {
		fn(&s.samples[i])
	}
	flush()
	<-s.closed
	return nil
}

func (s *streaming) Close() error { s.once.Do(func() { close(s.closed) }); return nil }

func unwrap(t *testing.T, c component.Component) *tcpflowReceiver {
	sc, ok := c.(*sharedcomponent.Component[*tcpflowReceiver])
	require.True(t, ok, "%T", c)
	return sc.Unwrap
}

func attrInts(lr plog.LogRecord) map[string]int64 {
	m := map[string]int64{}
	for k, v := range lr.Attributes().All() {
		m[k] = v.Int()
	}
	return m
}

// TestSharedReceiver: a metrics and a logs pipeline naming one tcpflow
// component share one receiver and one probe; the logs pipeline gets one
// tcp.probe.sample per sample (kernel time as timestamp, the issue's
// fields) and one tcp.flow.close per closed flow; shutdown ends the stream.
func TestSharedReceiver(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Logs.MaxBatch = 2
	kt := time.Unix(1_700_000_000, 123456789)
	src := &streaming{recorded: sampleFlows(), closed: make(chan struct{})}
	for i := 0; i < 5; i++ {
		src.samples = append(src.samples, probe.Sample{Time: kt.Add(time.Duration(i) * time.Millisecond), Cookie: 42,
			Local: netip.MustParseAddrPort("10.0.0.1:40000"), Peer: netip.MustParseAddrPort("10.0.0.2:5001"),
			DataLen: 0, SndNxt: 1000 + uint32(i), SndUna: 900, SndCwnd: 10, Ssthresh: 7, SndWnd: 65535, RcvWnd: 64000,
			SRTTus: 150, RTTVarus: 40, RTOus: 204000, InFlight: 3, TotalRetrans: 1, SendQueue: 100})
	}
	set := receivertest.NewNopSettings(metadata.Type)
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	require.Same(t, mr, lr, "one shared receiver")

	opens := 0
	var pc probe.Config
	shared := unwrap(t, mr)
	shared.s.open = func(c probe.Config) (probe.Source, error) { opens++; pc = c; return src, nil }

	host := componenttest.NewNopHost()
	require.NoError(t, mr.Start(context.Background(), host))
	require.NoError(t, lr.Start(context.Background(), host))
	require.Equal(t, 1, opens, "one probe for both signals")
	require.True(t, pc.Stream)
	require.NotNil(t, pc.OnClosed)
	require.True(t, pc.DiscardClosed, "no closed flow waits in the probe: each is taken as it arrives")

	require.Eventually(t, func() bool { return logs.LogRecordCount() == 5 }, 5*time.Second, 10*time.Millisecond)
	require.Len(t, logs.AllLogs(), 3, "batches of at most max_batch records")
	recs := eventlog.Records(logs.AllLogs(), "tcp.probe.sample")
	require.Len(t, recs, 5)
	for i, rec := range recs {
		require.Equal(t, kt.Add(time.Duration(i)*time.Millisecond).UnixNano(), int64(rec.Timestamp()), "kernel time")
		a := attrInts(recs[i])
		require.Equal(t, int64(1000+i), a["tcp.snd_nxt"])
		for _, k := range []string{"network.local.port", "network.peer.port", "tcp.sock_cookie", "tcp.data_len", "tcp.snd_una",
			"tcp.snd_cwnd", "tcp.ssthresh", "tcp.snd_wnd", "tcp.rcv_wnd", "tcp.srtt_us", "tcp.rttvar_us", "tcp.rto_us",
			"tcp.lost", "tcp.packets_in_flight", "tcp.retrans", "tcp.total_retrans", "tcp.recv_queue", "tcp.send_queue"} {
			require.Contains(t, a, k)
		}
		require.Equal(t, int64(42), a["tcp.sock_cookie"])
		require.Equal(t, int64(204000), a["tcp.rto_us"])
		addr, _ := rec.Attributes().Get("network.peer.address")
		require.Equal(t, "10.0.0.2", addr.Str())
		nt, _ := rec.Attributes().Get("network.type")
		require.Equal(t, "ipv4", nt.Str())
	}
	res := logs.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes()
	p, ok := res.Get("netns.path")
	require.True(t, ok)
	require.Equal(t, "/proc/self/ns/net", p.Str())

	closed := src.closed
	fl := src.recorded.closed[0]
	fl.Cookie = 7
	pc.OnClosed(&fl)
	cl := eventlog.Records(logs.AllLogs(), "tcp.flow.close")
	require.Len(t, cl, 1)
	a := attrInts(cl[0])
	require.Equal(t, int64(3_000_000), a["tcp.flow.duration_us"])
	require.Equal(t, int64(fl.RetransByType[probe.RetransFast]), a["tcp.retransmits.fast"])
	require.Equal(t, int64(1), a["tcp.retransmits.timeout"])
	require.Equal(t, int64(7), a["tcp.sock_cookie"])
	require.Equal(t, int64(2000), a["tcp.srtt_max_us"])

	// The same arrival is counted by the next scrape, with the summaries
	// the source's Closed hands over.
	md, err := shared.Scrape(context.Background())
	require.NoError(t, err)
	var closedN int64 = -1
	metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Name() == "tcp.flow.closed" {
			closedN = dp.IntValue()
		}
	})
	require.Equal(t, int64(len(src.recorded.closed)+1), closedN, "folded at arrival, counted once")

	require.NoError(t, lr.Shutdown(context.Background()))
	select {
	case <-closed:
		t.Fatal("probe closed while the metrics pipeline still runs")
	default:
	}
	require.NoError(t, mr.Shutdown(context.Background()))
	<-closed
}

// Without a metrics pipeline no closed flows are kept for scrapes.
func TestLogsOnlyReceiver(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Logs.Samples = false
	lr, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	var pc probe.Config
	src := &streaming{recorded: sampleFlows(), closed: make(chan struct{})}
	unwrap(t, lr).s.open = func(c probe.Config) (probe.Source, error) { pc = c; return src, nil }
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))
	require.True(t, pc.DiscardClosed)
	require.False(t, pc.Stream, "logs.samples: false")
	require.NotNil(t, pc.OnClosed)
	require.NoError(t, lr.Shutdown(context.Background()))
}
