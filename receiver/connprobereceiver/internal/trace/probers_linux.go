package trace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/ping"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// Probe implements Prober.
func (p *ICMPProber) Probe(ctx context.Context, ttl int, _ uint16, timeout time.Duration) (Answer, error) {
	pr, err := p.Conn.Send(ping.Request{Dst: p.Dst, PayloadSize: p.PayloadSize, TTL: ttl, TOS: p.TOS}, nil)
	if err != nil {
		return Answer{}, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-pr.C:
		return Answer{
			From:        r.From,
			RTT:         r.RTT(),
			Reached:     r.Kind == ping.KindEchoReply,
			Unreachable: r.Kind == ping.KindUnreachable,
		}, nil
	case <-t.C:
	case <-ctx.Done():
	}
	p.Conn.Forget(pr)
	return Answer{}, nil
}

// Probe implements Prober.
func (p *SocketProber) Probe(ctx context.Context, ttl int, seq uint16, timeout time.Duration) (Answer, error) {
	family := sock.Family(p.Dst)
	opts := sock.OptionsFor(family)
	typ, proto := unix.SOCK_DGRAM, unix.IPPROTO_UDP
	if p.TCP {
		typ, proto = unix.SOCK_STREAM, unix.IPPROTO_TCP
	}
	fd, err := p.Maker.Socket(family, typ, proto)
	if err != nil {
		return Answer{}, err
	}
	f := os.NewFile(uintptr(fd), "trace-probe")
	defer f.Close()
	for _, o := range []struct{ level, opt, v int }{
		{opts.Level, opts.RecvErr, 1},
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return Answer{}, fmt.Errorf("setsockopt %d/%d: %w", o.level, o.opt, err)
		}
	}
	if err := sock.SetTTLTOS(fd, family, ttl, p.TOS); err != nil {
		return Answer{}, err
	}
	if p.TCP {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	}
	dst, err := sock.Sockaddr(netip.AddrPortFrom(p.Dst, p.Port))
	if err != nil {
		return Answer{}, err
	}
	if p.SrcPort != 0 {
		src, _ := sock.Sockaddr(netip.AddrPortFrom(anyAddr(family), p.SrcPort))
		if err := unix.Bind(fd, src); err != nil {
			return Answer{}, fmt.Errorf("binding source port %d: %w", p.SrcPort, err)
		}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return Answer{}, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = f.SetDeadline(deadline)

	var payload [4]byte
	binary.BigEndian.PutUint16(payload[:], seq)
	start := time.Now()
	if p.TCP {
		err = unix.Connect(fd, dst)
		if err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return Answer{}, fmt.Errorf("connect to %s: %w", p.Dst, err)
		}
	} else {
		if err := unix.Connect(fd, dst); err != nil {
			return Answer{}, fmt.Errorf("connect to %s: %w", p.Dst, err)
		}
		if err := unix.Send(fd, payload[:], 0); err != nil {
			return Answer{}, fmt.Errorf("sending to %s: %w", p.Dst, err)
		}
	}

	var (
		ans  Answer
		done bool
	)
	check := func(fd uintptr) bool {
		a, ok := readErrQueue(int(fd), start)
		if ok {
			ans, done = a, true
			return true
		}
		soErr, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if p.TCP {
			if soErr == int(unix.ECONNREFUSED) {
				ans, done = Answer{From: p.Dst, RTT: time.Since(start), Reached: true}, true
				return true
			}
			if _, err := unix.Getpeername(int(fd)); err == nil {
				ans, done = Answer{From: p.Dst, RTT: time.Since(start), Reached: true}, true
				return true
			}
			return false
		}
		// UDP: an answer from a listening destination means we arrived.
		var b [64]byte
		if n, _, err := unix.Recvfrom(int(fd), b[:], 0); err == nil && n >= 0 {
			ans, done = Answer{From: p.Dst, RTT: time.Since(start), Reached: true}, true
			return true
		}
		return false
	}
	// Readiness: TCP becomes writable on connect/RST; the error queue and
	// UDP replies make the socket readable.
	var werr error
	if p.TCP {
		werr = rc.Write(check)
		if !done && werr == nil {
			werr = rc.Read(check)
		}
	} else {
		werr = rc.Read(check)
	}
	if !done {
		if werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
			return Answer{}, werr
		}
		// A late check: an error may have been queued at the deadline.
		if a, ok := readErrQueue(fd, start); ok {
			return a, nil
		}
		return Answer{}, nil
	}
	return ans, nil
}

// readErrQueue reads one ICMP error from the socket's error queue.
func readErrQueue(fd int, start time.Time) (Answer, bool) {
	var data [64]byte
	oob := make([]byte, 512)
	_, oobn, _, _, err := unix.Recvmsg(fd, data[:], oob, unix.MSG_ERRQUEUE)
	if err != nil {
		return Answer{}, false
	}
	e, ts, ok := ping.ParseErrQueueControl(oob[:oobn])
	if !ok {
		return Answer{}, false
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	return Answer{
		From:        e.Offender,
		RTT:         ts.Sub(start),
		Reached:     e.PortUnreachable(),
		Unreachable: e.Kind == ping.KindUnreachable && !e.PortUnreachable(),
	}, true
}

func anyAddr(family int) netip.Addr {
	if family == unix.AF_INET {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
