package ping

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr; Go pads it to the alignment of Msghdr as C
// does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

const (
	// rxBatch is how many messages one recvmmsg takes.
	rxBatch = 32
	// rxSlot is the room for one message in a batch: an echo reply with
	// a payload up to rxSlot-68 bytes, or an ICMP error (which quotes at
	// most 576 bytes of IPv4 or 1280 of IPv6). Conns that send larger
	// payloads read one message at a time into a 64 KiB buffer.
	rxSlot = 2048
	// oobSlot holds SCM_TIMESTAMPNS and a little more.
	oobSlot = 64
)

// rxRing is the reusable state of recvmmsg: buffers, names and control
// messages for rxBatch messages, allocated once per Conn.
type rxRing struct {
	msgs  [rxBatch]mmsghdr
	iovs  [rxBatch]unix.Iovec
	names [rxBatch]unix.RawSockaddrAny
	oobs  [rxBatch][oobSlot]byte
	bufs  []byte // rxBatch * rxSlot
}

func newRxRing() *rxRing { return &rxRing{bufs: make([]byte, rxBatch*rxSlot)} }

// recv reads up to rxBatch messages without blocking and returns how many.
func (r *rxRing) recv(fd int) (int, error) {
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i*rxSlot]
		r.iovs[i].SetLen(rxSlot)
		m := &r.msgs[i].hdr
		*m = unix.Msghdr{}
		m.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		m.Namelen = uint32(unix.SizeofSockaddrAny)
		m.Iov = &r.iovs[i]
		m.Iovlen = 1
		m.Control = &r.oobs[i][0]
		m.SetControllen(oobSlot)
		r.msgs[i].len = 0
	}
	// Raw like sendto (see there): it never waits (MSG_DONTWAIT).
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msgs[0])), rxBatch,
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// message returns the i-th message of the last recv: its bytes, sender and
// control messages; truncated is set when it did not fit its slot.
func (r *rxRing) message(i int) (b []byte, from *unix.RawSockaddrAny, oob []byte, truncated bool) {
	m := &r.msgs[i]
	n := int(m.len)
	truncated = m.hdr.Flags&unix.MSG_TRUNC != 0 || n > rxSlot
	n = min(n, rxSlot)
	return r.bufs[i*rxSlot : i*rxSlot+n], &r.names[i], r.oobs[i][:min(int(m.hdr.Controllen), oobSlot)], truncated
}
