package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/internal/pdatautil"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// lifetimes is the state of tcp.flow.lifetime: one cumulative histogram per
// attribute set the aggregation level leaves. At the flow level every closed
// flow would be a series of its own holding one value, so there it is kept
// per network.type only.
type lifetimes struct {
	bounds []float64
	start  pcommon.Timestamp
	hist   map[seriesKey]*explicithist.Hist
	keys   []seriesKey
}

func newLifetimes(cfg *Config, start pcommon.Timestamp) *lifetimes {
	if !cfg.LifetimeHistogram.Enabled {
		return nil
	}
	return &lifetimes{bounds: cfg.LifetimeHistogram.Buckets, start: start, hist: map[seriesKey]*explicithist.Hist{}}
}

// observe counts a closed-flow summary (each is handed over once).
func (l *lifetimes) observe(agg *aggregator, f *probe.Flow) {
	k := seriesKey{ipv6: f.IPv6}
	if agg.level != AggregationFlow {
		k = agg.keyOf(f)
		k.netns = 0 // node-wide, under the probe's resource
	}
	h := l.hist[k]
	if h == nil {
		h = explicithist.New(l.bounds)
		l.hist[k] = h
		l.keys = append(l.keys, k)
	}
	h.Observe(l.bounds, f.Duration.Seconds())
}

// appendTo adds tcp.flow.lifetime to md (whose first resource and scope are
// the receiver's). mdatagen v0.159.0 cannot declare histogram metrics, so it
// is built here; it is documented in README.md.
func (l *lifetimes) appendTo(md pmetric.Metrics, resource pcommon.Resource, version string, now pcommon.Timestamp) {
	if len(l.keys) == 0 {
		return
	}
	hist := appendHistogram(md, resource, version, "tcp.flow.lifetime",
		"Lifetimes of the flows that closed (from entering the flow table to TCP_CLOSE), as a cumulative histogram.")
	slices.SortFunc(l.keys, compareKeys)
	for _, k := range l.keys {
		dp := hist.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(l.start)
		dp.SetTimestamp(now)
		putKey(dp.Attributes(), k)
		l.hist[k].WriteTo(dp, l.bounds)
	}
}

// appendHistogram adds an empty cumulative histogram metric (unit s) to md,
// under its first resource and scope, creating them (the receiver's) when
// nothing else was recorded.
func appendHistogram(md pmetric.Metrics, resource pcommon.Resource, version, name, description string) pmetric.Histogram {
	ms := pdatautil.Metrics(md, resource, pdatautil.Scope{Name: metadata.ScopeName, Version: version})
	return pdatautil.AppendHistogram(ms, name, description, "s")
}

// rttSource is the eBPF probe's srtt sample histogram (the sockdiag
// fallback takes no samples and has none).
type rttSource interface {
	RTTHistogram() (probe.RTTHistogram, error)
}

// rttBounds are the power-of-two bounds of tcp.flow.rtt, 1 µs to 2^30 µs.
var rttBounds = func() []float64 {
	b := make([]float64, probe.RTTBuckets-1)
	for i := range b {
		b[i] = probe.RTTBound(i)
	}
	return b
}()

// appendRTT adds tcp.flow.rtt: the srtt samples the probe took since it was
// loaded, per network.type that has any. Sum, min and max are not known
// (the kernel keeps bucket counts only).
func appendRTT(md pmetric.Metrics, resource pcommon.Resource, version string, start, now pcommon.Timestamp, h *probe.RTTHistogram) {
	var hist pmetric.Histogram
	for i, nt := range []metadata.AttributeNetworkType{metadata.AttributeNetworkTypeIpv4, metadata.AttributeNetworkTypeIpv6} {
		var n uint64
		for _, c := range h[i] {
			n += c
		}
		if n == 0 {
			continue
		}
		if hist == (pmetric.Histogram{}) {
			hist = appendHistogram(md, resource, version, "tcp.flow.rtt",
				"Smoothed RTT at each sample the probe took (as counted by tcp.flow.samples), in power-of-two buckets, as a cumulative histogram.")
		}
		dp := hist.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.Attributes().PutStr("network.type", nt.String())
		dp.ExplicitBounds().FromRaw(rttBounds)
		dp.BucketCounts().FromRaw(h[i][:])
		dp.SetCount(n)
	}
}

// putKey sets the attributes of k that the aggregation level left.
func putKey(attrs pcommon.Map, k seriesKey) {
	if k.local.IsValid() {
		attrs.PutStr("network.local.address", k.local.String())
	}
	if k.localPort != 0 {
		attrs.PutInt("network.local.port", int64(k.localPort))
	}
	if p := peerString(k.peer); p != "" {
		attrs.PutStr("network.peer.address", p)
	}
	if k.peerPort != 0 {
		attrs.PutInt("network.peer.port", int64(k.peerPort))
	}
	nt := metadata.AttributeNetworkTypeIpv4
	if k.ipv6 {
		nt = metadata.AttributeNetworkTypeIpv6
	}
	attrs.PutStr("network.type", nt.String())
}

func compareKeys(a, b seriesKey) int {
	if c := a.local.Compare(b.local); c != 0 {
		return c
	}
	if c := cmp.Compare(a.localPort, b.localPort); c != 0 {
		return c
	}
	if c := a.peer.Addr().Compare(b.peer.Addr()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.peer.Bits(), b.peer.Bits()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.peerPort, b.peerPort); c != 0 {
		return c
	}
	switch {
	case a.ipv6 == b.ipv6:
		return 0
	case b.ipv6:
		return -1
	}
	return 1
}
