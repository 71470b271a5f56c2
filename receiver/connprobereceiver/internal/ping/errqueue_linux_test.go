package ping

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestParseErrQueueControl(t *testing.T) {
	ee := make([]byte, sizeofExtendedErr+16)
	ee[4], ee[5], ee[6] = unix.SO_EE_ORIGIN_ICMP, icmp4Unreachable, 3
	binary.NativeEndian.PutUint16(ee[16:], unix.AF_INET)
	copy(ee[20:24], []byte{10, 0, 0, 9})
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, 1700000000)
	oob := append(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts), cmsg(unix.IPPROTO_IP, unix.IP_RECVERR, ee)...)
	e, when, ok := ParseErrQueueControl(oob)
	assert.True(t, ok)
	assert.Equal(t, KindUnreachable, e.Kind)
	assert.True(t, e.PortUnreachable())
	assert.Equal(t, "10.0.0.9", e.Offender.String())
	assert.Equal(t, int64(1700000000), when.Unix())
	_, _, ok = ParseErrQueueControl(oob[:len(oob)-8])
	assert.False(t, ok, "truncated")
}

func FuzzParseErrQueueControl(f *testing.F) {
	ee := make([]byte, sizeofExtendedErr+28)
	ee[4], ee[5] = unix.SO_EE_ORIGIN_ICMP6, icmp6TimeExceeded
	binary.NativeEndian.PutUint16(ee[16:], unix.AF_INET6)
	f.Add(cmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, ee))
	f.Add(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, make([]byte, 16)))
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) {
		e, _, ok := ParseErrQueueControl(oob)
		if ok && (!e.Offender.IsValid() || e.Kind == 0) {
			t.Fatalf("ok without offender or kind: %+v", e)
		}
		_, _ = kernelTimestamp(oob)
	})
}
