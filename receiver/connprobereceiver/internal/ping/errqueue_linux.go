package ping

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ICMPError is an ICMP error taken from a socket's error queue
// (IP_RECVERR / IPV6_RECVERR), as struct sock_extended_err reports it.
type ICMPError struct {
	Kind     Kind // KindTimeExceeded or KindUnreachable
	Code     uint8
	V6       bool
	Offender netip.Addr // who sent the ICMP error
}

// PortUnreachable is the answer of a destination to a UDP probe.
func (e ICMPError) PortUnreachable() bool {
	return e.Kind == KindUnreachable && (!e.V6 && e.Code == 3 || e.V6 && e.Code == 4)
}

const sizeofExtendedErr = 16 // struct sock_extended_err

// walkCmsgs calls fn for each control message, without allocating.
func walkCmsgs(oob []byte, fn func(level, typ int32, data []byte)) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			return
		}
		fn(h.Level, h.Type, oob[unix.CmsgLen(0):l])
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
}

func timespec(data []byte) (time.Time, bool) {
	var ts unix.Timespec
	if len(data) < int(unsafe.Sizeof(ts)) {
		return time.Time{}, false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), data)
	return time.Unix(ts.Sec, ts.Nsec), true
}

// ParseErrQueueControl reads the control messages of a MSG_ERRQUEUE read:
// the ICMP error with its offender, and the kernel receive timestamp (zero
// if SO_TIMESTAMPNS is off). ok is false when no ICMP error is there.
func ParseErrQueueControl(oob []byte) (e ICMPError, ts time.Time, ok bool) {
	walkCmsgs(oob, func(level, typ int32, data []byte) {
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS:
			ts, _ = timespec(data)
		case level == unix.IPPROTO_IP && typ == unix.IP_RECVERR, level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR:
			e, ok = parseExtendedErr(data)
		}
	})
	return e, ts, ok
}

// parseExtendedErr decodes struct sock_extended_err and the offender
// address (SO_EE_OFFENDER) that follows it.
func parseExtendedErr(b []byte) (ICMPError, bool) {
	if len(b) < sizeofExtendedErr {
		return ICMPError{}, false
	}
	origin, typ, code := b[4], b[5], b[6]
	e := ICMPError{Code: code}
	switch {
	case origin == unix.SO_EE_ORIGIN_ICMP && typ == icmp4TimeExceeded,
		origin == unix.SO_EE_ORIGIN_ICMP6 && typ == icmp6TimeExceeded:
		e.Kind = KindTimeExceeded
	case origin == unix.SO_EE_ORIGIN_ICMP && typ == icmp4Unreachable,
		origin == unix.SO_EE_ORIGIN_ICMP6 && (typ == icmp6Unreachable || typ == icmp6TooBig):
		e.Kind = KindUnreachable
	default:
		return ICMPError{}, false
	}
	e.V6 = origin == unix.SO_EE_ORIGIN_ICMP6
	off := b[sizeofExtendedErr:]
	if len(off) >= 2 {
		switch binary.NativeEndian.Uint16(off) {
		case unix.AF_INET:
			if len(off) >= 8 {
				e.Offender = netip.AddrFrom4([4]byte(off[4:8]))
			}
		case unix.AF_INET6:
			if len(off) >= 24 {
				e.Offender = netip.AddrFrom16([16]byte(off[8:24]))
			}
		}
	}
	return e, e.Offender.IsValid()
}
