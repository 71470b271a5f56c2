//go:build linux

package probe

import (
	"net/netip"
	"testing"
)

// BenchmarkDecode decodes 4096 iterator records (a full default table).
func BenchmarkDecode(b *testing.B) {
	var r tcpflowFlowRec
	r.F.Family = 2
	r.F.Saddr = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.F.Daddr = netip.MustParseAddr("::ffff:10.0.0.2").As16()
	one := rawRecord(&r)
	buf := make([]byte, 0, 4096*recSize)
	for i := 0; i < 4096; i++ {
		buf = append(buf, one...)
	}
	p := &Probe{hz: 250}
	n := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := p.decodeAll(buf, func(*Flow) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
}
