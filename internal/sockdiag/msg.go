package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Sizes of the fixed kernel structures (include/uapi/linux/inet_diag.h).
const (
	nlmsgHdrLen  = 16
	sockIDLen    = 48
	reqV2Len     = 8 + sockIDLen
	diagMsgLen   = 4 + sockIDLen + 20
	rtaHdrLen    = 4
	nlmsgDone    = 3
	nlmsgError   = 2
	sockDiagByFm = 20 // SOCK_DIAG_BY_FAMILY
	tcpDiagGet   = 18 // TCPDIAG_GETSOCK: the compat request, both families in one pass
	reqV1Len     = 4 + sockIDLen + 8
)

// ErrTruncated reports a message shorter than its declared or required length.
var ErrTruncated = errors.New("sockdiag: truncated message")

// Msg is the fixed part of an inet_diag_msg, decoded in native order except
// the ports and addresses, which the kernel sends in network order.
type Msg struct {
	Family  uint8
	State   State
	Timer   uint8
	Retrans uint8
	SPort   uint16
	DPort   uint16
	Src     [16]byte // IPv4 addresses use the first 4 bytes
	Dst     [16]byte
	If      uint32
	Cookie  uint64
	Expires uint32
	// RQueue and WQueue are, for a LISTEN socket, the accept-queue length
	// and its limit (the listen backlog); otherwise the bytes in the
	// receive and send queues.
	RQueue uint32
	WQueue uint32
	UID    uint32
	Inode  uint32
}

// SrcAddr returns the local address as a netip.Addr.
func (m *Msg) SrcAddr() netip.Addr { return addr(m.Family, &m.Src) }

// DstAddr returns the peer address as a netip.Addr.
func (m *Msg) DstAddr() netip.Addr { return addr(m.Family, &m.Dst) }

func addr(family uint8, b *[16]byte) netip.Addr {
	if family == afInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(*b)
}

const (
	afInet  = 2
	afInet6 = 10
)

// ParseMsg decodes the fixed inet_diag_msg at the start of b into m and
// returns the attribute bytes that follow it.
func ParseMsg(b []byte, m *Msg) (attrs []byte, err error) {
	if len(b) < diagMsgLen {
		return nil, fmt.Errorf("%w: inet_diag_msg has %d bytes, want %d", ErrTruncated, len(b), diagMsgLen)
	}
	ne := binary.NativeEndian
	m.Family, m.State, m.Timer, m.Retrans = b[0], State(b[1]), b[2], b[3]
	m.SPort = binary.BigEndian.Uint16(b[4:])
	m.DPort = binary.BigEndian.Uint16(b[6:])
	copy(m.Src[:], b[8:24])
	copy(m.Dst[:], b[24:40])
	m.If = ne.Uint32(b[40:])
	m.Cookie = uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32
	m.Expires = ne.Uint32(b[52:])
	m.RQueue = ne.Uint32(b[56:])
	m.WQueue = ne.Uint32(b[60:])
	m.UID = ne.Uint32(b[64:])
	m.Inode = ne.Uint32(b[68:])
	return b[diagMsgLen:], nil
}

// msgState returns idiag_state without decoding the rest of the message.
func msgState(b []byte) (State, error) {
	if len(b) < diagMsgLen {
		return 0, fmt.Errorf("%w: inet_diag_msg has %d bytes, want %d", ErrTruncated, len(b), diagMsgLen)
	}
	return State(b[1]), nil
}

// msgSPort returns idiag_sport without decoding the rest of the message.
func msgSPort(b []byte) uint16 { return binary.BigEndian.Uint16(b[4:]) }

// Attrs calls fn for every rtattr in b with its type and value. The value
// aliases b.
func Attrs(b []byte, fn func(typ uint16, val []byte) error) error {
	for len(b) > 0 {
		if len(b) < rtaHdrLen {
			return fmt.Errorf("%w: %d trailing attribute bytes", ErrTruncated, len(b))
		}
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:])
		if l < rtaHdrLen || l > len(b) {
			return fmt.Errorf("%w: attribute %d declares length %d with %d bytes left", ErrTruncated, typ, l, len(b))
		}
		if err := fn(typ, b[rtaHdrLen:l]); err != nil {
			return err
		}
		al := (l + 3) &^ 3
		if al > len(b) {
			al = len(b)
		}
		b = b[al:]
	}
	return nil
}

// parseStream walks the netlink messages in one read. It calls fn with the
// payload of every message of type typ (the request's) carrying seq and
// reports whether NLMSG_DONE was seen. A kernel error message becomes a
// *KernelError.
func parseStream(b []byte, seq uint32, typ uint16, fn func(payload []byte) error) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return false, fmt.Errorf("%w: %d bytes left, netlink header needs %d", ErrTruncated, len(b), nlmsgHdrLen)
		}
		l := int(ne.Uint32(b))
		mtyp := ne.Uint16(b[4:])
		mseq := ne.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return false, fmt.Errorf("%w: netlink message declares length %d with %d bytes left", ErrTruncated, l, len(b))
		}
		payload := b[nlmsgHdrLen:l]
		al := (l + 3) &^ 3
		if al > len(b) {
			al = len(b)
		}
		b = b[al:]
		if mseq != seq {
			continue // a late answer to an earlier, abandoned request
		}
		switch mtyp {
		case nlmsgDone:
			if len(payload) >= 4 {
				if e := int32(ne.Uint32(payload)); e < 0 {
					return true, &KernelError{Errno: -e}
				}
			}
			return true, nil
		case nlmsgError:
			if len(payload) < 4 {
				return false, fmt.Errorf("%w: netlink error message has %d bytes", ErrTruncated, len(payload))
			}
			e := int32(ne.Uint32(payload))
			if e == 0 {
				continue // an acknowledgement
			}
			return true, &KernelError{Errno: -e}
		case typ:
			if err := fn(payload); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("sockdiag: unexpected netlink message type %d", mtyp)
		}
	}
	return false, nil
}

// KernelError is an error the kernel answered a request with; Errno is the
// positive errno value (ENOENT: no diag handler for the protocol, e.g. the
// module is missing; EPERM/EACCES: not allowed).
type KernelError struct{ Errno int32 }

func (e *KernelError) Error() string {
	return fmt.Sprintf("sockdiag: kernel answered: %v", syscall.Errno(e.Errno))
}

// Unwrap lets errors.Is match the syscall.Errno.
func (e *KernelError) Unwrap() error { return syscall.Errno(e.Errno) }

// Request selects what a dump returns.
type Request struct {
	// Family is AF_INET or AF_INET6; 0 (AF_UNSPEC) asks for both in one
	// pass over the kernel's socket hash, which only TCP supports (through
	// the TCPDIAG_GETSOCK compat request). Two single-family dumps walk the
	// whole hash twice.
	Family   uint8
	Protocol uint8  // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE or IPPROTO_RAW
	States   uint32 // bitmask of 1<<State; AllStates for everything
	Ext      uint8  // INET_DIAG_* extensions to ask for, as a bitmask of 1<<(ext-1)
	// RawProtocol is, for Protocol IPPROTO_RAW, the raw socket protocol to
	// match (sdiag_raw_protocol); 0 means IPPROTO_RAW itself.
	RawProtocol uint8
}

// marshal writes the netlink request into b, which must hold
// nlmsgHdrLen+reqV1Len bytes, and returns its length and message type.
func (r *Request) marshal(b []byte, seq uint32) (n int, typ uint16, err error) {
	ne := binary.NativeEndian
	clear(b[:nlmsgHdrLen+reqV1Len])
	p := b[nlmsgHdrLen:]
	switch {
	case r.Family != 0:
		typ, n = sockDiagByFm, nlmsgHdrLen+reqV2Len
		p[0], p[1], p[2], p[3] = r.Family, r.Protocol, r.Ext, r.RawProtocol
		ne.PutUint32(p[4:], r.States)
	case r.Protocol == 6: // IPPROTO_TCP
		// struct inet_diag_req: family, src_len, dst_len, ext, sockid,
		// states, dbs.
		typ, n = tcpDiagGet, nlmsgHdrLen+reqV1Len
		p[3] = r.Ext
		ne.PutUint32(p[4+sockIDLen:], r.States)
	default:
		return 0, 0, fmt.Errorf("sockdiag: a dump of both families (family 0) works only for TCP, not protocol %d", r.Protocol)
	}
	ne.PutUint32(b, uint32(n))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], 0x1|0x300) // NLM_F_REQUEST | NLM_F_DUMP
	ne.PutUint32(b[8:], seq)
	return n, typ, nil
}
