//go:build linux

package tcpflowreceiver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap/zaptest"

	"github.com/netstack-otel/netstack/internal/eventlog"
	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/flowtest"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
)

// TestLogsAndMetricsKernel: one tcpflow component in a metrics and a logs
// pipeline over a lossy transfer. The logs get one tcp.probe.sample per
// sample the metrics count for the flow (tcp.flow.samples at the flow
// level), in kernel-time order, and one tcp.flow.close whose retransmits
// equal the namespace's TcpRetransSegs delta (nstat).
func TestLogsAndMetricsKernel(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTool(t, "nstat")
	cl, sv := testnet.New(t), testnet.New(t)
	testnet.Link(t, cl, sv, "10.81.0.1/24", "10.81.0.2/24")
	sv.Nft(t, testnet.DropEvery(9300, 40))
	sink := flowtest.NewSink(t, sv, "tcp4", "10.81.0.2:9300")

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.NetNS, cfg.Aggregation, cfg.Ports = cl.Path, AggregationFlow, []int{9300}
	cfg.CollectionInterval = 100 * time.Millisecond
	cfg.Metrics.TCPFlowSamples.Enabled = true
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zaptest.NewLogger(t)
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, mr.Start(context.Background(), host))
	require.NoError(t, lr.Start(context.Background(), host))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			require.NoError(t, lr.Shutdown(context.Background()))
			require.NoError(t, mr.Shutdown(context.Background()))
		}
	}
	t.Cleanup(stop)

	before := cl.Nstat(t)["TcpRetransSegs"]
	var c net.Conn
	cl.Do(t, func() (err error) { c, err = net.Dial("tcp4", "10.81.0.2:9300"); return err })
	port := int64(c.LocalAddr().(*net.TCPAddr).Port)
	_, err = c.Write(make([]byte, 4<<20))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Equal(t, int64(4<<20), sink.Wait(1))
	require.Eventually(t, func() bool { return len(eventlog.Records(logs.AllLogs(), "tcp.flow.close")) == 1 }, 10*time.Second, 20*time.Millisecond, "close record")
	retrans := cl.Nstat(t)["TcpRetransSegs"] - before
	// the closed flow's final values reach one more scrape
	var metricSamples int64 = -1
	require.Eventually(t, func() bool {
		for _, md := range metrics.AllMetrics() {
			metricwalk.NumberPoints(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
				lp, _ := dp.Attributes().Get("network.local.port")
				if m.Name() == "tcp.flow.samples" && lp.Int() == port && dp.IntValue() > metricSamples {
					metricSamples = dp.IntValue()
				}
			})
		}
		return metricSamples >= 0
	}, 10*time.Second, 50*time.Millisecond, "tcp.flow.samples of the flow")
	time.Sleep(3 * cfg.Logs.FlushInterval)
	stop()

	cls := eventlog.Records(logs.AllLogs(), "tcp.flow.close")[0]
	a := attrInts(cls)
	require.Equal(t, port, a["network.local.port"])
	require.Positive(t, retrans, "lossy link produced no retransmits")
	require.Equal(t, int64(retrans), a["tcp.total_retrans"], "close summary vs nstat TcpRetransSegs")
	require.Equal(t, int64(4<<20)+2, a["tcp.bytes_acked"], "payload + SYN + FIN")

	var n int64
	var last uint64
	for _, lr := range eventlog.Records(logs.AllLogs(), "tcp.probe.sample") {
		s := attrInts(lr)
		if s["network.local.port"] != port {
			continue
		}
		require.Equal(t, a["tcp.sock_cookie"], s["tcp.sock_cookie"])
		require.GreaterOrEqual(t, uint64(lr.Timestamp()), last, "kernel-time order")
		last = uint64(lr.Timestamp())
		n++
	}
	require.Positive(t, n)
	require.Equal(t, a["tcp.samples"], n, "one record per sample of the close summary")
	require.Equal(t, metricSamples, n, "one record per sample counted by tcp.flow.samples")
	t.Logf("%d sample records, %d retransmits (nstat %s)", n, a["tcp.total_retrans"], strconv.FormatUint(retrans, 10))
}
