//go:build linux

package probe

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func rawRecord(r *tcpflowFlowRec) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(r)), recSize)...)
}

func TestDecodeRecord(t *testing.T) {
	var r tcpflowFlowRec
	r.F.Family = 2
	r.F.Saddr = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.F.Daddr = netip.MustParseAddr("::ffff:10.0.0.2").As16()
	r.F.Sport, r.F.Dport = 40000, 443
	r.F.Id, r.F.StartNs, r.NowNs = 7, 1_000, 3_000_001_000
	r.F.BaseTotalRetrans, r.TotalRetrans = 5, 12 // admitted mid-life: counts from admission
	r.F.BaseBytesAcked, r.BytesAcked = 100, 1100
	r.F.SrttMinUs = ^uint32(0)
	r.F.Retrans = [5]uint32{1, 2, 3, 0, 1}
	r.SrttUs, r.RtoJiffies, r.SndCwnd, r.Kind = 150, 50, 10, 2
	p := &Probe{hz: 250}
	var got []Flow
	require.NoError(t, p.decodeAll(append(rawRecord(&r), rawRecord(&r)...), func(f *Flow) { got = append(got, *f) }))
	require.Len(t, got, 2)
	f := got[0]
	require.Equal(t, netip.MustParseAddrPort("10.0.0.1:40000"), f.Local)
	require.Equal(t, netip.MustParseAddrPort("10.0.0.2:443"), f.Peer)
	require.False(t, f.IPv6)
	require.Equal(t, KindClosed, f.Kind)
	require.Equal(t, uint64(7), f.Retransmits)
	require.Equal(t, uint64(1000), f.BytesAcked)
	require.Equal(t, 3*time.Second, f.Duration)
	require.Equal(t, 200*time.Millisecond, f.RTO, "50 jiffies at HZ=250")
	require.Equal(t, 150*time.Microsecond, f.SRTT)
	require.Zero(t, f.SRTTMin, "no sample yet")
	require.Equal(t, [NumRetransTypes]uint64{1, 2, 3, 0, 1}, f.RetransByType)

	require.ErrorContains(t, p.decodeAll(make([]byte, recSize+1), func(*Flow) {}), "not a multiple")
	require.ErrorContains(t, p.decodeAll(make([]byte, recSize), func(*Flow) {}), "record 0: address family 0")
	r.F.Saddr = netip.MustParseAddr("fd00::1").As16()
	require.ErrorContains(t, p.decodeAll(rawRecord(&r), func(*Flow) {}), "IPv4 flow without IPv4-mapped")
}

func TestCIDRWords(t *testing.T) {
	addr, mask := CIDRWords(netip.MustParsePrefix("10.1.2.3/8"))
	want := netip.MustParseAddr("::ffff:10.0.0.0").As16()
	require.Equal(t, binary.NativeEndian.Uint64(want[8:]), addr[1])
	var m [16]byte
	for i := 0; i < 13; i++ {
		m[i] = 0xff
	}
	require.Equal(t, [2]uint64{binary.NativeEndian.Uint64(m[:8]), binary.NativeEndian.Uint64(m[8:])}, mask)
	_, mask = CIDRWords(netip.MustParsePrefix("::/0"))
	require.Equal(t, [2]uint64{}, mask, "::/0 matches everything")
}

// FuzzDecode: any byte string either decodes (whole records) or is rejected;
// never a panic, and derived values are consistent.
func FuzzDecode(f *testing.F) {
	var r tcpflowFlowRec
	r.F.Family = 10
	r.TotalRetrans = 3
	f.Add(rawRecord(&r))
	f.Add([]byte{})
	f.Add(make([]byte, recSize-1))
	p := &Probe{hz: 1000}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := p.decodeAll(b, func(fl *Flow) {
			n++
			if fl.IPv6 != fl.Local.Addr().Is6() || fl.Local.Addr().Is4In6() {
				t.Fatalf("address family mismatch: %+v", fl)
			}
			if fl.SRTTMin < 0 || fl.RTO < 0 {
				t.Fatalf("negative duration: %+v", fl)
			}
		})
		if len(b)%recSize != 0 && err == nil {
			t.Fatalf("len %d accepted", len(b))
		}
		if err == nil && n != len(b)/recSize {
			t.Fatalf("decoded %d of %d records", n, len(b)/recSize)
		}
	})
}

func rawSample(r *tcpflowTcpSample) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(r)), sampleSize)...)
}

func TestDecodeSample(t *testing.T) {
	var r tcpflowTcpSample
	r.Family = 10
	r.Saddr = netip.MustParseAddr("fd00::1").As16()
	r.Daddr = netip.MustParseAddr("fd00::2").As16()
	r.Sport, r.Dport, r.Cookie = 5001, 40000, 99
	r.TsNs, r.SndNxt, r.SndUna, r.SndCwnd, r.Ssthresh, r.RtoJiffies, r.DataLen = 2_000_000_000, 1000, 500, 10, 7, 50, 1448
	boot := time.Unix(1_700_000_000, 0)
	p := &Probe{hz: 250, boot: boot, bootNs: 1_000_000_000}
	var s Sample
	require.NoError(t, p.decodeSample(rawSample(&r), &s))
	require.Equal(t, netip.MustParseAddrPort("[fd00::1]:5001"), s.Local)
	require.Equal(t, netip.MustParseAddrPort("[fd00::2]:40000"), s.Peer)
	require.True(t, s.IPv6)
	require.Equal(t, boot.Add(time.Second), s.Time, "kernel time")
	require.Equal(t, uint32(200_000), s.RTOus, "50 jiffies at HZ=250")
	require.Equal(t, Sample{Time: s.Time, Cookie: 99, Local: s.Local, Peer: s.Peer, IPv6: true, DataLen: 1448,
		SndNxt: 1000, SndUna: 500, SndCwnd: 10, Ssthresh: 7, RTOus: 200_000}, s)
	require.ErrorContains(t, p.decodeSample(rawSample(&r)[:sampleSize-1], &s), "sample record of")
	r.Family = 3
	require.ErrorContains(t, p.decodeSample(rawSample(&r), &s), "address family 3")
	r.Family = 2
	require.ErrorContains(t, p.decodeSample(rawSample(&r), &s), "IPv4 flow without IPv4-mapped")
	r.Family = 10
	raw := rawSample(&r)
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = p.decodeSample(raw, &s) }), "decoding allocates nothing")
}

// BenchmarkDecodeSample: decoding allocates nothing.
func BenchmarkDecodeSample(b *testing.B) {
	var r tcpflowTcpSample
	r.Family = 2
	r.Saddr = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.Daddr = netip.MustParseAddr("::ffff:10.0.0.2").As16()
	raw := rawSample(&r)
	p := &Probe{hz: 250}
	var s Sample
	b.ReportAllocs()
	for b.Loop() {
		if err := p.decodeSample(raw, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeSample: any byte string decodes or is rejected, never a panic.
func FuzzDecodeSample(f *testing.F) {
	var r tcpflowTcpSample
	r.Family = 2
	r.Saddr = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.Daddr = netip.MustParseAddr("::ffff:10.0.0.2").As16()
	f.Add(rawSample(&r))
	f.Add([]byte{})
	p := &Probe{hz: 100}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sample
		err := p.decodeSample(b, &s)
		if len(b) < sampleSize && err == nil {
			t.Fatalf("len %d accepted", len(b))
		}
		if err == nil && s.IPv6 != s.Local.Addr().Is6() {
			t.Fatalf("address family mismatch: %+v", s)
		}
	})
}
