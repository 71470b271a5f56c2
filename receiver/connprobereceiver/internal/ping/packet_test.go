package ping

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEchoRoundTrip(t *testing.T) {
	payload := []byte("cookie!!rest")
	b := appendEcho(nil, icmp4EchoRequest, 0x1234, 0x5678, payload)
	assert.Zero(t, checksum(b), "checksum verifies")
	b[0] = icmp4EchoReply
	b[2], b[3] = 0, 0
	cs := checksum(b)
	b[2], b[3] = byte(cs>>8), byte(cs)
	m, err := ParseICMPv4(b)
	require.NoError(t, err)
	assert.Equal(t, KindEchoReply, m.Kind)
	assert.Equal(t, uint16(0x1234), m.ID)
	assert.Equal(t, uint16(0x5678), m.Seq)
	assert.Equal(t, "cookie!!", string(m.Cookie[:m.CookieN]))
}

func TestParseTimeExceededV4(t *testing.T) {
	inner := appendEcho(nil, icmp4EchoRequest, 7, 9, []byte("abcdefgh"))
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 10, 0, 0, 2, 10, 0, 2, 2}
	msg := append([]byte{icmp4TimeExceeded, 0, 0, 0, 0, 0, 0, 0}, append(ip, inner...)...)
	cs := checksum(msg)
	msg[2], msg[3] = byte(cs>>8), byte(cs)
	m, err := ParseICMPv4(msg)
	require.NoError(t, err)
	assert.Equal(t, KindTimeExceeded, m.Kind)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), m.Dst)
	assert.Equal(t, uint16(7), m.ID)
	assert.Equal(t, uint16(9), m.Seq)
	_, err = ParseICMPv4(msg[:30])
	assert.Error(t, err)
}

func FuzzParseICMP(f *testing.F) {
	f.Add([]byte{0, 0, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(append([]byte{11, 0, 0xf4, 0xff, 0, 0, 0, 0, 0x45, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 10, 0, 0, 2, 10, 0, 2, 2}, 8, 0, 0, 0, 0, 7, 0, 9))
	f.Add(append(append([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 8, 58, 64}, make([]byte, 32)...), 128, 0, 0, 0, 0, 1, 0, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseICMPv4(b); err == nil && (m.Kind == 0 || m.CookieN > CookieLen) {
			t.Fatalf("bad v4 message %+v", m)
		}
		if m, err := ParseICMPv6(b); err == nil && (m.Kind == 0 || m.CookieN > CookieLen) {
			t.Fatalf("bad v6 message %+v", m)
		}
		_, _, _ = StripIPv4(b)
	})
}
