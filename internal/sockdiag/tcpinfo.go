package sockdiag

import (
	"encoding/binary"
	"fmt"
)

// InfoExt is the Request.Ext bit asking for INET_DIAG_INFO (struct
// tcp_info for TCP sockets).
const InfoExt uint8 = 1 << (inetDiagInfo - 1)

const inetDiagInfo = 2 // INET_DIAG_INFO

// TCPInfo is the part of struct tcp_info (include/uapi/linux/tcp.h) the
// tcpflow receiver's sockdiag fallback reports. Fields newer than the
// running kernel's tcp_info are left zero; Len says how much the kernel sent.
type TCPInfo struct {
	Len          int
	State        uint8
	CAState      uint8
	RTO          uint32 // µs
	Unacked      uint32 // packets_out
	Sacked       uint32
	Lost         uint32
	Retrans      uint32 // retrans_out
	RTT          uint32 // srtt, µs
	RTTVar       uint32 // µs
	SndSsthresh  uint32
	SndCwnd      uint32
	TotalRetrans uint32
	// Since Linux 4.1/4.2.
	BytesAcked    uint64
	BytesReceived uint64
	SegsOut       uint32
	SegsIn        uint32
	// Since Linux 4.19.
	BytesRetrans uint64
	// Since Linux 5.4.
	SndWnd uint32
}

// Minimum tcp_info lengths for the optional groups of fields.
const (
	tcpInfoBaseLen  = 104 // through tcpi_total_retrans
	tcpInfoBytesLen = 144 // through tcpi_segs_in
	tcpInfoRetrLen  = 216 // through tcpi_bytes_retrans
	tcpInfoWndLen   = 232 // through tcpi_snd_wnd
)

// HasSndWnd reports whether the kernel sent tcpi_snd_wnd.
func (ti *TCPInfo) HasSndWnd() bool { return ti.Len >= tcpInfoWndLen }

// ParseTCPInfo decodes an INET_DIAG_INFO attribute of a TCP socket.
func ParseTCPInfo(b []byte, ti *TCPInfo) error {
	if len(b) < tcpInfoBaseLen {
		return fmt.Errorf("%w: tcp_info of %d bytes, need at least %d", ErrTruncated, len(b), tcpInfoBaseLen)
	}
	ne := binary.NativeEndian
	*ti = TCPInfo{
		Len:          len(b),
		State:        b[0],
		CAState:      b[1],
		RTO:          ne.Uint32(b[8:]),
		Unacked:      ne.Uint32(b[24:]),
		Sacked:       ne.Uint32(b[28:]),
		Lost:         ne.Uint32(b[32:]),
		Retrans:      ne.Uint32(b[36:]),
		RTT:          ne.Uint32(b[68:]),
		RTTVar:       ne.Uint32(b[72:]),
		SndSsthresh:  ne.Uint32(b[76:]),
		SndCwnd:      ne.Uint32(b[80:]),
		TotalRetrans: ne.Uint32(b[100:]),
	}
	if len(b) >= tcpInfoBytesLen {
		ti.BytesAcked = ne.Uint64(b[120:])
		ti.BytesReceived = ne.Uint64(b[128:])
		ti.SegsOut = ne.Uint32(b[136:])
		ti.SegsIn = ne.Uint32(b[140:])
	}
	if len(b) >= tcpInfoRetrLen {
		ti.BytesRetrans = ne.Uint64(b[208:])
	}
	if len(b) >= tcpInfoWndLen {
		ti.SndWnd = ne.Uint32(b[228:])
	}
	return nil
}

// FindTCPInfo walks a message's attributes and decodes INET_DIAG_INFO into
// ti; ok is false when the kernel sent none (e.g. a socket without a full
// tcp_sock, or a request without InfoExt).
func FindTCPInfo(attrs []byte, ti *TCPInfo) (ok bool, err error) {
	err = Attrs(attrs, func(typ uint16, val []byte) error {
		if typ != inetDiagInfo {
			return nil
		}
		ok = true
		return ParseTCPInfo(val, ti)
	})
	return ok, err
}
