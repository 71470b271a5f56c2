package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"context"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/eventlog"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// Event names of the records sent to a logs pipeline.
const (
	eventSample    = "tcp.probe.sample"
	eventFlowClose = "tcp.flow.close"
)

// eventLogs turns samples and close summaries into OTLP log records.
type eventLogs struct {
	cfg     *Config
	logger  *zap.Logger
	version string
	next    consumer.Logs

	// resourceOf is the resource of a namespace's events (by inode; the
	// receiver's one resource unless all_netns)
	resourceOf func(netnsInode uint64) pcommon.Resource

	// the batch being built by the sample stream: records per namespace
	// (all under key 0 unless all_netns), the last one used, their count
	batch    plog.Logs
	recs     map[uint64]plog.LogRecordSlice
	lastIno  uint64
	lastRecs plog.LogRecordSlice
	n        int
	// address strings of recent flows, so a busy flow's samples do not
	// format its addresses every time
	names map[uint64]flowNames
}

type flowNames struct{ local, peer string }

func newEventLogs(cfg *Config, set receiver.Settings, next consumer.Logs, resourceOf func(uint64) pcommon.Resource) *eventLogs {
	e := &eventLogs{cfg: cfg, logger: set.Logger, version: set.BuildInfo.Version, next: next, names: map[uint64]flowNames{},
		resourceOf: resourceOf, recs: map[uint64]plog.LogRecordSlice{}}
	e.reset()
	return e
}

// reset starts an empty batch.
func (e *eventLogs) reset() {
	e.batch, e.n = plog.NewLogs(), 0
	clear(e.recs)
	e.lastRecs = plog.LogRecordSlice{}
}

// recsOf returns the batch's records of a namespace's resource, adding the
// resource on first use. Samples come in runs of one flow, so the last
// namespace is checked first.
func (e *eventLogs) recsOf(netnsInode uint64) plog.LogRecordSlice {
	if !e.cfg.AllNetNS {
		netnsInode = 0
	}
	if e.n > 0 && netnsInode == e.lastIno {
		return e.lastRecs
	}
	r, ok := e.recs[netnsInode]
	if !ok {
		r = eventlog.Append(e.batch, e.resourceOf(netnsInode), metadata.ScopeName, e.version)
		e.recs[netnsInode] = r
	}
	e.lastIno, e.lastRecs = netnsInode, r
	return r
}

// stream sends samples until the source ends (probe closed).
func (e *eventLogs) stream(ctx context.Context, src sampleSource) error {
	e.reset()
	flush := func() {
		if e.n == 0 {
			return
		}
		ld := e.batch
		e.reset()
		if err := e.next.ConsumeLogs(ctx, ld); err != nil {
			e.logger.Warn("tcpflow receiver: samples not accepted by the logs pipeline", zap.Int("records", ld.LogRecordCount()), zap.Error(err))
		}
	}
	return src.ReadSamples(e.cfg.Logs.FlushInterval, func(s *probe.Sample) {
		e.appendSample(s)
		if e.n >= e.cfg.Logs.MaxBatch {
			flush()
		}
	}, flush)
}

func (e *eventLogs) namesOf(cookie uint64, local, peer netip.AddrPort) flowNames {
	n, ok := e.names[cookie]
	if !ok || cookie == 0 {
		if len(e.names) >= 4*e.cfg.MaxFlows {
			clear(e.names)
		}
		n = flowNames{local: local.Addr().String(), peer: peer.Addr().String()}
		e.names[cookie] = n
	}
	return n
}

func networkType(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}

// putEndpoints sets the flow's semconv attributes.
func putEndpoints(a pcommon.Map, n flowNames, local, peer netip.AddrPort, ipv6 bool, cookie uint64) {
	a.PutStr("network.local.address", n.local)
	a.PutInt("network.local.port", int64(local.Port()))
	a.PutStr("network.peer.address", n.peer)
	a.PutInt("network.peer.port", int64(peer.Port()))
	a.PutStr("network.type", networkType(ipv6))
	a.PutInt("tcp.sock_cookie", int64(cookie))
}

func (e *eventLogs) appendSample(s *probe.Sample) {
	lr := e.recsOf(s.NetnsInode).AppendEmpty()
	e.n++
	lr.SetTimestamp(pcommon.NewTimestampFromTime(s.Time))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName(eventSample)
	a := lr.Attributes()
	a.EnsureCapacity(23)
	putEndpoints(a, e.namesOf(s.Cookie, s.Local, s.Peer), s.Local, s.Peer, s.IPv6, s.Cookie)
	a.PutInt("tcp.data_len", int64(s.DataLen))
	a.PutInt("tcp.snd_nxt", int64(s.SndNxt))
	a.PutInt("tcp.snd_una", int64(s.SndUna))
	a.PutInt("tcp.snd_cwnd", int64(s.SndCwnd))
	a.PutInt("tcp.ssthresh", int64(s.Ssthresh))
	a.PutInt("tcp.snd_wnd", int64(s.SndWnd))
	a.PutInt("tcp.rcv_wnd", int64(s.RcvWnd))
	a.PutInt("tcp.srtt_us", int64(s.SRTTus))
	a.PutInt("tcp.rttvar_us", int64(s.RTTVarus))
	if s.RTOus > 0 { // 0: kernel HZ unknown
		a.PutInt("tcp.rto_us", int64(s.RTOus))
	}
	a.PutInt("tcp.lost", int64(s.Lost))
	a.PutInt("tcp.packets_in_flight", int64(s.InFlight))
	a.PutInt("tcp.retrans", int64(s.Retrans))
	a.PutInt("tcp.total_retrans", int64(s.TotalRetrans))
	a.PutInt("tcp.recv_queue", int64(s.RecvQueue))
	a.PutInt("tcp.send_queue", int64(s.SendQueue))
}

var closeRetransNames = [probe.NumRetransTypes]string{
	probe.RetransTimeout:       "tcp.retransmits.timeout",
	probe.RetransFast:          "tcp.retransmits.fast",
	probe.RetransTailLossProbe: "tcp.retransmits.tail_loss_probe",
	probe.RetransSYN:           "tcp.retransmits.syn",
	probe.RetransSYNACK:        "tcp.retransmits.synack",
}

// flowClosed sends one tcp.flow.close summary (called from the probe's
// close reader as each flow closes).
func (e *eventLogs) flowClosed(ctx context.Context, f *probe.Flow) {
	ino := f.NetnsInode
	if !e.cfg.AllNetNS {
		ino = 0
	}
	ld, recs := eventlog.NewBatch(e.resourceOf(ino), metadata.ScopeName, e.version)
	lr := recs.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(f.Start.Add(f.Duration)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetEventName(eventFlowClose)
	a := lr.Attributes()
	putEndpoints(a, flowNames{local: f.Local.Addr().String(), peer: f.Peer.Addr().String()}, f.Local, f.Peer, f.IPv6, f.Cookie)
	a.PutInt("tcp.flow.duration_us", f.Duration.Microseconds())
	a.PutInt("tcp.bytes_acked", int64(f.BytesAcked))
	a.PutInt("tcp.bytes_received", int64(f.BytesReceived))
	a.PutInt("tcp.bytes_retrans", int64(f.BytesRetrans))
	a.PutInt("tcp.segs_out", int64(f.SegsOut))
	a.PutInt("tcp.segs_in", int64(f.SegsIn))
	a.PutInt("tcp.total_retrans", int64(f.Retransmits))
	for t, name := range closeRetransNames {
		a.PutInt(name, int64(f.RetransByType[t]))
	}
	a.PutInt("tcp.samples", int64(f.Samples))
	if f.Samples > 0 {
		a.PutInt("tcp.srtt_min_us", f.SRTTMin.Microseconds())
		a.PutInt("tcp.srtt_max_us", f.SRTTMax.Microseconds())
	}
	if err := e.next.ConsumeLogs(ctx, ld); err != nil {
		e.logger.Warn("tcpflow receiver: flow close summary not accepted by the logs pipeline", zap.Error(err))
	}
}
