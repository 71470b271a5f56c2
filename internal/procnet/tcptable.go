package procnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// SocketEntry is one row of a socket table (/proc/net/tcp, tcp6, udp, udp6,
// udplite, udplite6, raw, raw6), reduced to what counting needs.
type SocketEntry struct {
	State     uint8  // kernel state number (st column), as in include/net/tcp_states.h
	LocalPort uint16 // port of local_address
	TxQueue   uint32 // tx_queue column
	// RxQueue is the rx_queue column; for a TCP LISTEN socket it is the
	// accept-queue length.
	RxQueue uint32
}

// SocketTableScanner reads socket tables in fixed-size chunks, so a table of
// hundreds of thousands of rows is parsed in constant memory. The zero value
// is ready; it reuses its buffer and must not be used concurrently.
type SocketTableScanner struct {
	buf []byte
	e   SocketEntry
}

const socketTableChunk = 64 << 10

// Scan reads the table from r and calls fn for every row. The header line is
// skipped; malformed rows are reported with their line numbers (joined) and
// skipped, the rest still delivered.
func (s *SocketTableScanner) Scan(r io.Reader, fn func(e *SocketEntry)) error {
	if s.buf == nil {
		s.buf = make([]byte, socketTableChunk)
	}
	var errs []error
	lineNo, n := 0, 0
	for {
		m, err := r.Read(s.buf[n:])
		n += m
		data := s.buf[:n]
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof {
			return errors.Join(append(errs, fmt.Errorf("reading socket table: %w", err))...)
		}
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			lineNo++
			if lerr := s.line(data[:i], lineNo, fn); lerr != nil {
				errs = append(errs, lerr)
			}
			data = data[i+1:]
		}
		if eof {
			if len(data) > 0 {
				lineNo++
				if lerr := s.line(data, lineNo, fn); lerr != nil {
					errs = append(errs, lerr)
				}
			}
			return errors.Join(errs...)
		}
		n = copy(s.buf, data)
		if n == len(s.buf) {
			return errors.Join(append(errs, &LineError{lineNo + 1, fmt.Sprintf("line longer than %d bytes", len(s.buf))})...)
		}
	}
}

// ParseSocketTable parses a whole table held in memory; see Scan.
func (s *SocketTableScanner) ParseSocketTable(data []byte, fn func(e *SocketEntry)) error {
	var errs []error
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		if err := s.line(line, lineNo, fn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *SocketTableScanner) line(line []byte, lineNo int, fn func(e *SocketEntry)) error {
	sl, rest := nextField(line)
	if sl == nil || bytes.Equal(sl, []byte("sl")) {
		return nil // blank line or the header
	}
	if sl[len(sl)-1] != ':' {
		return &LineError{lineNo, fmt.Sprintf("row number %q does not end with ':'", sl)}
	}
	local, rest := nextField(rest)
	_, rest = nextField(rest) // rem_address
	st, rest := nextField(rest)
	queues, _ := nextField(rest)
	if queues == nil {
		return &LineError{lineNo, "fewer than 5 columns"}
	}
	colon := bytes.LastIndexByte(local, ':')
	if colon < 0 {
		return &LineError{lineNo, fmt.Sprintf("local_address %q has no port", local)}
	}
	port, ok := parseHex(local[colon+1:], 16)
	if !ok {
		return &LineError{lineNo, fmt.Sprintf("local port %q is not 16-bit hex", local[colon+1:])}
	}
	state, ok := parseHex(st, 8)
	if !ok {
		return &LineError{lineNo, fmt.Sprintf("state %q is not 8-bit hex", st)}
	}
	tx, rx, found := bytes.Cut(queues, []byte(":"))
	txq, ok1 := parseHex(tx, 32)
	rxq, ok2 := parseHex(rx, 32)
	if !found || !ok1 || !ok2 {
		return &LineError{lineNo, fmt.Sprintf("queues %q are not tx:rx hex", queues)}
	}
	s.e = SocketEntry{State: uint8(state), LocalPort: uint16(port), TxQueue: uint32(txq), RxQueue: uint32(rxq)}
	fn(&s.e)
	return nil
}

// parseHex parses an unsigned hexadecimal number of at most bits bits.
func parseHex(b []byte, bits int) (uint64, bool) {
	if len(b) == 0 || len(b) > bits/4 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}
