//go:build linux

package tcpflowreceiver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap/zaptest"

	"github.com/netstack-otel/netstack/internal/metricwalk"
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"
	"github.com/netstack-otel/netstack/internal/testnet"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/flowtest"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// allnsFlow is one client namespace of the test with its server and flow.
type allnsFlow struct {
	cl, sv *testnet.NS
	ino    int64 // the client namespace's inode
	port   int   // server port
	bytes  int   // sent
	conn   net.Conn
	local  int // client port
}

// byResource returns, per netns.inode of the resource, the resource's
// attributes and the points of metric name in it (by attrString).
func byResource(md pmetric.Metrics, name string) (map[int64]pcommon.Map, map[int64]map[string]float64) {
	res, pts := map[int64]pcommon.Map{}, map[int64]map[string]float64{}
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		ino := int64(0)
		if v, ok := rm.Resource().Attributes().Get("netns.inode"); ok {
			ino = v.Int()
		}
		res[ino] = rm.Resource().Attributes()
		one := pmetric.NewMetrics()
		rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		for k, v := range points(one, name) {
			if pts[ino] == nil {
				pts[ino] = map[string]float64{}
			}
			pts[ino][k] += v
		}
	}
	return res, pts
}

func resStr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

var ssField = regexp.MustCompile(`\b(bytes_acked|cwnd):([0-9]+)`)

// ssValues runs `ss -tinH` for the client's flow in its namespace.
func (f *allnsFlow) ssValues(t *testing.T) map[string]float64 {
	out := f.cl.Exec(t, "ss", "-tinH", "src", "10.83.0.1:"+strconv.Itoa(f.local))
	m := map[string]float64{}
	for _, kv := range ssField.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(kv[2], 64)
		m[kv[1]] = v
	}
	require.Contains(t, m, "bytes_acked", "ss output %q", out)
	return m
}

// TestKernelAllNetNSPodAttribution: under all_netns, flows in three
// namespaces (same addresses, different ports and byte counts) are each
// reported under their own namespace's resource, with the values ss -ti
// prints in that namespace; the namespace whose processes sit in a pod's
// cgroups (kubelet systemd naming, containerd) carries the pod's UID, the
// one in a Docker container's cgroup that container's ID; samples and close
// summaries carry the same resources; aggregation none gives one series per
// namespace; and a receiver watching one namespace reports none of the
// others' flows.
func TestKernelAllNetNSPodAttribution(t *testing.T) {
	testnet.RequireTool(t, "ss")
	root := testnet.Cgroup2Root(t)
	h := make([]byte, 48)
	_, _ = rand.Read(h)
	x := hex.EncodeToString(h)
	podUID := fmt.Sprintf("%s-%s-%s-%s-%s", x[:8], x[8:12], x[12:16], x[16:20], x[20:32])
	ctrID := x[32:]
	top := "netstack-test-" + x[:8]

	flows := []*allnsFlow{{port: 9401, bytes: 1 << 20}, {port: 9402, bytes: 3 << 20}, {port: 9403, bytes: 2 << 20}}
	for _, f := range flows {
		f.cl, f.sv = testnet.New(t), testnet.New(t)
		testnet.Link(t, f.cl, f.sv, "10.83.0.1/24", "10.83.0.2/24")
		flowtest.NewSink(t, f.sv, "tcp4", fmt.Sprintf("10.83.0.2:%d", f.port))
		ino, err := netnsutil.Inode(f.cl.Path)
		require.NoError(t, err)
		f.ino = int64(ino)
	}
	pod, ctr, other := flows[0], flows[1], flows[2]
	podSlice := filepath.Join(top, "kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice")
	pod.cl.InCgroup(t, root, filepath.Join(podSlice, "cri-containerd-"+ctrID+".scope"))
	pod.cl.InCgroup(t, root, filepath.Join(podSlice, "cri-containerd-"+x[:64]+".scope"))
	ctr.cl.InCgroup(t, root, filepath.Join(top, "system.slice", "docker-"+ctrID+".scope"))

	ports := []int{9401, 9402, 9403}
	scraper := func(mod func(*Config)) *tcpflowScraper {
		cfg := createDefaultConfig().(*Config)
		cfg.Ports, cfg.Aggregation = ports, AggregationFlow
		mod(cfg)
		require.NoError(t, cfg.Validate())
		s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
		return s
	}
	all := scraper(func(c *Config) { c.AllNetNS = true })
	perNS := scraper(func(c *Config) { c.AllNetNS, c.Aggregation = true, AggregationNone })
	single := scraper(func(c *Config) { c.NetNS = pod.cl.Path })

	// The logs side: samples and close summaries of one component.
	fac := NewFactory()
	lcfg := fac.CreateDefaultConfig().(*Config)
	lcfg.AllNetNS, lcfg.Ports = true, ports
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zaptest.NewLogger(t)
	logs := new(consumertest.LogsSink)
	lr, err := fac.CreateLogs(context.Background(), set, lcfg, logs)
	require.NoError(t, err)
	require.NoError(t, lr.Start(context.Background(), componenttest.NewNopHost()))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			require.NoError(t, lr.Shutdown(context.Background()))
		}
	}
	t.Cleanup(stop)

	for _, f := range flows {
		f.cl.Do(t, func() (err error) { f.conn, err = net.Dial("tcp4", fmt.Sprintf("10.83.0.2:%d", f.port)); return err })
		t.Cleanup(func() { f.conn.Close() })
		f.local = f.conn.LocalAddr().(*net.TCPAddr).Port
		_, err := f.conn.Write(make([]byte, f.bytes))
		require.NoError(t, err)
	}
	key := func(f *allnsFlow) string {
		return fmt.Sprintf("network.local.address=10.83.0.1 network.local.port=%d network.peer.address=10.83.0.2 network.peer.port=%d network.type=ipv4 ", f.local, f.port)
	}
	tx := "network.io.direction=transmit "
	var res map[int64]pcommon.Map
	var bytes map[int64]map[string]float64
	require.Eventually(t, func() bool {
		md, err := all.scrape(context.Background())
		require.NoError(t, err)
		res, bytes = byResource(md, "tcp.flow.bytes")
		for _, f := range flows {
			if bytes[f.ino][key(f)+tx] < float64(f.bytes+1) {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "every flow acknowledged under its namespace's resource")
	md, err := all.scrape(context.Background())
	require.NoError(t, err)
	res, bytes = byResource(md, "tcp.flow.bytes")
	_, cwnd := byResource(md, "tcp.flow.cwnd")
	for _, f := range flows {
		ss := f.ssValues(t)
		require.Equal(t, ss["bytes_acked"], bytes[f.ino][key(f)+tx], "bytes vs ss -ti in %s", f.cl)
		require.Equal(t, ss["cwnd"], cwnd[f.ino][key(f)], "cwnd vs ss -ti in %s", f.cl)
		require.Len(t, cwnd[f.ino], 1, "only its own flow under %s's resource: %v", f.cl, cwnd[f.ino])
		require.Equal(t, f.cl.Path, resStr(res[f.ino], "netns.path"))
		require.Equal(t, strconv.FormatInt(f.ino, 10), resStr(res[f.ino], "netns.inode"))
	}
	require.Equal(t, podUID, resStr(res[pod.ino], "k8s.pod.uid"))
	require.Empty(t, resStr(res[pod.ino], "container.id"), "a pod's namespace holds two containers")
	require.Equal(t, ctrID, resStr(res[ctr.ino], "container.id"))
	require.Empty(t, resStr(res[ctr.ino], "k8s.pod.uid"))
	for _, f := range []*allnsFlow{pod, ctr} {
		require.Equal(t, "false", resStr(res[f.ino], "netns.host"))
		require.NotEmpty(t, resStr(res[f.ino], "process.pid"))
	}
	require.Empty(t, resStr(res[other.ino], "process.pid"), "no process in the third namespace")
	// The node-wide metrics sit on a resource without netns attributes.
	_, active := byResource(md, "tcp.flow.active")
	require.GreaterOrEqual(t, active[0][""], 6.0, "three clients and three servers tracked")

	// aggregation none under all_netns: one series per namespace.
	md, err = perNS.scrape(context.Background())
	require.NoError(t, err)
	_, bytes = byResource(md, "tcp.flow.bytes")
	for _, f := range flows {
		require.Equal(t, map[string]float64{"network.type=ipv4 network.io.direction=transmit ": float64(f.bytes + 1), "network.type=ipv4 network.io.direction=receive ": 0},
			bytes[f.ino], "%s", f.cl)
	}

	// One namespace watched: only its flow.
	md, err = single.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	got := points(md, "tcp.flow.bytes")
	require.Equal(t, float64(pod.bytes+1), got[key(pod)+tx])
	require.Len(t, got, 2, "transmit and receive of the pod's flow only: %v", got)

	// Close summaries and samples under the same resources.
	for _, f := range flows {
		require.NoError(t, f.conn.Close())
	}
	closes := func() map[int64]bool {
		out := map[int64]bool{}
		for _, ld := range logs.AllLogs() {
			rls := ld.ResourceLogs()
			for i := range rls.Len() {
				rl := rls.At(i)
				ino, _ := rl.Resource().Attributes().Get("netns.inode")
				recs := rl.ScopeLogs().At(0).LogRecords()
				for j := range recs.Len() {
					if recs.At(j).EventName() == eventFlowClose {
						out[ino.Int()] = true
					}
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool {
		c := closes()
		return c[pod.ino] && c[ctr.ino] && c[other.ino]
	}, 10*time.Second, 50*time.Millisecond, "a close summary under each client namespace's resource")
	time.Sleep(3 * lcfg.Logs.FlushInterval)
	stop()
	samples := map[int64]int{}
	for _, ld := range logs.AllLogs() {
		rls := ld.ResourceLogs()
		for i := range rls.Len() {
			rl := rls.At(i)
			a := rl.Resource().Attributes()
			ino, _ := a.Get("netns.inode")
			recs := rl.ScopeLogs().At(0).LogRecords()
			for j := range recs.Len() {
				lp, _ := recs.At(j).Attributes().Get("network.peer.port")
				for _, f := range flows {
					if ino.Int() == f.ino {
						require.Equal(t, int64(f.port), lp.Int(), "record under %s's resource", f.cl)
						samples[f.ino]++
					}
				}
			}
			if ino.Int() == pod.ino {
				require.Equal(t, podUID, resStr(a, "k8s.pod.uid"))
			}
			if ino.Int() == ctr.ino {
				require.Equal(t, ctrID, resStr(a, "container.id"))
			}
		}
	}
	for _, f := range flows {
		require.Greater(t, samples[f.ino], 1, "samples and close summary of %s", f.cl)
	}
}

// TestAllNetNSScrape: recorded flows of two namespaces, one 4-tuple in
// both: under aggregation flow each namespace's series sit under its
// resource with their own start times, the node-wide metrics under the
// resource without netns attributes, which comes first.
func TestAllNetNSScrape(t *testing.T) {
	src := sampleFlows()
	t0 := time.Now().Add(-time.Hour)
	twin := src.flows[0]
	twin.ID, twin.NetnsInode, twin.Start = 5, 200, t0.Add(-time.Minute)
	src.flows = append(src.flows, twin)
	for i := range src.flows[:3] {
		src.flows[i].NetnsInode, src.flows[i].Start = 100, t0.Add(time.Duration(i)*time.Minute)
	}
	src.flows[2].NetnsInode = 200
	src.closed[0].NetnsInode, src.closed[0].Start = 200, t0.Add(-2*time.Minute)
	cfg := createDefaultConfig().(*Config)
	cfg.AllNetNS, cfg.Aggregation = true, AggregationFlow
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	var pc probe.Config
	s.open = func(c probe.Config) (probe.Source, error) { pc = c; return src, nil }
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()
	require.Zero(t, pc.NetnsCookie, "no namespace filter")
	require.NotNil(t, pc.Namespaces)
	s.ns.list = func() ([]podattr.Namespace, bool, error) {
		return []podattr.Namespace{
			{Label: "/run/netns/a", Path: "/run/netns/a", Inode: 100},
			{Label: "/proc/42/ns/net", Path: "/proc/42/ns/net", Inode: 200, PID: 42, ID: podattr.Identity{PodUID: "pod-200", PID: 42}, Known: true},
		}, false, nil
	}
	s.ns.mu.Lock()
	s.ns.rewalk()
	s.ns.mu.Unlock()

	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	rms := md.ResourceMetrics()
	require.Equal(t, 3, rms.Len())
	require.Zero(t, rms.At(0).Resource().Attributes().Len(), "node-wide resource first")
	res, bytes := byResource(md, "tcp.flow.bytes")
	require.Equal(t, "/run/netns/a", resStr(res[100], "netns.path"))
	require.Equal(t, "pod-200", resStr(res[200], "k8s.pod.uid"))
	require.Len(t, bytes[100], 4, "two flows, two directions: %v", bytes[100])
	require.Len(t, bytes[200], 6, "flow 3, the twin and the closed flow: %v", bytes[200])
	_, active := byResource(md, "tcp.flow.active")
	require.Equal(t, map[int64]map[string]float64{0: {"": 3}}, active)

	starts := map[int64]map[int64]pcommon.Timestamp{} // inode -> peer port -> start
	for i := range rms.Len() {
		ino, _ := rms.At(i).Resource().Attributes().Get("netns.inode")
		one := pmetric.NewMetrics()
		rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
		metricwalk.NumberPoints(one, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			port, ok := dp.Attributes().Get("network.peer.port")
			if m.Name() != "tcp.flow.bytes" || !ok {
				return
			}
			if starts[ino.Int()] == nil {
				starts[ino.Int()] = map[int64]pcommon.Timestamp{}
			}
			starts[ino.Int()][port.Int()] = dp.StartTimestamp()
		})
	}
	ts := func(tm time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(tm) }
	require.Equal(t, ts(src.flows[0].Start), starts[100][40001])
	require.Equal(t, ts(twin.Start), starts[200][40001], "the same tuple in the other namespace keeps its own start")
	require.Equal(t, ts(src.closed[0].Start), starts[200][40003])
}
