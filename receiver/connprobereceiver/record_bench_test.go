package connprobereceiver

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/tcpconn"
)

// BenchmarkRecord turns one window of n targets (a ping window and a scan
// of 3 ports each) into metrics: the scrape's own cost, without probing.
func BenchmarkRecord(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
			s.mb = metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, s.set)
			s.resource = pcommon.NewResource()
			snaps := make([]engine.TargetSnapshot, n)
			for i := range snaps {
				w := window(1, 5, us(100+i%50), us(120), us(90))
				snaps[i] = engine.TargetSnapshot{Name: fmt.Sprint("t", i), Addrs: []engine.AddrSnapshot{{
					Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Ping: w, PacketsSent: 5, PacketsReceived: 5,
					Ports: []engine.PortResult{{Port: 22, State: tcpconn.Open, Duration: us(50)}, {Port: 80, State: tcpconn.Closed}, {Port: 443, State: tcpconn.Filtered}},
				}}}
			}
			now := pcommon.NewTimestampFromTime(time.Now())
			b.ReportAllocs()
			for b.Loop() {
				if md := s.record(now, snaps); md.DataPointCount() < n {
					b.Fatalf("%d points", md.DataPointCount())
				}
			}
		})
	}
}
