package sockdiag

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// nlmsg frames payload as one netlink message of type typ.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	l := nlmsgHdrLen + len(payload)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint32(b, uint32(l))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[nlmsgHdrLen:], payload)
	return b
}

// diagMsg builds an inet_diag_msg the way the kernel lays it out, with attrs appended.
func diagMsg(family uint8, st State, src, dst netip.AddrPort, rq, wq uint32, attrs ...[]byte) []byte {
	b := make([]byte, diagMsgLen)
	b[0], b[1] = family, uint8(st)
	binary.BigEndian.PutUint16(b[4:], src.Port())
	binary.BigEndian.PutUint16(b[6:], dst.Port())
	s, d := src.Addr().As16(), dst.Addr().As16()
	if family == afInet {
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(s[:], s4[:])
		copy(d[:], d4[:])
		clear(s[4:])
		clear(d[4:])
	}
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.NativeEndian.PutUint32(b[56:], rq)
	binary.NativeEndian.PutUint32(b[60:], wq)
	binary.NativeEndian.PutUint32(b[68:], 4242)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func rtattr(typ uint16, val []byte) []byte {
	l := rtaHdrLen + len(val)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b, uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[rtaHdrLen:], val)
	return b
}

func done(seq uint32, errno int32) []byte {
	p := make([]byte, 4)
	binary.NativeEndian.PutUint32(p, uint32(errno))
	return nlmsg(nlmsgDone, seq, p)
}

func TestParseMsg(t *testing.T) {
	src := netip.MustParseAddrPort("10.1.2.3:8080")
	dst := netip.MustParseAddrPort("10.9.8.7:40000")
	p := diagMsg(afInet, Listen, src, dst, 7, 128, rtattr(1, []byte{1, 2, 3}), rtattr(4, []byte{9, 9, 9, 9, 9}))
	var m Msg
	attrs, err := ParseMsg(p, &m)
	require.NoError(t, err)
	require.Equal(t, Listen, m.State)
	require.Equal(t, src, netip.AddrPortFrom(m.SrcAddr(), m.SPort))
	require.Equal(t, dst, netip.AddrPortFrom(m.DstAddr(), m.DPort))
	require.Equal(t, uint32(7), m.RQueue)
	require.Equal(t, uint32(128), m.WQueue)
	require.Equal(t, uint32(4242), m.Inode)

	var types []uint16
	var vals [][]byte
	require.NoError(t, Attrs(attrs, func(typ uint16, val []byte) error {
		types = append(types, typ)
		vals = append(vals, append([]byte(nil), val...))
		return nil
	}))
	require.Equal(t, []uint16{1, 4}, types)
	require.Equal(t, [][]byte{{1, 2, 3}, {9, 9, 9, 9, 9}}, vals)

	v6 := netip.MustParseAddrPort("[fd00::1]:443")
	_, err = ParseMsg(diagMsg(afInet6, Established, v6, v6, 0, 0), &m)
	require.NoError(t, err)
	require.Equal(t, v6.Addr(), m.SrcAddr())

	_, err = ParseMsg(p[:diagMsgLen-1], &m)
	require.ErrorIs(t, err, ErrTruncated)
}

func TestAttrsRejectsBadLengths(t *testing.T) {
	a := rtattr(1, []byte{1, 2, 3, 4})
	for name, b := range map[string][]byte{
		"short header": a[:3],
		"length zero":  {0, 0, 1, 0},
		"length past":  append([]byte{20, 0, 1, 0}, 1, 2),
	} {
		err := Attrs(b, func(uint16, []byte) error { return nil })
		require.ErrorIs(t, err, ErrTruncated, name)
	}
}

func TestParseStream(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1")
	var buf []byte
	buf = append(buf, nlmsg(sockDiagByFm, 5, diagMsg(afInet, Established, a, a, 0, 0))...)
	buf = append(buf, nlmsg(sockDiagByFm, 4, diagMsg(afInet, TimeWait, a, a, 0, 0))...) // stale sequence
	buf = append(buf, nlmsg(sockDiagByFm, 5, diagMsg(afInet, CloseWait, a, a, 0, 0))...)
	var got []State
	fn := func(p []byte) error {
		st, err := msgState(p)
		got = append(got, st)
		return err
	}
	d, err := parseStream(buf, 5, sockDiagByFm, fn)
	require.NoError(t, err)
	require.False(t, d)
	require.Equal(t, []State{Established, CloseWait}, got)

	d, err = parseStream(done(5, 0), 5, sockDiagByFm, fn)
	require.NoError(t, err)
	require.True(t, d)

	d, err = parseStream(done(5, -int32(syscall.ENOBUFS)), 5, sockDiagByFm, fn)
	require.True(t, d)
	require.ErrorIs(t, err, syscall.ENOBUFS)

	d, err = parseStream(nlmsg(nlmsgError, 5, []byte{0xfe, 0xff, 0xff, 0xff}), 5, sockDiagByFm, fn)
	require.True(t, d)
	var ke *KernelError
	require.ErrorAs(t, err, &ke)
	require.ErrorIs(t, err, syscall.ENOENT)

	_, err = parseStream(nlmsg(77, 5, nil), 5, sockDiagByFm, fn)
	require.ErrorContains(t, err, "unexpected netlink message type 77")

	_, err = parseStream(buf[:10], 5, sockDiagByFm, fn)
	require.ErrorIs(t, err, ErrTruncated)

	stop := errors.New("stop")
	_, err = parseStream(buf, 5, sockDiagByFm, func([]byte) error { return stop })
	require.ErrorIs(t, err, stop)
}

func TestRequestMarshal(t *testing.T) {
	var b [nlmsgHdrLen + reqV1Len]byte
	r := Request{Family: afInet6, Protocol: 17, States: Established.Mask() | Close.Mask(), Ext: 2, RawProtocol: 1}
	n, typ, err := r.marshal(b[:], 9)
	require.NoError(t, err)
	require.Equal(t, nlmsgHdrLen+reqV2Len, n)
	require.Equal(t, uint16(sockDiagByFm), typ)
	ne := binary.NativeEndian
	require.Equal(t, uint32(n), ne.Uint32(b[:]))
	require.Equal(t, uint16(sockDiagByFm), ne.Uint16(b[4:]))
	require.Equal(t, uint16(0x301), ne.Uint16(b[6:]))
	require.Equal(t, uint32(9), ne.Uint32(b[8:]))
	require.Equal(t, []byte{afInet6, 17, 2, 1}, b[16:20])
	require.Equal(t, uint32(1<<1|1<<7), ne.Uint32(b[20:]))

	// Both families: the 60-byte compat request.
	r = Request{Protocol: 6, States: AllStates}
	n, typ, err = r.marshal(b[:], 10)
	require.NoError(t, err)
	require.Equal(t, nlmsgHdrLen+reqV1Len, n)
	require.Equal(t, uint16(tcpDiagGet), typ)
	require.Equal(t, uint32(n), ne.Uint32(b[:]))
	require.Equal(t, AllStates, ne.Uint32(b[nlmsgHdrLen+4+sockIDLen:]))
	_, _, err = (&Request{Protocol: 17}).marshal(b[:], 11)
	require.ErrorContains(t, err, "only for TCP")
}

func TestStateNames(t *testing.T) {
	want := map[State]string{Established: "established", SynRecv: "syn_received", NewSynRecv: "syn_received",
		FinWait1: "fin_wait_1", TimeWait: "time_wait", Close: "closed", Listen: "listen", Closing: "closing"}
	for s, n := range want {
		require.Equal(t, n, s.String())
	}
	require.Equal(t, "", State(200).String())
	require.Equal(t, uint32(0x1ffe), AllStates)
	require.True(t, selected(NewSynRecv.Mask(), SynRecv))
	require.False(t, selected(Listen.Mask(), Established))
}

// FuzzParseStream feeds arbitrary bytes through the stream, message and
// attribute decoders: they must return an error or succeed, never panic,
// and never hand out a payload outside the input.
func FuzzParseStream(f *testing.F) {
	a := netip.MustParseAddrPort("[::1]:22")
	f.Add(nlmsg(sockDiagByFm, 1, diagMsg(afInet6, Listen, a, a, 1, 2, rtattr(2, []byte{1}))))
	f.Add(done(1, 0))
	f.Add(nlmsg(nlmsgError, 1, []byte{0xfe, 0xff, 0xff, 0xff}))
	f.Add([]byte{16, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Msg
		_, _ = parseStream(b, 1, sockDiagByFm, func(p []byte) error {
			attrs, err := ParseMsg(p, &m)
			if err != nil {
				return err
			}
			if m.State < NumStates {
				_ = m.State.String()
			}
			return Attrs(attrs, func(_ uint16, v []byte) error {
				if len(v) > len(b) {
					t.Fatalf("attribute of %d bytes from %d input bytes", len(v), len(b))
				}
				return nil
			})
		})
	})
}
