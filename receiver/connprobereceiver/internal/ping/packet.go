// Package ping sends ICMP echo requests for many targets over one shared
// socket per address family and matches replies and ICMP errors to the
// probes that caused them. It knows nothing of OpenTelemetry.
package ping // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// ICMP types used here.
const (
	icmp4EchoReply    = 0
	icmp4Unreachable  = 3
	icmp4EchoRequest  = 8
	icmp4TimeExceeded = 11
	icmp6Unreachable  = 1
	icmp6TooBig       = 2
	icmp6TimeExceeded = 3
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129

	// CookieLen is the size of the per-probe cookie at the start of the
	// echo payload. A payload shorter than that carries a truncated cookie.
	CookieLen = 8
)

// Kind says what answered a probe.
type Kind uint8

// Kinds of answers.
const (
	KindEchoReply    Kind = iota + 1 // the target answered
	KindTimeExceeded                 // a router on the way (TTL ran out)
	KindUnreachable                  // a router or the target: destination unreachable (code says why)
)

func (k Kind) String() string {
	switch k {
	case KindEchoReply:
		return "echo_reply"
	case KindTimeExceeded:
		return "time_exceeded"
	case KindUnreachable:
		return "unreachable"
	}
	return "unknown"
}

// Message is a parsed ICMP message that concerns an echo request: either
// an echo reply or an error quoting an echo request.
type Message struct {
	Kind Kind
	Code uint8
	// ID and Seq of the echo request (of the reply, or quoted by the error).
	ID, Seq uint16
	// Dst is the destination of the quoted echo request (errors only).
	Dst netip.Addr
	// Cookie holds the first CookieLen payload bytes of the echo request,
	// as far as they are present (CookieN bytes).
	Cookie  [CookieLen]byte
	CookieN int
}

var (
	errShort    = errors.New("truncated ICMP message")
	errChecksum = errors.New("bad ICMP checksum")
	errNotOurs  = errors.New("ICMP message not about an echo request")
)

// appendEcho appends an ICMP echo request (type typ) with the given id,
// sequence and payload; for ICMPv4 it fills in the checksum (the kernel
// computes the ICMPv6 one, which covers a pseudo-header).
func appendEcho(b []byte, typ uint8, id, seq uint16, payload []byte) []byte {
	start := len(b)
	b = append(b, typ, 0, 0, 0, byte(id>>8), byte(id), byte(seq>>8), byte(seq))
	b = append(b, payload...)
	if typ == icmp4EchoRequest {
		cs := checksum(b[start:])
		b[start+2], b[start+3] = byte(cs>>8), byte(cs)
	}
	return b
}

func checksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// StripIPv4 returns the payload of an IPv4 packet (as a raw IPv4 socket
// receives it) and its source address.
func StripIPv4(b []byte) (payload []byte, src netip.Addr, err error) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, netip.Addr{}, errors.New("truncated or non-IPv4 packet")
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl {
		return nil, netip.Addr{}, errors.New("bad IPv4 header length")
	}
	return b[ihl:], netip.AddrFrom4([4]byte(b[12:16])), nil
}

// ParseICMPv4 parses an ICMPv4 message (without IP header).
func ParseICMPv4(b []byte) (Message, error) {
	if len(b) < 8 {
		return Message{}, errShort
	}
	if checksum(b) != 0 {
		return Message{}, errChecksum
	}
	var m Message
	switch b[0] {
	case icmp4EchoReply:
		m.Kind = KindEchoReply
		m.fillEcho(b)
		return m, nil
	case icmp4TimeExceeded:
		m.Kind = KindTimeExceeded
	case icmp4Unreachable:
		m.Kind = KindUnreachable
	default:
		return Message{}, errNotOurs
	}
	m.Code = b[1]
	// Quoted: the original IPv4 header, then at least 8 bytes of ICMP.
	inner, _, err := StripIPv4(b[8:])
	if err != nil {
		return Message{}, err
	}
	q := b[8:]
	if q[9] != 1 /* IPPROTO_ICMP */ || len(inner) < 8 || inner[0] != icmp4EchoRequest {
		return Message{}, errNotOurs
	}
	m.Dst = netip.AddrFrom4([4]byte(q[16:20]))
	m.fillEcho(inner)
	return m, nil
}

// ParseICMPv6 parses an ICMPv6 message (raw ICMPv6 sockets never see the
// IPv6 header; the kernel has checked the checksum).
func ParseICMPv6(b []byte) (Message, error) {
	if len(b) < 8 {
		return Message{}, errShort
	}
	var m Message
	switch b[0] {
	case icmp6EchoReply:
		m.Kind = KindEchoReply
		m.fillEcho(b)
		return m, nil
	case icmp6TimeExceeded:
		m.Kind = KindTimeExceeded
	case icmp6Unreachable, icmp6TooBig:
		m.Kind = KindUnreachable
	default:
		return Message{}, errNotOurs
	}
	m.Code = b[1]
	q := b[8:]
	if len(q) < 40+8 || q[0]>>4 != 6 {
		return Message{}, errShort
	}
	// Only plain ICMPv6 after the fixed header: we never send extension
	// headers.
	if q[6] != 58 /* IPPROTO_ICMPV6 */ || q[40] != icmp6EchoRequest {
		return Message{}, errNotOurs
	}
	m.Dst = netip.AddrFrom16([16]byte(q[24:40]))
	m.fillEcho(q[40:])
	return m, nil
}

func (m *Message) fillEcho(b []byte) {
	m.ID = binary.BigEndian.Uint16(b[4:6])
	m.Seq = binary.BigEndian.Uint16(b[6:8])
	m.CookieN = copy(m.Cookie[:], b[8:])
}
