package tcpconn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/sock"
)

// Probe connects to dst:port once and closes the connection with an RST
// (SO_LINGER 0) so no TIME_WAIT remains on the prober.
func Probe(mk sock.Maker, dst netip.Addr, port uint16, opt Options) Result {
	family := sock.Family(dst)
	sa, err := sock.Sockaddr(netip.AddrPortFrom(dst, port))
	if err != nil {
		return Result{Err: err}
	}
	fd, err := mk.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err != nil {
		return Result{Err: err}
	}
	f := os.NewFile(uintptr(fd), "tcp-probe")
	defer f.Close()
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if err := sock.SetTTLTOS(fd, family, opt.TTL, opt.TOS); err != nil {
		return Result{Err: err}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return Result{Err: err}
	}
	start := time.Now()
	err = unix.Connect(fd, sa)
	if err == nil {
		return Result{State: Open, Duration: time.Since(start)}
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		// A synchronous failure is local (no route, firewall on this
		// host, permission): an error, not a port state.
		if errors.Is(err, unix.ECONNREFUSED) {
			return Result{State: Closed, Duration: time.Since(start)}
		}
		return Result{Err: fmt.Errorf("connect to %s: %w", netip.AddrPortFrom(dst, port), err), Duration: time.Since(start)}
	}
	if opt.Timeout > 0 {
		_ = f.SetWriteDeadline(start.Add(opt.Timeout))
	}
	var soErr int
	werr := rc.Write(func(fd uintptr) bool {
		soErr, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return true
		}
		if soErr != 0 {
			return true
		}
		// Writable with no error: connected. Not yet writable: wait.
		_, perr := unix.Getpeername(int(fd))
		return perr == nil
	})
	d := time.Since(start)
	if werr != nil {
		if errors.Is(werr, os.ErrDeadlineExceeded) {
			return Result{State: Filtered, Duration: d}
		}
		return Result{Err: fmt.Errorf("waiting for connect to %s: %w", netip.AddrPortFrom(dst, port), werr)}
	}
	if err != nil {
		return Result{Err: fmt.Errorf("SO_ERROR: %w", err)}
	}
	if soErr != 0 {
		return classify(unix.Errno(soErr), d)
	}
	return Result{State: Open, Duration: d}
}

func classify(err error, d time.Duration) Result {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return Result{State: Closed, Duration: d}
	case errors.Is(err, unix.ETIMEDOUT):
		return Result{State: Filtered, Duration: d}
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		// An ICMP unreachable (administratively prohibited, host or net
		// unreachable) answered the SYN: nmap calls that filtered too.
		return Result{State: Filtered, Duration: d}
	}
	return Result{Err: fmt.Errorf("connect: %w", err), Duration: d}
}
