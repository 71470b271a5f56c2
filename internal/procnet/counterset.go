package procnet

import (
	"cmp"
	"errors"
	"fmt"
	"math"
)

// DefaultMaxCounters bounds the distinct counter names a CounterSet keeps
// when CounterSet.Max is zero: a kernel prints about 400, so more means the
// input is not what we think it is.
const DefaultMaxCounters = 4096

// Format is the layout of a counter file.
type Format uint8

const (
	// FormatTable is the header/values line pairs of /proc/net/snmp and
	// /proc/net/netstat (Parser.ParseTable).
	FormatTable Format = iota
	// FormatNameValue is the "Name Value" lines of /proc/net/snmp6
	// (Parser.ParseNameValue).
	FormatNameValue
)

// CounterSet follows kernel counters across repeated reads of their files,
// as a scraper does: one slot per counter name, kept in the order the names
// were first seen; 32-bit wraps continued; a counter that goes backwards
// reported as a reset. A read is Begin, then Read for each file, then Value
// for the counters wanted. The zero value is ready to use; a CounterSet must
// not be used concurrently.
type CounterSet struct {
	// Wrap32 says the kernel keeps its counters in 32-bit longs (a 32-bit
	// kernel): a counter that goes backwards from a value that fits 32 bits
	// wrapped, and its total continues past 2^32. Otherwise a counter that
	// goes backwards was reset.
	Wrap32 bool
	// IsGauge, when set, names the values that are not counters (nstat's
	// "useless numbers" such as TcpRtoMin, and current counts such as
	// TcpCurrEstab): they may go down and be negative, and never count as
	// a wrap or a reset. It is asked once per name, when its slot is made.
	IsGauge func(name string) bool
	// Max bounds the distinct names kept; zero means DefaultMaxCounters.
	// Slot is not bounded by it.
	// Names beyond it are reported by Read and otherwise ignored.
	Max int
	// Parser parses the files; set its Want and WantField to skip what is
	// not needed.
	Parser Parser

	slots []counterSlot
	ids   map[string]int
	// order[src][k] is the slot of the k-th counter delivered from source
	// src in its last read: the kernel prints the same names in the same
	// order every time, so a name comparison replaces a map lookup.
	order [][]int
	gen   uint64
	reset bool

	// the Read in progress
	src, pos int
	errs     []error
	fn       CounterFunc
}

// counterSlot is what the set knows of one counter.
type counterSlot struct {
	name     string
	value    uint64 // magnitude last read
	offset   uint64 // multiples of 2^32 added for wraps (Wrap32)
	seen     uint64 // generation that last read it; 0 before any
	negative bool
	gauge    bool
}

// Slot returns the slot index of a counter name, making the slot if it is
// new, so that a caller can look a counter up by index before it is read.
// Indexes are dense and stable: 0 to Len()-1 in order of first sight.
func (s *CounterSet) Slot(name string) int {
	if id, ok := s.ids[name]; ok {
		return id
	}
	if s.ids == nil {
		s.ids = make(map[string]int, 512)
	}
	s.slots = append(s.slots, counterSlot{name: name, gauge: s.IsGauge != nil && s.IsGauge(name)})
	s.ids[name] = len(s.slots) - 1
	return len(s.slots) - 1
}

// Len is the number of slots: every name seen so far, and every name
// passed to Slot.
func (s *CounterSet) Len() int { return len(s.slots) }

// Name is the counter name of a slot.
func (s *CounterSet) Name(id int) string { return s.slots[id].name }

// Gauge tells whether a slot holds a value that is not a counter.
func (s *CounterSet) Gauge(id int) bool { return s.slots[id].gauge }

// Begin starts a read of the files: values Read after it are the current
// ones, and Reset reports what happened since.
func (s *CounterSet) Begin() {
	s.gen++
	s.reset = false
}

// Reset tells whether a counter went backwards (and did not wrap) in a file
// read since Begin: the counters were reset, so a new cumulative series
// begins. The values are still the kernel's; call Restart to forget wraps.
func (s *CounterSet) Reset() bool { return s.reset }

// Restart forgets the wraps counted so far: totals are the kernel's values
// again, for a new series after a reset or a new source of counters.
func (s *CounterSet) Restart() {
	for i := range s.slots {
		s.slots[i].offset = 0
	}
}

// Read parses one read of a counter file and records its values. src is a
// small number that identifies the file among those read after each Begin
// (0, 1, 2 ...); it keys the cache of the file's name order. The error
// joins the parser's line errors and the names beyond Max; the values that
// could be read are recorded all the same.
func (s *CounterSet) Read(src int, format Format, data []byte) error {
	if src < 0 {
		return fmt.Errorf("source %d is negative", src)
	}
	for len(s.order) <= src {
		s.order = append(s.order, nil)
	}
	if s.fn == nil {
		s.fn = s.store // one closure for the set's life, not one per Read
	}
	s.src, s.pos, s.errs = src, 0, s.errs[:0]
	var err error
	switch format {
	case FormatTable:
		err = s.Parser.ParseTable(data, s.fn)
	case FormatNameValue:
		err = s.Parser.ParseNameValue(data, s.fn)
	default:
		return fmt.Errorf("unknown counter file format %d", format)
	}
	if len(s.errs) == 0 {
		return err
	}
	return errors.Join(append([]error{err}, s.errs...)...)
}

// store is the parser callback: it records one counter's value, and spots
// wraps and resets.
func (s *CounterSet) store(c *Counter) {
	id, ok := s.lookup(c.Name)
	if !ok {
		return
	}
	sl := &s.slots[id]
	if !sl.gauge && !c.Negative && sl.seen != 0 && !sl.negative && c.Value < sl.value {
		if s.Wrap32 && sl.value <= math.MaxUint32 {
			sl.offset += 1 << 32
		} else {
			s.reset = true
		}
	}
	sl.value, sl.negative, sl.seen = c.Value, c.Negative, s.gen
}

// lookup finds the slot of the counter at the current position of the
// current source, making it on first sight.
func (s *CounterSet) lookup(name []byte) (int, bool) {
	order := s.order[s.src]
	k := s.pos
	s.pos++
	if k < len(order) && s.slots[order[k]].name == string(name) {
		return order[k], true
	}
	id, ok := s.ids[string(name)]
	if !ok {
		if max := cmp.Or(s.Max, DefaultMaxCounters); len(s.slots) >= max {
			s.errs = append(s.errs, fmt.Errorf("%s: more than %d distinct counters, ignored", name, max))
			return 0, false
		}
		id = s.Slot(string(name))
	}
	if k < len(order) {
		order[k] = id
	} else {
		s.order[s.src] = append(order, id)
	}
	return id, true
}

// Value returns a slot's value as read since the last Begin, with the wraps
// counted: ok is false when no file read since Begin had the counter. The
// error names the counter when the value cannot be a data point: a negative
// counter, or a total beyond int64.
func (s *CounterSet) Value(id int) (v int64, ok bool, err error) {
	sl := &s.slots[id]
	if sl.seen != s.gen || s.gen == 0 {
		return 0, false, nil
	}
	if sl.negative {
		if sl.value > math.MaxInt64 {
			return 0, true, fmt.Errorf("%s: value -%d is out of range", sl.name, sl.value)
		}
		if !sl.gauge {
			return 0, true, fmt.Errorf("%s: counter is negative (-%d)", sl.name, sl.value)
		}
		return -int64(sl.value), true, nil
	}
	t := sl.value + sl.offset
	if t < sl.value || t > math.MaxInt64 {
		return 0, true, fmt.Errorf("%s: value %d+%d does not fit an int64 data point", sl.name, sl.value, sl.offset)
	}
	return int64(t), true, nil
}
