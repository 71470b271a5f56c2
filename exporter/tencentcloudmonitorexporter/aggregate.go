package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatautil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter/internal/metadata"
)

// maxPairsPerRequest is PutMonitorData's limit of metric/value pairs.
const maxPairsPerRequest = 30

// seriesIdle is how long the cumulative state of a series that stopped
// reporting is kept.
const seriesIdle = 10 * time.Minute

// mapping is a compiled MetricMapping.
type mapping struct {
	name        string
	attrs       map[string]string
	counterBits int
	statistic   string
}

func (m *mapping) matches(attrs pcommon.Map) bool {
	for k, want := range m.attrs {
		v, ok := attrs.Get(k)
		if !ok || v.AsString() != want {
			return false
		}
	}
	return true
}

// seriesKey identifies one input time series feeding one Tencent name.
type seriesKey struct {
	name   string
	metric string
	res    [16]byte
	attrs  [16]byte
}

// counterState is the last cumulative value of a series.
type counterState struct {
	start pcommon.Timestamp
	ts    pcommon.Timestamp
	u     uint64
	f     float64
	seen  time.Time
}

type bucketKey struct {
	name   string
	minute int64
}

type gaugeVal struct {
	ts    pcommon.Timestamp
	i     int64
	f     float64
	isInt bool
}

// bucket is the aggregate of one Tencent metric over one minute: the sum of
// counter deltas plus, per input series, the last gauge value.
type bucket struct {
	isum   uint64
	ineg   uint64 // negative integer deltas (non-monotonic delta sums)
	fsum   float64
	gauges map[seriesKey]gaugeVal
}

// aggregator turns OTLP metrics into per-minute Tencent metric values.
type aggregator struct {
	mu           sync.Mutex
	logger       *zap.Logger
	mappings     map[string][]mapping
	sendUnmapped bool
	flushDelay   time.Duration

	counters map[seriesKey]*counterState
	buckets  map[bucketKey]*bucket
	flushed  map[string]int64
	warned   map[string]bool
	lastGC   time.Time
}

func newAggregator(cfg *Config, logger *zap.Logger) *aggregator {
	table := cfg.Metrics
	if len(table) == 0 {
		table = DefaultMetrics()
	}
	a := &aggregator{
		logger:       logger,
		mappings:     map[string][]mapping{},
		sendUnmapped: cfg.SendUnmapped,
		flushDelay:   cfg.FlushDelay,
		counters:     map[seriesKey]*counterState{},
		buckets:      map[bucketKey]*bucket{},
		flushed:      map[string]int64{},
		warned:       map[string]bool{},
	}
	for _, m := range table {
		a.mappings[m.Metric] = append(a.mappings[m.Metric], mapping{
			name: m.Name, attrs: m.Attributes, counterBits: m.CounterBits, statistic: m.Statistic,
		})
	}
	return a
}

// warnOnce logs a dropped-data condition once per reason and metric.
func (a *aggregator) warnOnce(reason, metric string, fields ...zap.Field) {
	key := reason + "\x00" + metric
	if a.warned[key] {
		return
	}
	a.warned[key] = true
	a.logger.Warn(reason+" (logged once per metric)", append(fields, zap.String("metric", metric))...)
}

// sanitizeName turns an OTLP metric name into a valid Tencent MetricName.
func sanitizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		case c >= '0' && c <= '9':
			if b.Len() == 0 {
				b.WriteString("m_")
			}
			b.WriteByte(c)
		default:
			if b.Len() == 0 {
				b.WriteString("m")
			}
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "m_"
	}
	out := b.String()
	if len(out) > 128 {
		out = out[:128]
	}
	return out
}

// target is one Tencent name a data point feeds, with how to read it.
type target struct {
	mapping
}

func (a *aggregator) targets(m pmetric.Metric) []target {
	if ms, ok := a.mappings[m.Name()]; ok {
		out := make([]target, len(ms))
		for i := range ms {
			out[i] = target{mapping: ms[i]}
		}
		return out
	}
	if !a.sendUnmapped {
		return nil
	}
	name := sanitizeName(m.Name())
	switch m.Type() {
	case pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram, pmetric.MetricTypeSummary:
		return []target{
			{mapping: mapping{name: trimName(name, "_count"), statistic: StatisticCount}},
			{mapping: mapping{name: trimName(name, "_sum"), statistic: StatisticSum}},
		}
	}
	return []target{{mapping: mapping{name: name}}}
}

func trimName(name, suffix string) string {
	if len(name)+len(suffix) > 128 {
		name = name[:128-len(suffix)]
	}
	return name + suffix
}

// consume adds md to the aggregates. now is the wall clock, used only to age
// out idle series.
func (a *aggregator) consume(md pmetric.Metrics, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := pdatautil.MapHash(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				for _, t := range a.targets(m) {
					a.consumeMetric(m, t, res, now)
				}
			}
		}
	}
}

func (a *aggregator) consumeMetric(m pmetric.Metric, t target, res [16]byte, now time.Time) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		a.numberPoints(m, t, res, m.Gauge().DataPoints(), kindGauge, now)
	case pmetric.MetricTypeSum:
		s := m.Sum()
		kind := kindAdd
		if s.AggregationTemporality() == pmetric.AggregationTemporalityCumulative {
			kind = kindGauge
			if s.IsMonotonic() {
				kind = kindCounter
			}
		} else if s.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
			a.warnOnce("dropping sum with unspecified temporality", m.Name())
			return
		}
		a.numberPoints(m, t, res, s.DataPoints(), kind, now)
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			a.statPoint(m, t, res, dp.Attributes(), dp.Flags(), dp.StartTimestamp(), dp.Timestamp(),
				h.AggregationTemporality(), dp.Count(), dp.HasSum(), dp.Sum(), now)
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			a.statPoint(m, t, res, dp.Attributes(), dp.Flags(), dp.StartTimestamp(), dp.Timestamp(),
				h.AggregationTemporality(), dp.Count(), dp.HasSum(), dp.Sum(), now)
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			a.statPoint(m, t, res, dp.Attributes(), dp.Flags(), dp.StartTimestamp(), dp.Timestamp(),
				pmetric.AggregationTemporalityCumulative, dp.Count(), true, dp.Sum(), now)
		}
	default:
		a.warnOnce("dropping metric of unsupported type", m.Name(), zap.String("type", m.Type().String()))
	}
}

type pointKind int

const (
	kindGauge   pointKind = iota // sent as is (last value in the minute)
	kindCounter                  // cumulative monotonic: per-interval delta
	kindAdd                      // delta temporality: summed
)

func (a *aggregator) numberPoints(m pmetric.Metric, t target, res [16]byte, dps pmetric.NumberDataPointSlice, kind pointKind, now time.Time) {
	if t.statistic != "" {
		a.warnOnce("dropping data: `statistic` applies to histograms and summaries only", m.Name(), zap.String("name", t.name))
		return
	}
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if dp.Flags().NoRecordedValue() || !t.matches(dp.Attributes()) {
			continue
		}
		k := seriesKey{name: t.name, metric: m.Name(), res: res, attrs: pdatautil.MapHash(dp.Attributes())}
		isInt := dp.ValueType() == pmetric.NumberDataPointValueTypeInt
		iv, fv := dp.IntValue(), dp.DoubleValue()
		if !isInt && (math.IsNaN(fv) || math.IsInf(fv, 0)) {
			a.warnOnce("dropping NaN or infinite value", m.Name())
			continue
		}
		switch kind {
		case kindGauge:
			a.addGauge(k, dp.Timestamp(), gaugeVal{ts: dp.Timestamp(), i: iv, f: fv, isInt: isInt})
		case kindCounter:
			if (isInt && iv < 0) || (!isInt && fv < 0) {
				a.warnOnce("dropping negative value of a monotonic counter", m.Name())
				continue
			}
			a.counter(k, t.counterBits, dp.StartTimestamp(), dp.Timestamp(), isInt, uint64(iv), fv, now)
		case kindAdd:
			if isInt {
				a.addInt(k.name, dp.Timestamp(), iv)
			} else {
				a.addFloat(k.name, dp.Timestamp(), fv)
			}
		}
	}
}

func (a *aggregator) statPoint(m pmetric.Metric, t target, res [16]byte, attrs pcommon.Map, flags pmetric.DataPointFlags,
	start, ts pcommon.Timestamp, temp pmetric.AggregationTemporality, count uint64, hasSum bool, sum float64, now time.Time,
) {
	if flags.NoRecordedValue() || !t.matches(attrs) {
		return
	}
	if t.statistic == "" {
		a.warnOnce("dropping histogram/summary: set `statistic: count` or `statistic: sum` on its metrics entry", m.Name(), zap.String("name", t.name))
		return
	}
	k := seriesKey{name: t.name, metric: m.Name(), res: res, attrs: pdatautil.MapHash(attrs)}
	isInt := t.statistic == StatisticCount
	if !isInt && (!hasSum || math.IsNaN(sum) || math.IsInf(sum, 0)) {
		a.warnOnce("dropping histogram/summary point without a finite sum", m.Name())
		return
	}
	switch temp {
	case pmetric.AggregationTemporalityCumulative:
		if !isInt && sum < 0 {
			a.warnOnce("dropping negative cumulative sum", m.Name())
			return
		}
		a.counter(k, 0, start, ts, isInt, count, sum, now)
	case pmetric.AggregationTemporalityDelta:
		if isInt {
			a.addUint(k.name, ts, count)
		} else {
			a.addFloat(k.name, ts, sum)
		}
	default:
		a.warnOnce("dropping histogram with unspecified temporality", m.Name())
	}
}

// counter converts one cumulative point to a delta. The first point of a
// series, a new start time or a decrease that is not a 32-bit wrap only set
// a new baseline.
func (a *aggregator) counter(k seriesKey, bits int, start, ts pcommon.Timestamp, isInt bool, u uint64, f float64, now time.Time) {
	st, ok := a.counters[k]
	if !ok {
		a.counters[k] = &counterState{start: start, ts: ts, u: u, f: f, seen: now}
		return
	}
	if ts <= st.ts {
		return // duplicate or out of order: already counted
	}
	prevU, prevF, prevStart := st.u, st.f, st.start
	*st = counterState{start: start, ts: ts, u: u, f: f, seen: now}
	if start != 0 && prevStart != 0 && start != prevStart {
		return // the producer restarted: new baseline
	}
	if !isInt {
		if f >= prevF {
			a.addFloat(k.name, ts, f-prevF)
		}
		return
	}
	switch {
	case u >= prevU:
		a.addUint(k.name, ts, u-prevU)
	case bits == 32 && prevU <= math.MaxUint32 && u <= math.MaxUint32:
		// A 32-bit counter wrapped, as the seed script assumed ("add 2^32
		// when negative"); a "wrap" of half the range or more is a reset.
		if d := (1 << 32) - prevU + u; d < 1<<31 {
			a.addUint(k.name, ts, d)
		}
	}
}

func minuteOf(ts pcommon.Timestamp) int64 {
	return int64(ts) / int64(time.Minute)
}

// bucketFor returns the open bucket for name at ts's minute; an additive
// point for a minute already sent goes to the next open minute so no count
// is lost. It returns nil for a late gauge.
func (a *aggregator) bucketFor(name string, ts pcommon.Timestamp, additive bool) *bucket {
	minute := minuteOf(ts)
	if last, ok := a.flushed[name]; ok && minute <= last {
		if !additive {
			a.warnOnce("dropping gauge point for a minute already sent", name)
			return nil
		}
		minute = last + 1
	}
	k := bucketKey{name: name, minute: minute}
	b := a.buckets[k]
	if b == nil {
		b = &bucket{}
		a.buckets[k] = b
	}
	return b
}

func (a *aggregator) addUint(name string, ts pcommon.Timestamp, d uint64) {
	b := a.bucketFor(name, ts, true)
	if b.isum+d < b.isum {
		a.warnOnce("dropping delta that overflows 64 bits", name)
		return
	}
	b.isum += d
}

func (a *aggregator) addInt(name string, ts pcommon.Timestamp, d int64) {
	if d >= 0 {
		a.addUint(name, ts, uint64(d))
		return
	}
	b := a.bucketFor(name, ts, true)
	b.ineg += uint64(-d)
}

func (a *aggregator) addFloat(name string, ts pcommon.Timestamp, d float64) {
	a.bucketFor(name, ts, true).fsum += d
}

func (a *aggregator) addGauge(k seriesKey, ts pcommon.Timestamp, v gaugeVal) {
	b := a.bucketFor(k.name, ts, false)
	if b == nil {
		return
	}
	if b.gauges == nil {
		b.gauges = map[seriesKey]gaugeVal{}
	}
	if old, ok := b.gauges[k]; !ok || old.ts <= ts {
		b.gauges[k] = v
	}
}

// value is the bucket's integer value; ok is false when it cannot be sent
// (negative or beyond int64).
func (b *bucket) value() (int64, bool) {
	f := b.fsum
	var i, neg uint64 = b.isum, b.ineg
	for _, g := range b.gauges {
		switch {
		case !g.isInt:
			f += g.f
		case g.i >= 0:
			i += uint64(g.i)
		default:
			neg += uint64(-g.i)
		}
	}
	total := float64(i) - float64(neg) + math.Round(f)
	if total < 0 || total >= math.MaxInt64 {
		return 0, false
	}
	if f == 0 && i >= neg && i-neg <= math.MaxInt64 {
		return int64(i - neg), true // exact integer path
	}
	return int64(total), true
}

// flush returns, as one pmetric.Metrics per PutMonitorData request, the
// buckets whose minute ended flushDelay ago (all buckets with all=true), in
// chronological order.
func (a *aggregator) flush(now time.Time, all bool) []pmetric.Metrics {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ready []bucketKey
	for k := range a.buckets {
		end := time.Unix(0, (k.minute+1)*int64(time.Minute)).Add(a.flushDelay)
		if all || !now.Before(end) {
			ready = append(ready, k)
		}
	}
	if now.Sub(a.lastGC) > time.Minute {
		a.lastGC = now
		for k, st := range a.counters {
			if now.Sub(st.seen) > seriesIdle {
				delete(a.counters, k)
			}
		}
		for name, minute := range a.flushed {
			if now.Sub(time.Unix(0, minute*int64(time.Minute))) > seriesIdle {
				delete(a.flushed, name)
			}
		}
	}
	if len(ready) == 0 {
		return nil
	}
	slices.SortFunc(ready, func(x, y bucketKey) int {
		if x.minute != y.minute {
			return int(x.minute - y.minute)
		}
		return strings.Compare(x.name, y.name)
	})
	var out []pmetric.Metrics
	var sm pmetric.ScopeMetrics
	curMinute, n := int64(-1), 0
	for _, k := range ready {
		b := a.buckets[k]
		delete(a.buckets, k)
		if k.minute > a.flushed[k.name] {
			a.flushed[k.name] = k.minute
		}
		v, ok := b.value()
		if !ok {
			a.warnOnce("dropping value that is negative or beyond int64 (PutMonitorData takes unsigned integers)", k.name)
			continue
		}
		if k.minute != curMinute || n == maxPairsPerRequest {
			md := pmetric.NewMetrics()
			sm = md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			out = append(out, md)
			curMinute, n = k.minute, 0
		}
		m := sm.Metrics().AppendEmpty()
		m.SetName(k.name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(k.minute * int64(time.Minute)))
		dp.SetIntValue(v)
		n++
	}
	return out
}
