package ping

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil/nssock"
	"github.com/netstack-otel/netstack/internal/testnet"
)

func BenchmarkParseICMPv4Reply(b *testing.B) {
	pkt := appendEcho(nil, icmp4EchoRequest, 1, 2, make([]byte, 56))
	pkt[0] = icmp4EchoReply
	pkt[2], pkt[3] = 0, 0
	cs := checksum(pkt)
	pkt[2], pkt[3] = byte(cs>>8), byte(cs)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseICMPv4(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRxTimestamp(b *testing.B) {
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))))
	binary.NativeEndian.PutUint64(oob[unix.CmsgLen(0):], 1700000000)
	b.ReportAllocs()
	for b.Loop() {
		if ts, ok := kernelTimestamp(oob); !ok || ts.Unix() != 1700000000 {
			b.Fatal("wrong timestamp")
		}
	}
}

type chanAnswer chan Result

func (c chanAnswer) Answer(r Result) { c <- r }

// One echo round trip over loopback in a fresh namespace, through the
// shared socket (send, kernel, receive goroutine, match, callback).
func BenchmarkEchoLoopback(b *testing.B) {
	ns := testnet.New(b)
	mk, err := nssock.New(ns.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer mk.Close()
	c, err := Open(mk, unix.AF_INET, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dst := netip.MustParseAddr("127.0.0.1")
	ans := make(chanAnswer, 1)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendFunc(Request{Dst: dst, PayloadSize: 56}, buf, ans); err != nil {
			b.Fatal(err)
		}
		select {
		case <-ans:
		case <-time.After(time.Second):
			b.Fatal("no reply")
		}
	}
}
