package tcpflowreceiver

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// manyFlows is a busy server's table: n accepted flows spread over 8
// service ports and 256 peers.
func manyFlows(n int) *recorded {
	r := &recorded{}
	for i := 0; i < n; i++ {
		f := probe.Flow{ID: uint64(i + 1),
			Local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(8000+i%8)),
			Peer:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i / 256 % 256), byte(i % 256)}), uint16(40000+i%20000)),
			SRTT:  time.Duration(100+i%50) * time.Microsecond, Cwnd: 10, BytesAcked: uint64(i) * 1000}
		f.RetransByType[probe.RetransFast] = uint64(i % 7)
		r.flows = append(r.flows, f)
	}
	return r
}

// BenchmarkScrape is one scrape of a full default table (4096 flows) at
// each aggregation level, with allocations.
func BenchmarkScrape(b *testing.B) {
	for _, level := range []string{AggregationFlow, AggregationPeer, AggregationLocalPort, AggregationNone} {
		b.Run(fmt.Sprintf("%s/4096", level), func(b *testing.B) { benchScrape(b, level, manyFlows(4096)) })
	}
}

// BenchmarkScrapeAllFlows is one scrape of a full default table at
// aggregation flow with top_k: 0, every flow a series: the size where one
// builder Emit per scrape took 59 s (see pdatautil.EmitEvery).
func BenchmarkScrapeAllFlows(b *testing.B) {
	benchScrapeTopK(b, AggregationFlow, 0, manyFlows(4096))
}

// BenchmarkScrapeClosed is one scrape of a full default table with as many
// closed-flow summaries waiting (a busy server's 10 s of churn).
func BenchmarkScrapeClosed(b *testing.B) {
	for _, level := range []string{AggregationFlow, AggregationLocalPort} {
		b.Run(fmt.Sprintf("%s/4096+4096", level), func(b *testing.B) {
			src := manyFlows(4096)
			for _, f := range manyFlows(4096).flows {
				f.ID += 1 << 32
				f.Kind, f.Duration = probe.KindClosed, time.Second
				src.closed = append(src.closed, f)
			}
			benchScrape(b, level, src)
		})
	}
}

// benchScrape scrapes src at aggregation level in a loop.
func benchScrape(b *testing.B, level string, src *recorded) {
	benchScrapeTopK(b, level, createDefaultConfig().(*Config).TopK, src)
}

func benchScrapeTopK(b *testing.B, level string, topK int, src *recorded) {
	cfg := createDefaultConfig().(*Config)
	cfg.Aggregation, cfg.TopK = level, topK
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.open = func(probe.Config) (probe.Source, error) { return src, nil }
	require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, s.shutdown(context.Background())) }()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
