package ping

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// Conn is one ICMP socket shared by all probes of one address family.
type Conn struct {
	family int // unix.AF_INET or unix.AF_INET6
	mode   Mode
	file   *os.File
	rc     interface {
		Read(func(fd uintptr) bool) error
		Write(func(fd uintptr) bool) error
	}
	id uint16 // echo id (raw: ours; datagram: assigned by the kernel)

	mu      sync.Mutex
	pending map[uint32]*Probe
	counter uint32
	rng     *rand.ChaCha8

	stats struct{ received, matched, foreign, malformed atomic.Uint64 }
	done  chan struct{}

	polled    bool
	rx        *rxState
	closeOnce sync.Once
	closeErr  error
	// largest payload sent so far: beyond maxBatchPayload, answers may
	// not fit a recvmmsg slot and are read one at a time.
	maxPayload atomic.Int64

	// One send at a time through a closure made once (a closure per
	// call would be an allocation per probe).
	sendMu  sync.Mutex
	sendPkt []byte
	sendRSA unix.RawSockaddrAny
	sendLen uint32
	sendErr error
	sendFn  func(fd uintptr) bool
}

// Open opens the ICMP socket for family (unix.AF_INET or unix.AF_INET6):
// raw if allowed, else datagram; the error says why neither worked. It
// starts the receive goroutine, which Close ends.
func Open(mk sock.Maker, family int, opt Options) (*Conn, error) {
	proto := unix.IPPROTO_ICMP
	if family == unix.AF_INET6 {
		proto = unix.IPPROTO_ICMPV6
	}
	mode := ModeRaw
	fd, rawErr := -1, errors.New("not tried")
	if opt.Mode != ModeDatagram {
		fd, rawErr = mk.Socket(family, unix.SOCK_RAW, proto)
	}
	if rawErr != nil && opt.Mode != ModeRaw {
		var dgErr error
		mode = ModeDatagram
		fd, dgErr = mk.Socket(family, unix.SOCK_DGRAM, proto)
		if dgErr != nil {
			return nil, fmt.Errorf("no ICMP socket: raw needs CAP_NET_RAW (%w); datagram needs the group in net.ipv4.ping_group_range (%v)", rawErr, dgErr)
		}
	} else if rawErr != nil {
		return nil, fmt.Errorf("raw ICMP socket (needs CAP_NET_RAW): %w", rawErr)
	}
	var seed [32]byte
	fillRandom(seed[:])
	c := &Conn{
		family:  family,
		mode:    mode,
		pending: make(map[uint32]*Probe),
		rng:     rand.NewChaCha8(seed),
		done:    make(chan struct{}),
		polled:  opt.Polled,
	}
	if err := c.setup(fd, opt); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.file = os.NewFile(uintptr(fd), fmt.Sprintf("icmp-%s-%d", mode, family))
	rc, err := c.file.SyscallConn()
	if err != nil {
		c.file.Close()
		return nil, err
	}
	c.rc = rc
	c.sendFn = func(fd uintptr) bool {
		c.sendErr = sendto(int(fd), c.sendPkt, &c.sendRSA, c.sendLen)
		return c.sendErr != unix.EAGAIN
	}
	c.rx = c.newRxState()
	if !c.polled {
		go c.receive()
	}
	return c, nil
}

func fillRandom(b []byte) {
	// crypto-quality is not needed, only unpredictability across processes.
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
}

func (c *Conn) setup(fd int, opt Options) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	if opt.ReceiveBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opt.ReceiveBuffer); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opt.ReceiveBuffer)
		}
	}
	v4 := c.family == unix.AF_INET
	if opt.DontFragment {
		var err error
		if v4 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
		}
		if err != nil {
			return fmt.Errorf("setting don't-fragment: %w", err)
		}
	}
	switch c.mode {
	case ModeRaw:
		c.id = uint16(rand.Uint32())
		if v4 {
			// ICMP_FILTER: a set bit blocks that type.
			mask := ^uint32(1<<icmp4EchoReply | 1<<icmp4Unreachable | 1<<icmp4TimeExceeded)
			if err := unix.SetsockoptInt(fd, unix.SOL_RAW, 1 /* ICMP_FILTER */, int(int32(mask))); err != nil {
				return fmt.Errorf("ICMP_FILTER: %w", err)
			}
		} else {
			var f unix.ICMPv6Filter
			for i := range f.Data {
				f.Data[i] = ^uint32(0)
			}
			for _, t := range []int{icmp6EchoReply, icmp6Unreachable, icmp6TooBig, icmp6TimeExceeded} {
				f.Data[t>>5] &^= 1 << (t & 31)
			}
			if err := unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
				return fmt.Errorf("ICMPV6_FILTER: %w", err)
			}
		}
		// Let the kernel drop echo replies to other processes (a raw
		// socket otherwise sees every reply on the host), like iputils
		// ping does; ICMP errors always pass (they quote our request).
		if err := attachIDFilter(fd, v4, c.id); err != nil {
			return fmt.Errorf("attaching the echo id filter: %w", err)
		}
	case ModeDatagram:
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if !v4 {
			sa = &unix.SockaddrInet6{}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("binding datagram ICMP socket: %w", err)
		}
		got, err := unix.Getsockname(fd)
		if err != nil {
			return fmt.Errorf("getsockname: %w", err)
		}
		switch a := got.(type) {
		case *unix.SockaddrInet4:
			c.id = uint16(a.Port)
		case *unix.SockaddrInet6:
			c.id = uint16(a.Port)
		}
		// Time exceeded and unreachable for our requests (traceroute)
		// come through the error queue.
		o := sock.OptionsFor(c.family)
		if err := unix.SetsockoptInt(fd, o.Level, o.RecvErr, 1); err != nil {
			return fmt.Errorf("IP_RECVERR: %w", err)
		}
	}
	return nil
}

// Mode says which kind of socket the Conn uses.
func (c *Conn) Mode() Mode { return c.mode }

// Family is unix.AF_INET or unix.AF_INET6.
func (c *Conn) Family() int { return c.family }

// Stats returns the receive loop's counters.
func (c *Conn) Stats() Stats {
	return Stats{
		Received:  c.stats.received.Load(),
		Matched:   c.stats.matched.Load(),
		Foreign:   c.stats.foreign.Load(),
		Malformed: c.stats.malformed.Load(),
	}
}

// Send sends one echo request; its answer arrives on Probe.C. buf is
// scratch space the caller may reuse after Send returns.
func (c *Conn) Send(req Request, buf []byte) (*Probe, error) {
	return c.send(&Probe{dst: req.Dst.Unmap(), C: make(chan Result, 1)}, req, buf)
}

// SendFunc sends one echo request; h.Answer gets its answer unless
// Forget removed the probe first. It allocates only the Probe.
func (c *Conn) SendFunc(req Request, buf []byte, h Answerer) (*Probe, error) {
	return c.send(&Probe{dst: req.Dst.Unmap(), h: h}, req, buf)
}

func (c *Conn) send(p *Probe, req Request, buf []byte) (*Probe, error) {
	select {
	case <-c.done:
		return nil, ErrClosed
	default:
	}
	c.mu.Lock()
	var id, seq uint16
	for tries := 0; ; tries++ {
		c.counter++
		seq = uint16(c.counter)
		id = c.id
		p.key = uint32(id)<<16 | uint32(seq)
		if _, busy := c.pending[p.key]; !busy {
			break
		}
		if tries > 1<<16 {
			c.mu.Unlock()
			return nil, errors.New("all ICMP sequence numbers in flight")
		}
	}
	_, _ = c.rng.Read(p.cookie[:])
	// Complete before the probe is visible to the receive goroutine.
	p.cookN = min(max(req.PayloadSize, 0), CookieLen)
	c.pending[p.key] = p
	n := max(req.PayloadSize, 0)
	if int64(n) > c.maxPayload.Load() {
		c.maxPayload.Store(int64(n))
	}
	c.mu.Unlock()

	payload := growZero(buf[:0], n)
	copy(payload, p.cookie[:p.cookN])
	typ := uint8(icmp4EchoRequest)
	if c.family == unix.AF_INET6 {
		typ = icmp6EchoRequest
	}
	pkt := appendEcho(payload[len(payload):], typ, id, seq, payload)

	var oob []byte
	if req.TTL > 0 || req.TOS > 0 {
		oob = c.controlMessages(req.TTL, req.TOS)
	}
	var err error
	if oob == nil {
		err = c.sendPlain(p, pkt)
	} else {
		err = c.sendControl(p, pkt, oob)
	}
	if err != nil {
		c.Forget(p)
		return nil, fmt.Errorf("sending echo request to %s: %w", p.dst, err)
	}
	return p, nil
}

func (c *Conn) sendPlain(p *Probe, pkt []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n, err := sock.RawSockaddr(&c.sendRSA, netip.AddrPortFrom(p.dst, 0))
	if err != nil {
		return err
	}
	c.sendPkt, c.sendLen = pkt, n
	p.sent.Store(time.Now().UnixNano())
	werr := c.rc.Write(c.sendFn)
	c.sendPkt = nil
	if werr != nil {
		return werr
	}
	return c.sendErr
}

// sendControl sends with ancillary data (TTL, TOS); not the hot path.
func (c *Conn) sendControl(p *Probe, pkt, oob []byte) error {
	sa, err := sock.Sockaddr(netip.AddrPortFrom(p.dst, 0))
	if err != nil {
		return err
	}
	p.sent.Store(time.Now().UnixNano())
	werr := c.rc.Write(func(fd uintptr) bool {
		err = unix.Sendmsg(int(fd), pkt, oob, sa, 0)
		return err != unix.EAGAIN
	})
	if werr != nil {
		return werr
	}
	return err
}

func growZero(b []byte, n int) []byte {
	if cap(b) < 2*n+8 {
		b = make([]byte, 0, 2*n+8)
	}
	b = b[:n]
	clear(b)
	return b
}

func (c *Conn) controlMessages(ttl, tos int) []byte {
	o := sock.OptionsFor(c.family)
	var oob []byte
	add := func(typ, v int) {
		h := make([]byte, unix.CmsgSpace(4))
		hdr := (*unix.Cmsghdr)(unsafe.Pointer(&h[0]))
		hdr.Level = int32(o.Level)
		hdr.Type = int32(typ)
		hdr.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(h[unix.CmsgLen(0):], uint32(v))
		oob = append(oob, h...)
	}
	if ttl > 0 {
		add(o.TTLCmsg, ttl)
	}
	if tos > 0 {
		add(o.TOS, tos)
	}
	return oob
}

// Forget drops a probe that timed out; a late answer then counts as
// foreign.
func (c *Conn) Forget(p *Probe) {
	c.mu.Lock()
	if c.pending[p.key] == p {
		delete(c.pending, p.key)
	}
	c.mu.Unlock()
}

// Close closes the socket and waits for the receive goroutine.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.file.Close()
		if c.polled {
			close(c.done) // no receive goroutine to do it
		}
	})
	<-c.done
	return c.closeErr
}

// maxBatchPayload is the largest echo payload whose reply fits a
// recvmmsg slot with an IPv4 header of up to 60 bytes.
const maxBatchPayload = rxSlot - 60 - 8

// rxState is the receive side of a Conn: buffers reused for every read,
// used by one goroutine at a time (the receive goroutine, or Poll's
// caller).
type rxState struct {
	ring    *rxRing
	buf     []byte
	oob     []byte
	from    unix.RawSockaddrAny
	iov     unix.Iovec
	msg     unix.Msghdr
	n, oobn int
	err     error
	batch   bool // the last read was a recvmmsg into ring
	errq    bool // the last read took an ICMP error from the error queue
	readAt  time.Time
	read    func(fd uintptr) bool // one read; false to wait for more
	poll    func(fd uintptr) bool // one read; never waits
	mu      sync.Mutex            // Poll callers
}

func (c *Conn) newRxState() *rxState {
	rx := &rxState{
		ring: newRxRing(),
		buf:  make([]byte, 65536+60),
		oob:  make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*4),
	}
	rx.read = func(fd uintptr) bool {
		c.readOnce(int(fd))
		return rx.err != unix.EAGAIN
	}
	rx.poll = func(fd uintptr) bool {
		c.readOnce(int(fd))
		return true
	}
	return rx
}

// readOnce reads what is queued: a batch of answers with recvmmsg, one
// large answer, or one ICMP error from a datagram socket's error queue.
func (c *Conn) readOnce(fd int) {
	rx := c.rx
	rx.errq = false
	rx.batch = c.maxPayload.Load() <= maxBatchPayload
	rx.readAt = time.Now()
	if rx.batch {
		rx.n, rx.err = rx.ring.recv(fd)
	} else {
		rx.n, rx.oobn, rx.err = recvmsg(fd, rx.buf, rx.oob, &rx.from, &rx.iov, &rx.msg, 0)
	}
	if c.mode == ModeDatagram && rx.err != nil {
		// ICMP errors about our requests wait in the error queue
		// (IP_RECVERR); a pending one also fails the plain read.
		if n2, oobn2, err2 := recvmsg(fd, rx.buf, rx.oob, &rx.from, &rx.iov, &rx.msg, unix.MSG_ERRQUEUE); err2 == nil {
			rx.n, rx.oobn, rx.err, rx.errq = n2, oobn2, nil, true
		}
	}
}

// dispatch hands what readOnce read to the probes.
func (c *Conn) dispatch() {
	rx := c.rx
	switch {
	case rx.err != nil:
		// EAGAIN, EINTR, ENOBUFS, ENOMEM, or errors queued on the
		// socket that are not ours to read here.
	case rx.errq:
		c.handleQueued(rx.buf[:rx.n], &rx.from, rx.oob[:rx.oobn])
	case !rx.batch:
		c.handle(rx.buf[:rx.n], &rx.from, rx.oob[:rx.oobn], rx.readAt)
	default:
		for i := range rx.n {
			b, from, oob, truncated := rx.ring.message(i)
			if truncated {
				c.stats.received.Add(1)
				c.stats.malformed.Add(1)
				continue
			}
			c.handle(b, from, oob, rx.readAt)
		}
	}
}

func (c *Conn) receive() {
	defer close(c.done)
	for {
		if err := c.rc.Read(c.rx.read); err != nil { // closed
			return
		}
		c.dispatch()
	}
}

// maxPollReads bounds the reads of one Poll, so that a socket that keeps
// failing cannot hold its caller.
const maxPollReads = 1024

// Poll reads every answer queued on a Polled socket and hands each to its
// probe (Answerer.Answer runs on the caller's goroutine). It returns at
// once when nothing is queued, and does nothing after Close.
func (c *Conn) Poll() {
	if !c.polled {
		return
	}
	rx := c.rx
	rx.mu.Lock()
	defer rx.mu.Unlock()
	for range maxPollReads {
		if err := c.rc.Read(rx.poll); err != nil { // closed
			return
		}
		if rx.err == unix.EAGAIN {
			return
		}
		c.dispatch()
		if rx.err == nil && rx.batch && rx.n < rxBatch {
			return // the queue is drained
		}
	}
}

// kernelTimestamp finds SCM_TIMESTAMPNS among the control messages
// without allocating.
func kernelTimestamp(oob []byte) (ts time.Time, found bool) {
	walkCmsgs(oob, func(level, typ int32, data []byte) {
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS {
			ts, found = timespec(data)
		}
	})
	return ts, found
}

// handle parses one answer; its kernel timestamp is among the control
// messages oob, or it is stamped now (ReadStamped).
func (c *Conn) handle(b []byte, from *unix.RawSockaddrAny, oob []byte, readAt time.Time) {
	recv, ok := kernelTimestamp(oob)
	// A stamp taken during the read means the kernel stamped the packet
	// when it was read, not when it arrived.
	readStamped := !ok || !recv.Before(readAt)
	if !ok {
		recv = time.Now()
	}
	c.stats.received.Add(1)
	src := rawAddr(from)
	var (
		m   Message
		err error
	)
	if c.family == unix.AF_INET {
		if c.mode == ModeRaw {
			if b, src, err = StripIPv4(b); err != nil {
				c.stats.malformed.Add(1)
				return
			}
		}
		m, err = ParseICMPv4(b)
	} else {
		m, err = ParseICMPv6(b)
	}
	if err != nil {
		if err == errNotOurs {
			c.stats.foreign.Add(1)
		} else {
			c.stats.malformed.Add(1)
		}
		return
	}
	c.deliver(&m, src, recv, readStamped)
}

// handleQueued takes an ICMP error from a datagram socket's error queue:
// the data is our echo request as sent, the name its destination, the
// control messages the error and its offender.
func (c *Conn) handleQueued(b []byte, dst *unix.RawSockaddrAny, oob []byte) {
	c.stats.received.Add(1)
	e, ts, ok := ParseErrQueueControl(oob)
	if !ok || len(b) < 8 {
		c.stats.malformed.Add(1)
		return
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	m := Message{Kind: e.Kind, Code: e.Code, Dst: rawAddr(dst)}
	m.fillEcho(b)
	c.deliver(&m, e.Offender, ts, false)
}

func rawAddr(rsa *unix.RawSockaddrAny) netip.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(rsa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(rsa)).Addr)
	}
	return netip.Addr{}
}

// deliver hands a parsed answer to the probe it belongs to.
func (c *Conn) deliver(m *Message, src netip.Addr, recv time.Time, readStamped bool) {
	key := uint32(m.ID)<<16 | uint32(m.Seq)
	c.mu.Lock()
	p := c.pending[key]
	ok := p != nil && p.matches(m, src)
	if ok {
		delete(c.pending, key)
	}
	c.mu.Unlock()
	if !ok {
		c.stats.foreign.Add(1)
		return
	}
	c.stats.matched.Add(1)
	r := Result{Kind: m.Kind, Code: m.Code, From: src, Sent: time.Unix(0, p.sent.Load()), Recv: recv, ReadStamped: readStamped}
	if p.h != nil {
		p.h.Answer(r)
		return
	}
	// Removed from pending above, so this is the only send on p.C (cap 1).
	p.C <- r
}

func (p *Probe) matches(m *Message, src netip.Addr) bool {
	// The cookie must agree as far as both have it (an ICMP error may
	// quote fewer bytes).
	n := min(m.CookieN, p.cookN)
	if m.CookieN < p.cookN && m.Kind == KindEchoReply {
		return false
	}
	if string(m.Cookie[:n]) != string(p.cookie[:n]) {
		return false
	}
	if m.Kind == KindEchoReply {
		return src.Unmap() == p.dst
	}
	return m.Dst.Unmap() == p.dst
}

// sendto and recvmsg are the plain system calls, without the sockaddr
// conversions (and allocations) of unix.Sendmsg and unix.Recvmsg.
//
// sendto is a raw system call: on a non-blocking socket it never waits,
// but over a veth or loopback the kernel handles the packet (and often its
// answer) inside it, for tens of µs. Announced to the scheduler, a call
// that long makes sysmon hand the thread's P to another thread, waking
// one: at 1000 probes a second that cost more CPU than the sends.
func sendto(fd int, p []byte, rsa *unix.RawSockaddrAny, salen uint32) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0,
		uintptr(unsafe.Pointer(rsa)), uintptr(salen))
	if e != 0 {
		return e
	}
	return nil
}

func recvmsg(fd int, p, oob []byte, from *unix.RawSockaddrAny, iov *unix.Iovec, msg *unix.Msghdr, flags int) (n, oobn int, err error) {
	*msg = unix.Msghdr{}
	msg.Name = (*byte)(unsafe.Pointer(from))
	msg.Namelen = uint32(unix.SizeofSockaddrAny)
	iov.Base = &p[0]
	iov.SetLen(len(p))
	msg.Iov = iov
	msg.Iovlen = 1
	msg.Control = &oob[0]
	msg.SetControllen(len(oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), uintptr(flags))
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(msg.Controllen), nil
}

// attachIDFilter installs a classic BPF filter that passes echo replies
// with our id and every other ICMP message the type filter lets through.
// A raw IPv4 socket's filter sees the IP header; an IPv6 one starts at the
// ICMPv6 header.
func attachIDFilter(fd int, v4 bool, id uint16) error {
	const accept, drop = 0xffffffff, 0
	var prog []unix.SockFilter
	if v4 {
		prog = []unix.SockFilter{
			{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0}, // X = IP header length
			{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 4},  // echo id
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(id), Jt: 2, Jf: 0},
			{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_IND, K: 0}, // ICMP type
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: icmp4EchoReply, Jt: 1, Jf: 0},
			{Code: unix.BPF_RET | unix.BPF_K, K: accept},
			{Code: unix.BPF_RET | unix.BPF_K, K: drop},
		}
	} else {
		prog = []unix.SockFilter{
			{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 4}, // echo id
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(id), Jt: 2, Jf: 0},
			{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0}, // ICMPv6 type
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: icmp6EchoReply, Jt: 1, Jf: 0},
			{Code: unix.BPF_RET | unix.BPF_K, K: accept},
			{Code: unix.BPF_RET | unix.BPF_K, K: drop},
		}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
}
