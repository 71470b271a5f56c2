package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/eventlog"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/trace"
)

// Event names of the records sent to a logs pipeline.
const (
	eventPingBurst   = "connprobe.ping.burst"
	eventTrace       = "connprobe.trace"
	eventPortScan    = "connprobe.port.scan"
	eventRouteChange = "connprobe.route.change"
)

// bodyFormat is a target's connvitals output options (engine.Target.Tag):
// the record body is connvitals' JSON object (JSON) or its plain text,
// with the completion time or without (Timestamp).
type bodyFormat struct{ JSON, Timestamp bool }

// eventLogs queues the engine's results (without ever blocking it) and
// sends them as OTLP log records from one goroutine.
type eventLogs struct {
	cfg     LogsConfig
	logger  *zap.Logger
	version string
	next    consumer.Logs

	queue   chan engine.Event
	dropped atomic.Uint64
	done    chan struct{}
}

func newEventLogs(cfg LogsConfig, set receiver.Settings, next consumer.Logs) *eventLogs {
	return &eventLogs{cfg: cfg, logger: set.Logger, version: set.BuildInfo.Version, next: next,
		queue: make(chan engine.Event, cfg.QueueSize)}
}

// enqueue is the engine's Events hook: it never blocks; a result that
// finds the queue full is counted and dropped.
func (e *eventLogs) enqueue(ev engine.Event) {
	select {
	case e.queue <- ev:
	default:
		if e.dropped.Add(1) == 1 {
			e.logger.Warn("connprobe receiver: logs pipeline too slow, results dropped (counted in connprobe.log_records.dropped)",
				zap.Int("queue_size", e.cfg.QueueSize))
		}
	}
}

// run sends the queued results until close: a batch goes out as soon as
// the queue is empty or MaxBatch records are waiting.
func (e *eventLogs) run(res pcommon.Resource) {
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		ctx := context.Background()
		ld, recs := e.newBatch(res)
		for ev := range e.queue {
			e.appendEvent(recs, ev)
			if len(e.queue) > 0 && recs.Len() < e.cfg.MaxBatch {
				continue
			}
			if err := e.next.ConsumeLogs(ctx, ld); err != nil {
				e.logger.Warn("connprobe receiver: records not accepted by the logs pipeline", zap.Int("records", ld.LogRecordCount()), zap.Error(err))
			}
			ld, recs = e.newBatch(res)
		}
	}()
}

// close sends what is queued and waits; the engine must be shut down
// (no more enqueue).
func (e *eventLogs) close() {
	if e.done == nil {
		return
	}
	close(e.queue)
	<-e.done
	e.done = nil
}

// newBatch starts an empty plog.Logs under the receiver's resource and scope.
func (e *eventLogs) newBatch(res pcommon.Resource) (plog.Logs, plog.LogRecordSlice) {
	return eventlog.NewBatch(res, metadata.ScopeName, e.version)
}

// ms converts an RTT in seconds (engine.RTTStats) or a duration to
// milliseconds, the unit of every *_ms attribute and of connvitals' output.
func ms(seconds float64) float64 { return seconds * 1e3 }

func durMS(d time.Duration) float64 { return ms(d.Seconds()) }

// hopAddr is a hop's address, or "*" (connvitals' mark) for no answer.
func hopAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "*"
	}
	return a.String()
}

func pathIDString(id uint64) string { return fmt.Sprintf("%016x", id) }

// appendEvent adds one record for ev: timestamp = completion, the
// target's metric attributes, the result's typed attributes, and the
// connvitals-style body.
func (e *eventLogs) appendEvent(recs plog.LogRecordSlice, ev engine.Event) {
	lr := recs.AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.Time))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	a := lr.Attributes()
	a.PutStr("connprobe.target", ev.Target)
	a.PutStr("server.address", ev.Addr.String())
	a.PutStr("network.type", netType(ev.Addr).String())
	var body any
	var text string
	switch ev.Kind {
	case engine.EventPingBurst:
		lr.SetEventName(eventPingBurst)
		body, text = putBurst(a, ev.Burst)
	case engine.EventTrace:
		lr.SetEventName(eventTrace)
		body, text = putTrace(a, ev.Trace)
	case engine.EventPortScan:
		lr.SetEventName(eventPortScan)
		body, text = putPort(a, ev.Port)
	case engine.EventRouteChange:
		lr.SetEventName(eventRouteChange)
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		body, text = putChange(a, ev.Change)
	}
	f, _ := ev.Tag.(bodyFormat)
	lr.Body().SetStr(formatBody(f, ev, body, text))
}

// cvFloat is a number as connvitals prints it (%f: 6 decimals; RTTs in ms
// to the ns).
type cvFloat float64

func (f cvFloat) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(f), 'f', 6, 64), nil
}

// The connvitals JSON objects of each result (RTTs in ms, loss in %).
type (
	cvPing struct {
		Min  cvFloat `json:"min"`
		Avg  cvFloat `json:"avg"`
		Max  cvFloat `json:"max"`
		Std  cvFloat `json:"std"`
		Loss cvFloat `json:"loss"`
	}
	cvScan struct {
		Port  int      `json:"port"`
		State string   `json:"state"`
		RTT   *cvFloat `json:"rtt,omitempty"`
	}
	cvChange struct {
		Old       []string `json:"old"`
		New       []string `json:"new"`
		OldPathID string   `json:"old_path_id"`
		NewPathID string   `json:"new_path_id"`
	}
)

func putBurst(a pcommon.Map, b *engine.BurstResult) (any, string) {
	a.PutInt("connprobe.ping.sent", int64(b.Sent))
	a.PutInt("connprobe.ping.received", int64(b.Received))
	loss := 0.0
	if b.Sent > 0 {
		loss = 1 - float64(b.Received)/float64(b.Sent)
	}
	a.PutDouble("connprobe.ping.loss", loss)
	// connvitals prints -1 for the RTTs of a burst without replies.
	p := cvPing{Min: -1, Avg: -1, Max: -1, Std: -1, Loss: cvFloat(100 * loss)}
	if st := &b.RTT; st.N > 0 {
		for _, v := range []struct {
			key string
			val float64
			out *cvFloat
		}{
			{"connprobe.ping.rtt.min_ms", ms(st.Min), &p.Min},
			{"connprobe.ping.rtt.avg_ms", ms(st.Mean), &p.Avg},
			{"connprobe.ping.rtt.max_ms", ms(st.Max), &p.Max},
			{"connprobe.ping.rtt.stddev_ms", ms(st.Stddev()), &p.Std},
		} {
			a.PutDouble(v.key, v.val)
			*v.out = cvFloat(v.val)
		}
	}
	text := fmt.Sprintf("%.3f\t%.3f\t%.3f\t%.3f\t%.3f", p.Min, p.Avg, p.Max, p.Std, p.Loss)
	return map[string]cvPing{"ping": p}, text
}

func putTrace(a pcommon.Map, tr *engine.TraceResult) (any, string) {
	a.PutStr("connprobe.trace.path_id", pathIDString(tr.PathID))
	a.PutBool("connprobe.trace.reached", tr.Reached)
	a.PutInt("connprobe.trace.hop_count", int64(len(tr.Hops)))
	hops := a.PutEmptySlice("connprobe.trace.hops")
	hops.EnsureCapacity(len(tr.Hops))
	steps := make([][]any, 0, len(tr.Hops))
	lines := make([]string, 0, len(tr.Hops))
	for _, h := range tr.Hops {
		m := hops.AppendEmpty().SetEmptyMap()
		m.PutInt("ttl", int64(h.TTL))
		m.PutInt("sent", int64(h.Sent))
		m.PutInt("answered", int64(h.Answered))
		if len(h.RTTs) == 0 {
			steps = append(steps, []any{"*"})
			lines = append(lines, "*")
			continue
		}
		var st engine.RTTStats
		for _, r := range h.RTTs {
			st.Add(r)
		}
		m.PutStr("address", h.Addr.String())
		m.PutDouble("rtt_ms", ms(st.Mean))
		steps = append(steps, []any{h.Addr.String(), cvFloat(ms(st.Mean))})
		lines = append(lines, fmt.Sprintf("%s\t%.3f", h.Addr, ms(st.Mean)))
	}
	return map[string][][]any{"trace": steps}, strings.Join(lines, "\n")
}

func putPort(a pcommon.Map, p *engine.PortResult) (any, string) {
	a.PutInt("server.port", int64(p.Port))
	a.PutStr("connprobe.port.state", p.State.String())
	s := cvScan{Port: int(p.Port), State: p.State.String()}
	text := fmt.Sprintf("%d\t%s", p.Port, s.State)
	// A filtered port's duration is the timeout, not a connect time.
	if p.State == tcpconn.Open || p.State == tcpconn.Closed {
		d := durMS(p.Duration)
		a.PutDouble("connprobe.tcp.connect.duration_ms", d)
		cd := cvFloat(d)
		s.RTT = &cd
		text += fmt.Sprintf("\t%.3f", d)
	}
	return map[string]cvScan{"scan": s}, text
}

func putChange(a pcommon.Map, c *trace.Change) (any, string) {
	ch := cvChange{OldPathID: pathIDString(c.OldID), NewPathID: pathIDString(c.NewID)}
	for _, l := range []struct {
		key  string
		hops []netip.Addr
		out  *[]string
	}{{"connprobe.trace.old_hops", c.Old, &ch.Old}, {"connprobe.trace.new_hops", c.New, &ch.New}} {
		s := a.PutEmptySlice(l.key)
		*l.out = make([]string, 0, len(l.hops))
		for _, h := range l.hops {
			s.AppendEmpty().SetStr(hopAddr(h))
			*l.out = append(*l.out, hopAddr(h))
		}
	}
	a.PutStr("connprobe.trace.old_path_id", ch.OldPathID)
	a.PutStr("connprobe.trace.new_path_id", ch.NewPathID)
	text := fmt.Sprintf("route change %s -> %s\n%s\n%s", ch.OldPathID, ch.NewPathID,
		strings.Join(ch.Old, " "), strings.Join(ch.New, " "))
	return map[string]cvChange{"route_change": ch}, text
}

// formatBody is connvitals-monitor's output line(s) for the result: with
// json, {"addr":…,"name":…[,"timestamp":ms],"<kind>":…}; in plain text,
// the name (and address when it differs), the time (ctime) and the values.
func formatBody(f bodyFormat, ev engine.Event, body any, text string) string {
	addr := ev.Addr.String()
	if !f.JSON {
		hdr := ev.Target
		if addr != ev.Target {
			hdr += " " + addr
		}
		if f.Timestamp {
			hdr += "\n" + ev.Time.Format(time.ANSIC)
		}
		return hdr + "\n" + text
	}
	var b strings.Builder
	quoted := func(s string) {
		q, _ := json.Marshal(s) // a string always marshals
		b.Write(q)
	}
	b.WriteString(`{"addr":`)
	quoted(addr)
	b.WriteString(`,"name":`)
	quoted(ev.Target)
	if f.Timestamp {
		b.WriteString(`,"timestamp":`)
		b.WriteString(strconv.FormatFloat(float64(ev.Time.UnixNano())/1e6, 'f', 3, 64))
	}
	raw, err := json.Marshal(body)
	if err != nil || len(raw) < 2 {
		// only plain structs and strings are marshalled: cannot happen
		b.WriteString("}")
		return b.String()
	}
	b.WriteString(",")
	b.Write(raw[1:]) // the result's key and value, and the closing brace
	return b.String()
}
