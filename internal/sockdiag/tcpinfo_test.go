package sockdiag

import (
	"encoding/binary"
	"errors"
	"testing"
)

func tcpInfoBytes(n int) []byte {
	b := make([]byte, n)
	ne := binary.NativeEndian
	b[0], b[1] = 1, 4 // ESTABLISHED, TCP_CA_Loss
	ne.PutUint32(b[8:], 204000)
	ne.PutUint32(b[24:], 10)
	ne.PutUint32(b[32:], 3)
	ne.PutUint32(b[68:], 150)
	ne.PutUint32(b[80:], 42)
	ne.PutUint32(b[100:], 17)
	if n >= tcpInfoBytesLen {
		ne.PutUint64(b[120:], 1<<40)
	}
	if n >= tcpInfoWndLen {
		ne.PutUint32(b[228:], 65535)
	}
	return b
}

func TestParseTCPInfo(t *testing.T) {
	var ti TCPInfo
	if err := ParseTCPInfo(tcpInfoBytes(232), &ti); err != nil {
		t.Fatal(err)
	}
	want := TCPInfo{Len: 232, State: 1, CAState: 4, RTO: 204000, Unacked: 10, Lost: 3, RTT: 150, SndCwnd: 42, TotalRetrans: 17, BytesAcked: 1 << 40, SndWnd: 65535}
	if ti != want {
		t.Fatalf("got %+v\nwant %+v", ti, want)
	}
	// A 4.x kernel's shorter struct: newer fields stay zero.
	if err := ParseTCPInfo(tcpInfoBytes(tcpInfoBytesLen), &ti); err != nil || ti.SndWnd != 0 || ti.HasSndWnd() || ti.BytesAcked != 1<<40 {
		t.Fatalf("short tcp_info: %+v, %v", ti, err)
	}
	if err := ParseTCPInfo(make([]byte, 103), &ti); !errors.Is(err, ErrTruncated) {
		t.Fatalf("103 bytes: %v", err)
	}
}

func TestFindTCPInfo(t *testing.T) {
	info := tcpInfoBytes(232)
	attr := make([]byte, 4+len(info))
	binary.NativeEndian.PutUint16(attr, uint16(len(attr)))
	binary.NativeEndian.PutUint16(attr[2:], inetDiagInfo)
	copy(attr[4:], info)
	other := []byte{8, 0, 1, 0, 0, 0, 0, 0} // INET_DIAG_MEMINFO-ish, skipped
	var ti TCPInfo
	ok, err := FindTCPInfo(append(other, attr...), &ti)
	if err != nil || !ok || ti.SndCwnd != 42 {
		t.Fatalf("ok %v err %v ti %+v", ok, err, ti)
	}
	if ok, err := FindTCPInfo(other, &ti); ok || err != nil {
		t.Fatalf("no INET_DIAG_INFO: ok %v err %v", ok, err)
	}
}

func FuzzParseTCPInfo(f *testing.F) {
	f.Add(tcpInfoBytes(232))
	f.Add(tcpInfoBytes(144))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ti TCPInfo
		err := ParseTCPInfo(b, &ti)
		if (err == nil) != (len(b) >= tcpInfoBaseLen) {
			t.Fatalf("len %d: %v", len(b), err)
		}
		if err == nil && ti.Len != len(b) {
			t.Fatalf("Len %d for %d bytes", ti.Len, len(b))
		}
	})
}
