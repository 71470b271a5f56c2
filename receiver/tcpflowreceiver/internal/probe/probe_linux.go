//go:build linux

package probe

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/bpf"
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/shrink"
)

// recSize is the size of one record written by the kernel.
const recSize = int(unsafe.Sizeof(tcpflowFlowRec{}))

// Counter indexes, in the order of enum counter in bpf/tcpflow.c.
const (
	cAdmitted = iota
	cTableFull
	cRingFull
	cEvicted
	cClosed
	cFiltered
	cStorageFail
	cSampleRate
	cSampleRingFull
	cMax
)

// Probe owns the loaded programs, their links, the flow iterator and the
// closed-flow ring buffer reader. Close releases everything in reverse order.
type Probe struct {
	objs  objects
	links []link.Link
	iter  *link.Iter
	// iterThread sits in the watched namespace, where the socket-walk
	// iterator (dump_flows_tcp) must be opened; nil for dump_flows.
	iterThread *netnsutil.Thread
	// namespaces (Config.Namespaces) and one thread in each of them: the
	// socket-walk iterator when every namespace is watched.
	namespaces func() map[uint64]string
	nsThreads  map[uint64]*netnsutil.Thread
	rd         *ringbuf.Reader
	samples    *ringbuf.Reader // nil unless Config.Stream
	badSamples atomic.Uint64
	hz         int
	hzErr      error
	bootNs     int64 // CLOCK_MONOTONIC ns at time.Now() below, to convert ktime
	boot       time.Time

	iterBuf bytes.Buffer

	mu          sync.Mutex
	pending     []Flow
	pendingUse  shrink.Tracker // releases pending's capacity after a burst
	pendingLost uint64
	maxPending  int
	keepClosed  bool        // for Closed
	onClosed    func(*Flow) // Config.OnClosed
	closedRec   Flow
	flushed     chan struct{}
	readerDone  chan struct{} // closed when readClosed returns
	readerErr   error         // why it returned (set before readerDone closes)
	wg          sync.WaitGroup
}

// Open checks the prerequisites, loads the programs configured by cfg and
// attaches them. The error names what is missing when that is the cause.
func Open(cfg Config) (_ *Probe, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := bpf.Preflight(); err != nil {
		return nil, err
	}
	spec, err := loadTcpflow()
	if err != nil {
		return nil, fmt.Errorf("reading embedded BPF object: %w", err)
	}
	var specs tcpflowSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("BPF object: %w", err)
	}
	if err := setVariables(&specs.tcpflowVariableSpecs, cfg); err != nil {
		return nil, err
	}
	if cfg.Stream {
		size := cfg.SampleRingSize
		if size == 0 {
			size = DefaultSampleRingSize
		}
		specs.Samples.MaxEntries = uint32(size)
	}
	p := &Probe{maxPending: cfg.MaxPendingClosed, keepClosed: !cfg.DiscardClosed, onClosed: cfg.OnClosed, flushed: make(chan struct{}, 1), readerDone: make(chan struct{})}
	if p.maxPending <= 0 {
		p.maxPending = 65536
	}
	if err := p.objs.load(spec); err != nil {
		return nil, bpf.LoadError("the tcpflow programs", "Linux >= 5.11 with tp_btf, sk_storage and bpf iterators", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	switch {
	case p.objs.iterName != iterSockets:
	case cfg.NetnsCookie == 0 && cfg.Namespaces != nil:
		p.namespaces, p.nsThreads = cfg.Namespaces, map[uint64]*netnsutil.Thread{}
	default:
		// Kept for the probe's life: a new thread and setns per scrape
		// cost about 0.3 ms.
		if p.iterThread, err = netnsutil.NewThread(cfg.NetnsPath); err != nil {
			return nil, fmt.Errorf("flow iterator: %w", err)
		}
	}
	if cfg.Stream {
		if p.samples, err = ringbuf.NewReader(p.objs.Samples); err != nil {
			return nil, fmt.Errorf("opening sample ring buffer: %w", err)
		}
		if err := p.prefaultSamples(); err != nil {
			return nil, err
		}
	}
	for _, prog := range []*ebpf.Program{p.objs.TcpProbe, p.objs.InetSockSetState, p.objs.TcpRetransmitSkb} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, fmt.Errorf("attaching %s: %w", prog, err)
		}
		p.links = append(p.links, l)
	}
	iterOpts := link.IterOptions{Program: p.objs.DumpFlows}
	if p.objs.iterName == iterStorageMap {
		iterOpts.Map = p.objs.Flows
	}
	if p.iter, err = link.AttachIter(iterOpts); err != nil {
		return nil, fmt.Errorf("attaching flow iterator: %w", err)
	}
	if p.rd, err = ringbuf.NewReader(p.objs.Closed); err != nil {
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	// Measured from the kernel's clocks (no kernel config file needed); RTO
	// stays 0 if that fails, and HZ() lets the caller say so.
	p.hz, p.hzErr = bpf.KernelHZ()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("clock_gettime: %w", err)
	}
	p.boot, p.bootNs = time.Now(), ts.Nano()
	p.wg.Add(1)
	go p.readClosed()
	return p, nil
}

// prefaultSamples writes every page of the sample ring once before the
// programs are attached (bpf/tcpflow.c, prefault_samples): the first write
// to a page of a new ring cost 3-4 times a later one on our CI host. The
// program reserves and discards page-sized records; the reader skips them.
func (p *Probe) prefaultSamples() error {
	pages := p.samples.BufferSize() / os.Getpagesize()
	var rec ringbuf.Record
	for touched := 0; touched < pages; {
		n, err := p.objs.PrefaultSamples.Run(&ebpf.RunOptions{Data: make([]byte, 14)})
		if err != nil {
			return fmt.Errorf("prefaulting the sample ring: %w", err)
		}
		touched += int(n)
		// Drain the discarded records (nothing else is written yet).
		p.samples.SetDeadline(time.Now())
		if err := p.samples.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("prefaulting the sample ring: draining: %v", err)
		}
		if n == 0 && p.samples.AvailableBytes() > 0 {
			return errors.New("prefaulting the sample ring: the ring stays full")
		}
	}
	p.samples.SetDeadline(time.Time{})
	return nil
}

func (c Config) validate() error {
	if c.MaxFlows == 0 {
		return errors.New("max flows must be > 0")
	}
	if len(c.LocalPorts) > MaxPorts || len(c.PeerPorts) > MaxPorts || len(c.Ports) > MaxPorts {
		return fmt.Errorf("at most %d local, peer and either-end ports", MaxPorts)
	}
	if n := c.SampleRingSize; n != 0 && (n < os.Getpagesize() || n&(n-1) != 0 || n > 1<<30) {
		return fmt.Errorf("sample ring size %d is not a power of two between the page size (%d) and 1 GiB", n, os.Getpagesize())
	}
	if len(c.PeerCIDRs) > MaxCIDRs {
		return fmt.Errorf("at most %d peer CIDRs", MaxCIDRs)
	}
	if c.MinSampleInterval < 0 || c.IdleTimeout < 0 {
		return errors.New("negative interval")
	}
	return nil
}

// setVariables sets the loader-time constants of bpf/tcpflow.c from cfg.
func setVariables(v *tcpflowVariableSpecs, cfg Config) error {
	var lp, pp, ep [MaxPorts]uint16
	copy(lp[:], cfg.LocalPorts)
	copy(pp[:], cfg.PeerPorts)
	copy(ep[:], cfg.Ports)
	var addr, mask [MaxCIDRs][2]uint64
	for i, pfx := range cfg.PeerCIDRs {
		addr[i], mask[i] = CIDRWords(pfx)
	}
	for _, s := range []struct {
		spec *ebpf.VariableSpec
		val  any
	}{
		{v.CfgOnCwndChange, boolWord(cfg.OnCwndChange)},
		{v.CfgMinIntervalUs, uint64(cfg.MinSampleInterval.Microseconds())},
		{v.CfgIdleTimeoutUs, uint64(cfg.IdleTimeout.Microseconds())},
		{v.CfgMaxFlows, cfg.MaxFlows},
		{v.CfgNetnsCookie, cfg.NetnsCookie},
		{v.CfgN_localPorts, uint32(len(cfg.LocalPorts))},
		{v.CfgLocalPorts, lp},
		{v.CfgN_peerPorts, uint32(len(cfg.PeerPorts))},
		{v.CfgPeerPorts, pp},
		{v.CfgN_ports, uint32(len(cfg.Ports))},
		{v.CfgPorts, ep},
		{v.CfgStream, boolWord(cfg.Stream)},
		{v.CfgMaxSamplesPerSec, cfg.MaxSamplesPerSec},
		{v.CfgN_cidrs, uint32(len(cfg.PeerCIDRs))},
		{v.CfgCidrAddr, addr},
		{v.CfgCidrMask, mask},
	} {
		if err := s.spec.Set(s.val); err != nil {
			return fmt.Errorf("setting BPF variable %s: %w", s.spec.Name, err)
		}
	}
	return nil
}

func boolWord(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// CIDRWords returns a prefix as the kernel compares it: the 16-byte address
// (IPv4 as ::ffff:a.b.c.d) and its mask, each read as two native-endian words.
func CIDRWords(p netip.Prefix) (addr, mask [2]uint64) {
	p = p.Masked()
	a16 := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	var m [16]byte
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	for i := 0; i < 2; i++ {
		addr[i] = binary.NativeEndian.Uint64(a16[i*8:])
		mask[i] = binary.NativeEndian.Uint64(m[i*8:])
	}
	return addr, mask
}

// HZ is the kernel tick rate used to convert RTO, 0 if unknown.
func (p *Probe) HZ() int { return p.hz }

// RTOKnown: the kernel's tick rate was measured, so Flow.RTO and
// Sample.RTOus are filled in (HZError says why not).
func (p *Probe) RTOKnown() bool { return p.hz > 0 }

// HZError says why HZ is 0.
func (p *Probe) HZError() error { return p.hzErr }

// Programs returns the attached programs by name, for run-time statistics.
func (p *Probe) Programs() map[string]*ebpf.Program {
	return map[string]*ebpf.Program{
		"tcp_probe":           p.objs.TcpProbe,
		"inet_sock_set_state": p.objs.InetSockSetState,
		"tcp_retransmit_skb":  p.objs.TcpRetransmitSkb,
		p.objs.iterName:       p.objs.DumpFlows,
	}
}

// Iterator names the flow iterator in use: dump_flows walks the flow table
// (storage map); dump_flows_tcp walks the namespace's TCP sockets, where the
// kernel refuses the storage-map iterator.
func (p *Probe) Iterator() string { return p.objs.iterName }

// Flows runs the iterator and calls fn for every tracked flow (KindLive) and
// for every flow evicted by this pass (KindEvicted, its last record). The
// Flow passed to fn is reused; copy it to keep it.
func (p *Probe) Flows(fn func(*Flow)) error {
	p.iterBuf.Reset()
	var err error
	if p.namespaces != nil {
		err = p.readNamespaces()
	} else {
		err = p.readIter(p.iterThread)
	}
	// What was read is decoded even when some namespace was not.
	return errors.Join(err, p.decodeAll(p.iterBuf.Bytes(), fn))
}

// readIter runs the flow iterator once and appends its records to iterBuf.
// A socket iterator walks the namespace of the thread opening it: t (nil
// for the storage-map iterator, or the caller's namespace).
func (p *Probe) readIter(t *netnsutil.Thread) error {
	var r io.ReadCloser
	var err error
	if t == nil {
		r, err = p.iter.Open()
	} else {
		err = t.Do(func() (err error) {
			r, err = p.iter.Open()
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("opening flow iterator %s: %w", p.objs.iterName, err)
	}
	n := p.iterBuf.Len()
	_, err = p.iterBuf.ReadFrom(r)
	r.Close()
	if err != nil {
		p.iterBuf.Truncate(n)
		return fmt.Errorf("reading flow iterator: %w", err)
	}
	return nil
}

// readNamespaces runs the socket-walk iterator in every namespace that
// Config.Namespaces lists, on a thread kept in each while it is listed. A
// namespace that vanished meanwhile (its process exited) is skipped.
func (p *Probe) readNamespaces() error {
	want := p.namespaces()
	var first error
	failed := 0
	for ino, path := range want {
		t := p.nsThreads[ino]
		if t == nil {
			var err error
			if t, err = nsThread(ino, path); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					failed++
					first = cmp.Or(first, err)
				}
				continue
			}
			p.nsThreads[ino] = t
		}
		if err := p.readIter(t); err != nil {
			failed++
			first = cmp.Or(first, fmt.Errorf("netns inode %d: %w", ino, err))
		}
	}
	for ino, t := range p.nsThreads {
		if _, ok := want[ino]; !ok {
			t.Close()
			delete(p.nsThreads, ino)
		}
	}
	if failed > 0 {
		return fmt.Errorf("flow iterator: %d of %d namespaces not read: %w", failed, len(want), first)
	}
	return nil
}

// nsThread starts a thread in the namespace at path and checks that it is
// the one listed as ino (a /proc/PID path may name another namespace by now).
func nsThread(ino uint64, path string) (*netnsutil.Thread, error) {
	t, err := netnsutil.NewThread(path)
	if err != nil {
		return nil, err
	}
	var got uint64
	if err := t.Do(func() (err error) { got, err = netnsutil.Inode(""); return err }); err != nil || got != ino {
		t.Close()
		return nil, fmt.Errorf("%s is no longer netns inode %d: %w", path, ino, cmp.Or(err, os.ErrNotExist))
	}
	return t, nil
}

func (p *Probe) decodeAll(b []byte, fn func(*Flow)) error {
	if len(b)%recSize != 0 {
		return fmt.Errorf("flow iterator returned %d bytes, not a multiple of the %d-byte record", len(b), recSize)
	}
	var f Flow
	var rec tcpflowFlowRec
	for off := 0; off < len(b); off += recSize {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&rec)), recSize), b[off:off+recSize])
		if err := p.decode(&rec, &f); err != nil {
			return fmt.Errorf("flow record %d: %w", off/recSize, err)
		}
		fn(&f)
	}
	return nil
}

func (p *Probe) decode(r *tcpflowFlowRec, f *Flow) error {
	ff := &r.F
	local, peer, ipv6, err := endpoints(ff.Family, ff.Saddr, ff.Daddr, ff.Sport, ff.Dport)
	if err != nil {
		return err
	}
	if r.Kind > uint8(KindClosed) {
		return fmt.Errorf("record kind %d", r.Kind)
	}
	*f = Flow{
		ID:            ff.Id,
		Cookie:        ff.Cookie,
		Kind:          Kind(r.Kind),
		Local:         local,
		Peer:          peer,
		IPv6:          ipv6,
		NetnsCookie:   r.NetnsCookie,
		NetnsInode:    uint64(ff.NetnsIno),
		State:         r.State,
		Start:         p.ktime(ff.StartNs),
		Duration:      time.Duration(r.NowNs - ff.StartNs),
		SRTT:          time.Duration(r.SrttUs) * time.Microsecond,
		RTTVar:        time.Duration(r.RttvarUs) * time.Microsecond,
		Cwnd:          r.SndCwnd,
		Ssthresh:      r.SndSsthresh,
		InFlight:      r.InFlight,
		Lost:          r.LostOut,
		RetransOut:    r.RetransOut,
		SendWindow:    r.SndWnd,
		RecvQueue:     r.RcvQueue,
		SendQueue:     r.SndQueue,
		Idle:          time.Duration(r.IdleUs) * time.Microsecond,
		Retransmits:   uint64(r.TotalRetrans - ff.BaseTotalRetrans),
		BytesAcked:    r.BytesAcked - ff.BaseBytesAcked,
		BytesReceived: r.BytesReceived - ff.BaseBytesReceived,
		BytesRetrans:  r.BytesRetrans - ff.BaseBytesRetrans,
		SegsOut:       uint64(r.SegsOut - ff.BaseSegsOut),
		SegsIn:        uint64(r.SegsIn - ff.BaseSegsIn),
		ZeroWindow:    uint64(ff.ZeroWindow),
		CwndChanges:   uint64(ff.CwndChanges),
		Events:        ff.Events,
		Samples:       ff.Samples,
		SRTTSum:       time.Duration(ff.SrttSumUs) * time.Microsecond,
		SRTTMax:       time.Duration(ff.SrttMaxUs) * time.Microsecond,
	}
	if ff.SrttMinUs != ^uint32(0) {
		f.SRTTMin = time.Duration(ff.SrttMinUs) * time.Microsecond
	}
	if p.hz > 0 {
		f.RTO = time.Duration(uint64(r.RtoJiffies) * uint64(time.Second) / uint64(p.hz))
	}
	for i := range f.RetransByType {
		f.RetransByType[i] = uint64(ff.Retrans[i])
	}
	return nil
}

// endpoints decodes a record's addresses (IPv4 as ::ffff:a.b.c.d).
func endpoints(family uint16, saddr, daddr [16]byte, sport, dport uint16) (local, peer netip.AddrPort, ipv6 bool, err error) {
	l, p := netip.AddrFrom16(saddr), netip.AddrFrom16(daddr)
	ipv6 = family == unix.AF_INET6
	switch {
	case family != unix.AF_INET && !ipv6:
		return local, peer, false, fmt.Errorf("address family %d", family)
	case !ipv6 && (!l.Is4In6() || !p.Is4In6()):
		return local, peer, false, errors.New("IPv4 flow without IPv4-mapped addresses")
	}
	if !ipv6 {
		l, p = l.Unmap(), p.Unmap()
	}
	return netip.AddrPortFrom(l, sport), netip.AddrPortFrom(p, dport), ipv6, nil
}

// sampleSize is the size of one streamed sample.
const sampleSize = int(unsafe.Sizeof(tcpflowTcpSample{}))

// decodeSample decodes one sample record into s without allocating.
func (p *Probe) decodeSample(b []byte, s *Sample) error {
	if len(b) < sampleSize {
		return fmt.Errorf("sample record of %d bytes, want %d", len(b), sampleSize)
	}
	var r tcpflowTcpSample
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r)), sampleSize), b[:sampleSize])
	local, peer, ipv6, err := endpoints(r.Family, r.Saddr, r.Daddr, r.Sport, r.Dport)
	if err != nil {
		return err
	}
	*s = Sample{
		Time: p.ktime(r.TsNs), Cookie: r.Cookie, NetnsInode: uint64(r.NetnsIno), Local: local, Peer: peer, IPv6: ipv6,
		DataLen: r.DataLen, SndNxt: r.SndNxt, SndUna: r.SndUna, SndCwnd: r.SndCwnd, Ssthresh: r.Ssthresh,
		SndWnd: r.SndWnd, RcvWnd: r.RcvWnd, SRTTus: r.SrttUs, RTTVarus: r.RttvarUs,
		Lost: r.Lost, InFlight: r.InFlight, Retrans: r.Retrans, TotalRetrans: r.TotalRetrans,
		RecvQueue: r.RcvQueue, SendQueue: r.SndQueue,
	}
	if p.hz > 0 {
		s.RTOus = uint32(uint64(r.RtoJiffies) * 1_000_000 / uint64(p.hz))
	}
	return nil
}

// ReadSamples streams samples until Close: fn gets each one (reused: copy
// what you keep), flush is called each time the ring has been drained — at
// least every interval while samples arrive, since the kernel wakes the
// reader only when the unread samples pass a quarter of the ring (and each
// further eighth). Malformed records are
// counted in BadSamples. It returns nil after Close.
func (p *Probe) ReadSamples(interval time.Duration, fn func(*Sample), flush func()) error {
	if p.samples == nil {
		return errors.New("sample stream not enabled (Config.Stream)")
	}
	var rec ringbuf.Record
	var s Sample
	pending := false
	for {
		p.samples.SetDeadline(time.Now().Add(interval))
		err := p.samples.ReadInto(&rec)
		switch {
		case err == nil:
			if err := p.decodeSample(rec.RawSample, &s); err != nil {
				p.badSamples.Add(1)
			} else {
				fn(&s)
				pending = true
			}
			if rec.Remaining == 0 && pending {
				flush()
				pending = false
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if pending {
				flush()
				pending = false
			}
		case errors.Is(err, ringbuf.ErrClosed):
			if pending {
				flush()
			}
			return nil
		default:
			return fmt.Errorf("reading sample ring buffer: %w", err)
		}
	}
}

// BadSamples counts sample records that failed to decode.
func (p *Probe) BadSamples() uint64 { return p.badSamples.Load() }

func (p *Probe) ktime(ns uint64) time.Time {
	return p.boot.Add(time.Duration(int64(ns) - p.bootNs))
}

// readClosed drains the ring buffer. The kernel submits with
// BPF_RB_NO_WAKEUP unless the ring is half full, so this polls.
func (p *Probe) readClosed() {
	defer p.wg.Done()
	defer close(p.readerDone)
	var rec ringbuf.Record
	for {
		p.rd.SetDeadline(time.Now().Add(time.Second))
		err := p.rd.ReadInto(&rec)
		switch {
		case err == nil:
			p.addClosed(rec.RawSample)
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, ringbuf.ErrFlushed):
			select {
			case p.flushed <- struct{}{}:
			default:
			}
		default: // closed (or broken beyond repair)
			p.readerErr = err
			return
		}
	}
}

func (p *Probe) addClosed(b []byte) {
	// closedRec is touched only by the reader goroutine; the callback runs
	// without the lock so a slow consumer does not block Counters.
	if len(b) < recSize {
		p.lost()
		return
	}
	var rec tcpflowFlowRec
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&rec)), recSize), b[:recSize])
	if err := p.decode(&rec, &p.closedRec); err != nil {
		p.lost() // malformed: counted, never reported as a flow
		return
	}
	if p.onClosed != nil {
		p.onClosed(&p.closedRec)
	}
	if !p.keepClosed {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= p.maxPending {
		p.pendingLost++
		return
	}
	p.pending = append(p.pending, p.closedRec)
}

func (p *Probe) lost() {
	p.mu.Lock()
	p.pendingLost++
	p.mu.Unlock()
}

// Closed calls fn for each closed-flow summary received since the last
// call, after making the reader drain what the kernel has submitted so far.
// It iterates the pending list in place under the probe's lock (the reader
// waits meanwhile; the kernel's ring buffer holds what arrives), then
// empties it, releasing its capacity when it is far above what the last
// reads needed (see package shrink).
func (p *Probe) Closed(ctx context.Context, fn func(*Flow)) error {
	select { // a signal left by an earlier call that gave up waiting
	case <-p.flushed:
	default:
	}
	if err := p.rd.Flush(); err != nil {
		return fmt.Errorf("flushing ring buffer: %w", err)
	}
	select {
	case <-p.flushed:
	case <-p.readerDone:
		return fmt.Errorf("ring buffer reader stopped: %w", p.readerErr)
	case <-ctx.Done():
		return fmt.Errorf("waiting for ring buffer reader: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.pending {
		fn(&p.pending[i])
	}
	p.pending = shrink.Reuse(&p.pendingUse, p.pending)
	return nil
}

// Counters reads the self-metrics.
func (p *Probe) Counters() (Counters, error) {
	var c Counters
	var vals []uint64
	dst := []*uint64{&c.Admitted, &c.TableFull, &c.RingFull, &c.Evicted, &c.Closed, &c.Filtered, &c.StorageFail, &c.SampleRate, &c.SampleRingFull}
	for k := uint32(0); k < cMax; k++ {
		if err := p.objs.Counters.Lookup(k, &vals); err != nil {
			return c, fmt.Errorf("reading counter %d: %w", k, err)
		}
		for _, v := range vals {
			*dst[k] += v
		}
	}
	if err := p.objs.Nflows.Get(&c.Tracked); err != nil {
		return c, fmt.Errorf("reading flow count: %w", err)
	}
	p.mu.Lock()
	c.PendingLost = p.pendingLost
	p.mu.Unlock()
	return c, nil
}

// RetransmitMisses returns how many times the kernel skipped the
// retransmit-classifying program because it was already running on that
// CPU (for any socket on the host, interrupted by a softirq that
// retransmitted): each is a retransmit counted in tcp_info's total but in
// no RetransByType. Kernel 5.12+ counts them; 0 before.
func (p *Probe) RetransmitMisses() (uint64, error) {
	st, err := p.objs.TcpRetransmitSkb.Stats()
	if err != nil {
		return 0, fmt.Errorf("retransmit program statistics: %w", err)
	}
	return st.RecursionMisses, nil
}

// RTTHistogram reads the srtt sample histogram, summed over CPUs.
func (p *Probe) RTTHistogram() (RTTHistogram, error) {
	var h RTTHistogram
	var vals []uint64
	for k := uint32(0); k < 2*RTTBuckets; k++ {
		if err := p.objs.RttHist.Lookup(k, &vals); err != nil {
			return h, fmt.Errorf("reading rtt histogram bucket %d: %w", k, err)
		}
		for _, v := range vals {
			h[k/RTTBuckets][k%RTTBuckets] += v
		}
	}
	return h, nil
}

// Close detaches and unloads everything, in reverse order of Open.
func (p *Probe) Close() error {
	var errs []error
	if p.samples != nil {
		errs = append(errs, p.samples.Close())
	}
	if p.rd != nil {
		errs = append(errs, p.rd.Close())
		p.wg.Wait()
	}
	if p.iter != nil {
		errs = append(errs, p.iter.Close())
	}
	if p.iterThread != nil {
		p.iterThread.Close()
	}
	for _, t := range p.nsThreads {
		t.Close()
	}
	for i := len(p.links) - 1; i >= 0; i-- {
		errs = append(errs, p.links[i].Close())
	}
	errs = append(errs, p.objs.close())
	return errors.Join(errs...)
}

// objects are the loaded maps, variables and programs. Of the two flow
// iterators only one is loaded: dump_flows where the kernel allows the
// storage-map iterator, else dump_flows_tcp.
type objects struct {
	tcpflowMaps
	tcpflowVariables
	TcpProbe         *ebpf.Program `ebpf:"tcp_probe"`
	InetSockSetState *ebpf.Program `ebpf:"inet_sock_set_state"`
	TcpRetransmitSkb *ebpf.Program `ebpf:"tcp_retransmit_skb"`
	PrefaultSamples  *ebpf.Program `ebpf:"prefault_samples"`
	DumpFlows        *ebpf.Program // the iterator named iterName
	iterName         string
}

const (
	iterStorageMap = "dump_flows"
	iterSockets    = "dump_flows_tcp"
)

// load loads spec with the storage-map iterator, or, if the kernel refuses
// that one program with EPERM (seen in sandboxes that allow iter/tcp), with
// the socket-walk iterator instead.
func (o *objects) load(spec *ebpf.CollectionSpec) error {
	var refused error
	for _, name := range []string{iterStorageMap, iterSockets} {
		s := spec.Copy()
		for _, other := range []string{iterStorageMap, iterSockets} {
			if other != name {
				delete(s.Programs, other)
			}
		}
		coll, err := ebpf.NewCollection(s)
		if err != nil {
			if name == iterStorageMap && errors.Is(err, unix.EPERM) {
				refused = err
				continue
			}
			return errors.Join(err, refused)
		}
		o.DumpFlows, o.iterName = coll.DetachProgram(name), name
		err = coll.Assign(o)
		coll.Close()
		if err != nil {
			o.DumpFlows.Close()
			return err
		}
		return nil
	}
	return refused
}

func (o *objects) close() error {
	var errs []error
	for _, p := range []*ebpf.Program{o.DumpFlows, o.PrefaultSamples, o.TcpRetransmitSkb, o.InetSockSetState, o.TcpProbe} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	errs = append(errs, o.tcpflowMaps.Close())
	return errors.Join(errs...)
}

// NetnsCookie returns the cookie of the network namespace at nsPath (the
// caller's own with an empty path), as the kernel's net_cookie (Linux >= 5.14).
func NetnsCookie(nsPath string) (uint64, error) {
	var cookie uint64
	err := netnsutil.Do(nsPath, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		cookie = v
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns cookie of %q: %w", nsPath, err)
	}
	return cookie, nil
}

var _ Source = (*Probe)(nil)
