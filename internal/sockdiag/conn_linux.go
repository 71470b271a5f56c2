//go:build linux

package sockdiag

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// bufSize is the receive buffer. The kernel fills at most about 32 KiB per
// dump read whatever the buffer, so a larger one buys nothing.
const bufSize = 64 << 10

// Conn is a NETLINK_SOCK_DIAG socket with its reused buffers. It reports the
// network namespace it was opened in. A Conn is not safe for concurrent use.
type Conn struct {
	fd  int
	seq uint32
	buf []byte
	req [nlmsgHdrLen + reqV1Len]byte // the larger of the two request formats
	msg Msg
}

// Open opens a NETLINK_SOCK_DIAG socket in the calling thread's network
// namespace.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: opening NETLINK_SOCK_DIAG socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sockdiag: binding netlink socket: %w", err)
	}
	// Without a timeout a lost reply would hang a scrape forever.
	tv := unix.Timeval{Sec: 10}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &Conn{fd: fd, buf: make([]byte, bufSize)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error {
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

// Dump sends one dump request and calls fn with every answer's payload: an
// inet_diag_msg followed by its attributes (see ParseMsg and Attrs). The
// payload aliases the receive buffer and is valid only during the call. If
// fn returns an error the rest of the dump is read and discarded, and the
// error is returned.
func (c *Conn) Dump(r Request, fn func(payload []byte) error) error {
	c.seq++
	n, typ, err := r.marshal(c.req[:], c.seq)
	if err != nil {
		return err
	}
	if _, err := unix.Write(c.fd, c.req[:n]); err != nil {
		return fmt.Errorf("sockdiag: sending dump request (family %d, protocol %d): %w", r.Family, r.Protocol, err)
	}
	var fnErr error
	call := func(p []byte) error {
		if fnErr == nil {
			fnErr = fn(p)
		}
		return nil
	}
	for {
		m, err := unix.Read(c.fd, c.buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("sockdiag: reading dump (family %d, protocol %d): %w", r.Family, r.Protocol, err)
		}
		if m == 0 {
			return fmt.Errorf("sockdiag: reading dump (family %d, protocol %d): %w", r.Family, r.Protocol, ErrTruncated)
		}
		done, err := parseStream(c.buf[:m], c.seq, typ, call)
		if err != nil {
			return fmt.Errorf("sockdiag: dump (family %d, protocol %d): %w", r.Family, r.Protocol, err)
		}
		if done {
			return fnErr
		}
	}
}

// Count adds to counts one per socket the request selects, by state. A
// request socket (TCP_NEW_SYN_RECV) is counted as SynRecv, as the kernel
// reports it. Nothing is allocated per socket.
func (c *Conn) Count(r Request, counts *StateCounts) error {
	return c.CountPorts(r, counts, nil)
}

// CountPorts is Count that also adds one, by state, to the entry in ports
// of every socket whose local port ports tracks. ports may be nil.
func (c *Conn) CountPorts(r Request, counts *StateCounts, ports *PortCounts) error {
	return c.CountFamilies(r, counts, counts, ports)
}

// CountFamilies is CountPorts that counts IPv4 sockets in v4 and IPv6
// sockets in v6, for a request of both families (Family 0, TCP only).
func (c *Conn) CountFamilies(r Request, v4, v6 *StateCounts, ports *PortCounts) error {
	return c.Dump(r, func(p []byte) error {
		st, err := msgState(p)
		if err != nil {
			return err
		}
		if st >= NumStates {
			return fmt.Errorf("sockdiag: socket in unknown state %d", st)
		}
		if !selected(r.States, st) {
			return nil
		}
		switch p[0] {
		case afInet:
			v4[st]++
		case afInet6:
			v6[st]++
		default:
			return fmt.Errorf("sockdiag: socket of family %d in an inet dump", p[0])
		}
		if pc := ports.Of(msgSPort(p)); pc != nil {
			pc[st]++
		}
		return nil
	})
}

// Each calls fn with every socket's decoded header. m is reused between
// calls.
func (c *Conn) Each(r Request, fn func(m *Msg, attrs []byte) error) error {
	return c.Dump(r, func(p []byte) error {
		attrs, err := ParseMsg(p, &c.msg)
		if err != nil {
			return err
		}
		return fn(&c.msg, attrs)
	})
}

// Listeners calls fn for every TCP LISTEN socket of the family (0 for
// both) with its accept-queue length (m.RQueue) and limit (m.WQueue).
func (c *Conn) Listeners(family uint8, fn func(m *Msg) error) error {
	return c.Each(Request{Family: family, Protocol: unix.IPPROTO_TCP, States: Listen.Mask()}, func(m *Msg, _ []byte) error {
		return fn(m)
	})
}
