package procnet

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Counter is one field of a counter file, as delivered to a CounterFunc. Its
// byte slices point into the parser's input and a buffer the parser reuses:
// they are valid only during the call.
type Counter struct {
	// Name is the counter's name as `nstat` prints it: the section prefix
	// and the field name joined ("TcpExtListenOverflows", "IcmpMsgInType3"),
	// or the name as written for /proc/net/snmp6 ("Ip6InReceives").
	Name []byte
	// Section is the table's prefix without the colon ("Tcp", "TcpExt");
	// for snmp6 the name up to its "6" ("Ip6", "Icmp6", "UdpLite6").
	Section []byte
	// Value is the magnitude of the field; Negative is set for the few
	// signed fields the kernel prints (TcpMaxConn is -1).
	Value    uint64
	Negative bool
}

// CounterFunc receives every counter a parser finds, in file order.
type CounterFunc func(c *Counter)

// LineError is a malformed line in a counter file. Parsers return all of
// them joined with errors.Join; the fields around them are still delivered.
type LineError struct {
	Line   int // 1-based line number
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Parser parses counter files. The zero value is ready to use; a Parser
// reuses its name buffer, so it must not be used concurrently.
type Parser struct {
	// Want, when set, selects the sections to deliver; the fields of other
	// sections are skipped without being parsed, which is most of the cost
	// when only a few counters are needed. Its answers are cached, so it
	// must give the same answer for the same section every time.
	Want func(section []byte) bool
	// WantField, when set, selects the fields to deliver within the
	// sections Want lets through; the others are skipped without building
	// their names or parsing their values. ParseTable asks it once per
	// column of a header line and reuses the answers while the section's
	// header line stays byte for byte the same (the kernel prints the same
	// header on every read); ParseNameValue asks it per line. It receives
	// the full name as Counter.Name would carry it.
	WantField func(name []byte) bool

	name    []byte
	c       Counter
	headers []tableHeader
	section []byte // ParseNameValue: last section asked of Want
	keep    bool   // and its answer
}

// tableHeader is the WantField answers for one section's header line.
type tableHeader struct {
	line  []byte   // "Section:" and the header's fields, as last read
	cols  []int32  // per column: index in names, or -1 when not wanted
	names [][]byte // full names of the wanted columns
}

// ParseTable parses the header/values line-pair format of /proc/net/snmp
// and /proc/net/netstat:
//
//	Tcp: RtoAlgorithm RtoMin ... CurrEstab ...
//	Tcp: 1 200 ... 4 ...
//
// Any section is accepted, including ones with variable columns (IcmpMsg)
// and ones a newer kernel adds (MPTcpExt, new TcpExt fields).
func (p *Parser) ParseTable(data []byte, fn CounterFunc) error {
	var errs []error
	lineNo := 0
	for len(data) > 0 {
		var header, values []byte
		header, data = nextLine(data)
		lineNo++
		if len(bytes.TrimSpace(header)) == 0 {
			continue
		}
		headerLine := lineNo
		if len(data) == 0 {
			errs = append(errs, &LineError{headerLine, "header line without a values line"})
			break
		}
		values, data = nextLine(data)
		lineNo++
		if err := p.parsePair(header, values, headerLine, fn); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Parser) parsePair(header, values []byte, headerLine int, fn CounterFunc) error {
	hPrefix, hRest, ok := cutPrefix(header)
	if !ok {
		return &LineError{headerLine, "no \"Section:\" prefix"}
	}
	vPrefix, vRest, ok := cutPrefix(values)
	if !ok || !bytes.Equal(hPrefix, vPrefix) {
		return &LineError{headerLine + 1, fmt.Sprintf("values line does not start with %q", string(hPrefix)+":")}
	}
	if p.Want != nil && !p.Want(hPrefix) {
		return nil
	}
	p.c.Section = hPrefix
	if p.WantField != nil {
		return p.parseWanted(p.columns(hPrefix, hRest), vRest, headerLine, fn)
	}
	var errs []error
	p.name = append(p.name[:0], hPrefix...)
	for {
		var name, val []byte
		name, hRest = nextField(hRest)
		val, vRest = nextField(vRest)
		if name == nil && val == nil {
			break
		}
		if name == nil || val == nil {
			errs = append(errs, fieldCountError(hPrefix, headerLine))
			break
		}
		p.name = append(p.name[:len(hPrefix)], name...)
		if err := p.deliver(p.name, val, fn); err != nil {
			errs = append(errs, &LineError{headerLine + 1, err.Error()})
		}
	}
	return errors.Join(errs...)
}

func fieldCountError(section []byte, headerLine int) error {
	return &LineError{headerLine, fmt.Sprintf("%s: header and values lines have different field counts", section)}
}

// parseWanted delivers the wanted columns of a values line; the header
// line is known from h and not read again.
func (p *Parser) parseWanted(h *tableHeader, values []byte, headerLine int, fn CounterFunc) error {
	var errs []error
	for col := 0; ; col++ {
		var val []byte
		val, values = nextField(values)
		if val == nil || col == len(h.cols) {
			if val != nil || col != len(h.cols) {
				errs = append(errs, fieldCountError(p.c.Section, headerLine))
			}
			break
		}
		if k := h.cols[col]; k >= 0 {
			if err := p.deliver(h.names[k], val, fn); err != nil {
				errs = append(errs, &LineError{headerLine + 1, err.Error()})
			}
		}
	}
	return errors.Join(errs...)
}

// columns returns the WantField answers for a header line, from the cache
// while the line is unchanged.
func (p *Parser) columns(prefix, fields []byte) *tableHeader {
	var h *tableHeader
	for i := range p.headers {
		hl := p.headers[i].line
		if len(hl) > len(prefix) && hl[len(prefix)] == ':' && bytes.Equal(hl[:len(prefix)], prefix) {
			h = &p.headers[i]
			break
		}
	}
	if h == nil {
		p.headers = append(p.headers, tableHeader{})
		h = &p.headers[len(p.headers)-1]
	} else if bytes.Equal(h.line[len(prefix)+1:], fields) {
		return h
	}
	h.line = append(append(append(h.line[:0], prefix...), ':'), fields...)
	h.cols, h.names = h.cols[:0], h.names[:0]
	for rest := fields; ; {
		var f []byte
		if f, rest = nextField(rest); f == nil {
			break
		}
		name := append(append([]byte(nil), prefix...), f...)
		if !p.WantField(name) {
			h.cols = append(h.cols, -1)
			continue
		}
		h.cols = append(h.cols, int32(len(h.names)))
		h.names = append(h.names, name)
	}
	return h
}

// ParseNameValue parses the "Name Value" per-line format of
// /proc/net/snmp6 and /proc/net/dev_snmp6/*.
func (p *Parser) ParseNameValue(data []byte, fn CounterFunc) error {
	var errs []error
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		name, rest := nextField(line)
		if name == nil {
			continue
		}
		p.c.Section = name[:bytes.IndexByte(name, '6')+1]
		if p.Want != nil && !p.wantSection(p.c.Section) {
			continue
		}
		if p.WantField != nil && !p.WantField(name) {
			continue
		}
		val, rest := nextField(rest)
		if val == nil {
			errs = append(errs, &LineError{lineNo, fmt.Sprintf("%s: no value", name)})
			continue
		}
		if extra, _ := nextField(rest); extra != nil {
			errs = append(errs, &LineError{lineNo, fmt.Sprintf("%s: more than one value", name)})
			continue
		}
		if err := p.deliver(name, val, fn); err != nil {
			errs = append(errs, &LineError{lineNo, err.Error()})
		}
	}
	return errors.Join(errs...)
}

// wantSection asks Want once per run of lines of the same section.
func (p *Parser) wantSection(section []byte) bool {
	if p.section == nil || !bytes.Equal(section, p.section) {
		p.section = append(p.section[:0], section...)
		p.keep = p.Want(section)
	}
	return p.keep
}

func (p *Parser) deliver(name, val []byte, fn CounterFunc) error {
	neg := len(val) > 0 && val[0] == '-'
	digits := val
	if neg {
		digits = val[1:]
	}
	v, ok := parseUint(digits)
	if !ok {
		return fmt.Errorf("%s: value %q is not an integer", name, val)
	}
	p.c.Name, p.c.Value, p.c.Negative = name, v, neg && v != 0
	fn(&p.c)
	return nil
}

// parseUint parses a decimal uint64 without allocating; it rejects empty
// input, signs, other characters and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func nextLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i], data[i+1:]
	}
	return data, nil
}

// nextField returns the next space- or tab-separated field, nil at the end.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return b[i:j], b[j:]
}

func cutPrefix(line []byte) (prefix, rest []byte, ok bool) {
	f, rest := nextField(line)
	if len(f) < 2 || f[len(f)-1] != ':' {
		return nil, nil, false
	}
	return f[:len(f)-1], rest, true
}

// FormatValue renders a counter value as the kernel printed it, for
// messages and tests.
func (c *Counter) FormatValue() string {
	if c.Negative {
		return "-" + strconv.FormatUint(c.Value, 10)
	}
	return strconv.FormatUint(c.Value, 10)
}
