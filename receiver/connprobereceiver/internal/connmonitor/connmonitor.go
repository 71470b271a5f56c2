// Package connmonitor parses configuration files in the format of
// connvitals-monitor (connmonitor): one host per line followed by
// whitespace-separated name=value options.
//
// The rules are connmonitor's own: option names and values are
// case-insensitive (the host is kept as written), there are no spaces
// around '=', an option may appear at most once per line, ping/trace/scan
// are milliseconds between runs (a non-negative decimal number, 0 = off),
// numpings/payload/hops are positive integers, json and timestamp take an
// integer or True/False and choose connmonitor's output format (here: the
// body of the host's log records). Blank lines are skipped;
// lines whose first non-blank character is '#' are comments (connmonitor
// has no comments; this is the one extension).
package connmonitor // import "github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/connmonitor"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of connmonitor for options a line does not set.
const (
	DefaultPing     = 500 * time.Millisecond
	DefaultNumPings = 10
	DefaultPayload  = 41
	DefaultTrace    = time.Duration(0)
	DefaultHops     = 30
	DefaultScan     = time.Duration(0)

	// MaxNumPings, MaxPayload and MaxHops bound the integer options so
	// that a typo cannot make the receiver allocate or send absurd amounts.
	MaxNumPings = 100000
	MaxPayload  = 65487 // 65535 - 40 (IPv6 header) - 8 (ICMP header)
	MaxHops     = 255
	// maxMillis bounds interval options (one year) so that the conversion
	// to time.Duration cannot overflow.
	maxMillis = 365 * 24 * 3600 * 1000
	// MaxLineLength bounds one line of the file.
	MaxLineLength = 64 * 1024
)

// Entry is one host line of a connmonitor file, with defaults applied.
type Entry struct {
	Line     int    // 1-based line number in the file
	Host     string // as written
	Ping     time.Duration
	NumPings int
	Payload  int
	Trace    time.Duration
	Hops     int
	Scan     time.Duration
	// JSON and Timestamp are the output options when the line sets them
	// (nil otherwise): they choose the body of the host's log records.
	JSON, Timestamp *bool
}

// LineError is a parse error naming the line (and the option, when one
// is at fault).
type LineError struct {
	Line   int
	Option string // empty when the line as a whole is at fault
	Err    error
}

func (e *LineError) Error() string {
	if e.Option == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: option %q: %v", e.Line, e.Option, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

var errDuplicate = errors.New("given more than once")

// Parse reads a whole connmonitor file. Every malformed line is reported;
// the returned error joins one *LineError per fault.
func Parse(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineLength)
	sc.Split(scanLines)
	var (
		entries []Entry
		errs    []error
		line    int
	)
	for sc.Scan() {
		line++
		e, ok, err := ParseLine(line, sc.Text())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			entries = append(entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &LineError{Line: line + 1, Err: fmt.Errorf("reading: %w", err)})
	}
	return entries, errors.Join(errs...)
}

// scanLines splits on every line terminator connmonitor treats as one
// (LF, CR, CRLF, VT, FF), so that a CR-only file does not become one line.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, c := range data {
		switch c {
		case '\n', '\v', '\f':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need one more byte to tell CR from CRLF
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// ParseLine parses one line. ok is false for blank and comment lines.
func ParseLine(lineNo int, text string) (e Entry, ok bool, err error) {
	fields := strings.Fields(text)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return Entry{}, false, nil
	}
	e = Entry{
		Line:     lineNo,
		Host:     fields[0],
		Ping:     DefaultPing,
		NumPings: DefaultNumPings,
		Payload:  DefaultPayload,
		Trace:    DefaultTrace,
		Hops:     DefaultHops,
		Scan:     DefaultScan,
	}
	if strings.Contains(e.Host, "=") {
		return Entry{}, false, &LineError{Line: lineNo, Err: fmt.Errorf("must begin with a host, found option %q", e.Host)}
	}
	seen := make(map[string]bool, len(fields)-1)
	for _, f := range fields[1:] {
		name, value, found := strings.Cut(f, "=")
		name = strings.ToLower(name)
		if !found {
			return Entry{}, false, &LineError{Line: lineNo, Option: name, Err: errors.New("expected name=value (no spaces around '=')")}
		}
		if name == "" {
			return Entry{}, false, &LineError{Line: lineNo, Option: f, Err: errors.New("empty option name")}
		}
		if seen[name] {
			return Entry{}, false, &LineError{Line: lineNo, Option: name, Err: errDuplicate}
		}
		seen[name] = true
		if err := e.set(name, value); err != nil {
			return Entry{}, false, &LineError{Line: lineNo, Option: name, Err: err}
		}
	}
	return e, true, nil
}

func (e *Entry) set(name, value string) error {
	var err error
	switch name {
	case "ping":
		e.Ping, err = parseMillis(value)
	case "trace":
		e.Trace, err = parseMillis(value)
	case "scan":
		e.Scan, err = parseMillis(value)
	case "numpings":
		e.NumPings, err = parsePositive(value, MaxNumPings)
	case "payload":
		e.Payload, err = parsePositive(value, MaxPayload)
	case "hops":
		e.Hops, err = parsePositive(value, MaxHops)
	case "json", "timestamp":
		var b bool
		if b, err = parseBool(value); err == nil {
			if name == "json" {
				e.JSON = &b
			} else {
				e.Timestamp = &b
			}
		}
	default:
		err = errors.New("unknown option (known: ping, numpings, payload, trace, hops, scan, json, timestamp)")
	}
	return err
}

// parseMillis parses a non-negative decimal number of milliseconds
// ("500", "0.5", "0"). Exponents, signs, hex and inf/nan are rejected.
func parseMillis(v string) (time.Duration, error) {
	if v == "" {
		return 0, errors.New("empty value, want milliseconds (0 = off)")
	}
	dots := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '.':
			dots++
		case c < '0' || c > '9':
			return 0, fmt.Errorf("%q is not a non-negative number of milliseconds", v)
		}
	}
	if dots > 1 || v == "." {
		return 0, fmt.Errorf("%q is not a non-negative number of milliseconds", v)
	}
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(ms) || ms > maxMillis {
		return 0, fmt.Errorf("%q is not a number of milliseconds between 0 and %d", v, int64(maxMillis))
	}
	d := time.Duration(math.Round(ms * float64(time.Millisecond)))
	if ms > 0 && d == 0 {
		return 0, fmt.Errorf("%q is below the 1ns resolution", v)
	}
	return d, nil
}

func parsePositive(v string, maxValue int) (int, error) {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%q is not a positive integer", v)
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxValue {
		return 0, fmt.Errorf("%q is not an integer between 1 and %d", v, maxValue)
	}
	return n, nil
}

// parseBool accepts an integer (non-zero = true) or True/False in any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	s := strings.TrimPrefix(strings.TrimPrefix(v, "-"), "+")
	if s == "" {
		return false, fmt.Errorf("%q is not an integer or True/False", v)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false, fmt.Errorf("%q is not an integer or True/False", v)
		}
	}
	return strings.Trim(s, "0") != "", nil
}
