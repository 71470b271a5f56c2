package procnet

import (
	"bytes"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// value reads one counter by name after a read; it fails the test when
// the counter was not read.
func value(t *testing.T, s *CounterSet, name string) int64 {
	t.Helper()
	v, ok, err := s.Value(s.Slot(name))
	require.NoError(t, err, name)
	require.True(t, ok, "%s not read", name)
	return v
}

// readOnce is one scrape of one table file.
func readOnce(t *testing.T, s *CounterSet, data string) {
	t.Helper()
	s.Begin()
	require.NoError(t, s.Read(0, FormatTable, []byte(data)))
}

func TestCounterSetWrap32ContinuesTheSeries(t *testing.T) {
	s := CounterSet{Wrap32: true}
	readOnce(t, &s, "Udp: InDatagrams OutDatagrams\nUdp: 4294967290 7\n")
	assert.Equal(t, int64(4294967290), value(t, &s, "UdpInDatagrams"))

	readOnce(t, &s, "Udp: InDatagrams OutDatagrams\nUdp: 4 9\n")
	assert.False(t, s.Reset(), "a 32-bit wrap is not a reset")
	assert.Equal(t, int64(1<<32+4), value(t, &s, "UdpInDatagrams"))
	assert.Equal(t, int64(9), value(t, &s, "UdpOutDatagrams"))

	// A second wrap adds another 2^32; values in between keep the offset.
	readOnce(t, &s, "Udp: InDatagrams OutDatagrams\nUdp: 4000000000 9\n")
	assert.Equal(t, int64(1<<32+4000000000), value(t, &s, "UdpInDatagrams"))
	readOnce(t, &s, "Udp: InDatagrams OutDatagrams\nUdp: 1 9\n")
	assert.Equal(t, int64(2<<32+1), value(t, &s, "UdpInDatagrams"))

	// Restart (a new series) forgets the wraps.
	s.Restart()
	assert.Equal(t, int64(1), value(t, &s, "UdpInDatagrams"))
}

func TestCounterSetBackwardsIsAReset(t *testing.T) {
	for _, wrap32 := range []bool{false, true} {
		t.Run("wrap32="+strconv.FormatBool(wrap32), func(t *testing.T) {
			s := CounterSet{Wrap32: wrap32}
			// On a 32-bit kernel, only a value that fits 32 bits can wrap.
			readOnce(t, &s, "Tcp: ActiveOpens InSegs\nTcp: 100 5000000000\n")
			readOnce(t, &s, "Tcp: ActiveOpens InSegs\nTcp: 150 5000000001\n")
			assert.False(t, s.Reset())
			readOnce(t, &s, "Tcp: ActiveOpens InSegs\nTcp: 151 20\n")
			assert.True(t, s.Reset())
			assert.Equal(t, int64(20), value(t, &s, "TcpInSegs"), "the kernel's value, not a wrap")
			// Begin clears the flag; counters going up again are no reset.
			readOnce(t, &s, "Tcp: ActiveOpens InSegs\nTcp: 152 21\n")
			assert.False(t, s.Reset())
		})
	}
	s := CounterSet{}
	readOnce(t, &s, "Tcp: ActiveOpens\nTcp: 100\n")
	readOnce(t, &s, "Tcp: ActiveOpens\nTcp: 99\n")
	assert.True(t, s.Reset(), "on a 64-bit kernel even a small value going back is a reset")
}

func TestCounterSetGauges(t *testing.T) {
	s := CounterSet{IsGauge: func(n string) bool { return n == "TcpCurrEstab" || n == "TcpMaxConn" }}
	readOnce(t, &s, "Tcp: MaxConn CurrEstab ActiveOpens\nTcp: -1 5 10\n")
	assert.Equal(t, int64(-1), value(t, &s, "TcpMaxConn"))
	assert.True(t, s.Gauge(s.Slot("TcpCurrEstab")))
	assert.False(t, s.Gauge(s.Slot("TcpActiveOpens")))
	readOnce(t, &s, "Tcp: MaxConn CurrEstab ActiveOpens\nTcp: -1 2 10\n")
	assert.False(t, s.Reset(), "a gauge going down is no reset")
	assert.Equal(t, int64(2), value(t, &s, "TcpCurrEstab"))

	// A negative counter and a total beyond int64 are errors naming it.
	readOnce(t, &s, "Tcp: MaxConn CurrEstab ActiveOpens\nTcp: -18446744073709551615 2 -5\n")
	_, ok, err := s.Value(s.Slot("TcpActiveOpens"))
	assert.True(t, ok)
	assert.EqualError(t, err, "TcpActiveOpens: counter is negative (-5)")
	_, _, err = s.Value(s.Slot("TcpMaxConn"))
	assert.EqualError(t, err, "TcpMaxConn: value -18446744073709551615 is out of range")
	readOnce(t, &s, "Tcp: ActiveOpens\nTcp: 18446744073709551615\n")
	_, _, err = s.Value(s.Slot("TcpActiveOpens"))
	assert.EqualError(t, err, "TcpActiveOpens: value 18446744073709551615+0 does not fit an int64 data point")
}

func TestCounterSetValueIsFromThisRead(t *testing.T) {
	var s CounterSet
	id := s.Slot("TcpActiveOpens")
	assert.Equal(t, 0, id)
	_, ok, err := s.Value(id)
	assert.False(t, ok, "no read yet")
	assert.NoError(t, err)
	s.Begin()
	_, ok, _ = s.Value(id)
	assert.False(t, ok, "a Begin without a read")

	readOnce(t, &s, "Tcp: ActiveOpens\nTcp: 3\n")
	assert.Equal(t, int64(3), value(t, &s, "TcpActiveOpens"))
	readOnce(t, &s, "Udp: NoPorts\nUdp: 3\n")
	_, ok, _ = s.Value(id)
	assert.False(t, ok, "gone from the file: not reported from an older read")
	assert.Equal(t, 2, s.Len())
	assert.Equal(t, "UdpNoPorts", s.Name(1))
}

// TestCounterSetFollowsLayoutChanges reads files whose names move, appear
// and vanish between reads: the order cache must never attribute a value
// to the wrong name.
func TestCounterSetFollowsLayoutChanges(t *testing.T) {
	var s CounterSet
	readOnce(t, &s, "Tcp: A B C\nTcp: 1 2 3\n")
	readOnce(t, &s, "Tcp: C A B\nTcp: 30 10 20\n")
	assert.Equal(t, []int64{10, 20, 30}, []int64{value(t, &s, "TcpA"), value(t, &s, "TcpB"), value(t, &s, "TcpC")})
	readOnce(t, &s, "Tcp: A D\nTcp: 11 4\nTcp2: B\nTcp2: 5\n")
	assert.Equal(t, []int64{11, 4, 5}, []int64{value(t, &s, "TcpA"), value(t, &s, "TcpD"), value(t, &s, "Tcp2B")})
	_, ok, _ := s.Value(s.Slot("TcpB"))
	assert.False(t, ok)
	assert.False(t, s.Reset())

	// Two sources keep separate caches.
	s.Begin()
	require.NoError(t, s.Read(0, FormatTable, []byte("Tcp: A\nTcp: 12\n")))
	require.NoError(t, s.Read(1, FormatNameValue, []byte("Ip6InReceives 7\nUdp6NoPorts 8\n")))
	assert.Equal(t, []int64{12, 7, 8}, []int64{value(t, &s, "TcpA"), value(t, &s, "Ip6InReceives"), value(t, &s, "Udp6NoPorts")})
}

func TestCounterSetMax(t *testing.T) {
	s := CounterSet{Max: 2}
	s.Begin()
	err := s.Read(0, FormatTable, []byte("Tcp: A B C\nTcp: 1 2 3\nUdp: D\nUdp: x\n"))
	assert.ErrorContains(t, err, `line 4: UdpD: value "x" is not an integer`)
	assert.ErrorContains(t, err, "TcpC: more than 2 distinct counters, ignored")
	assert.Equal(t, 2, s.Len())
	assert.Equal(t, int64(2), value(t, &s, "TcpB"))
	// The errors of one read do not carry over to the next.
	s.Begin()
	assert.NoError(t, s.Read(0, FormatTable, []byte("Tcp: A B\nTcp: 1 2\n")))
	// Errors for bad arguments, not panics.
	assert.ErrorContains(t, s.Read(-1, FormatTable, nil), "source -1 is negative")
	assert.ErrorContains(t, s.Read(0, Format(9), nil), "unknown counter file format 9")
}

// TestCounterSetMatchesParser reads the recorded kernel files through the
// set and checks every value against the parser's own output.
func TestCounterSetMatchesParser(t *testing.T) {
	files := []struct {
		name   string
		format Format
		parse  func(*Parser, []byte, CounterFunc) error
	}{{"snmp", FormatTable, (*Parser).ParseTable}, {"netstat", FormatTable, (*Parser).ParseTable}, {"snmp6", FormatNameValue, (*Parser).ParseNameValue}}
	s := CounterSet{IsGauge: func(n string) bool { return n == "TcpMaxConn" }} // it is -1
	// The second time from the order cache.
	for range 2 {
		s.Begin()
		for i, f := range files {
			require.NoError(t, s.Read(i, f.format, readFixture(t, "linux-6.18", f.name)))
		}
	}
	n := 0
	for _, f := range files {
		p, err := collect(t, f.parse, readFixture(t, "linux-6.18", f.name))
		require.NoError(t, err)
		for name, want := range p.values {
			assert.Equal(t, want, strconv.FormatInt(value(t, &s, name), 10), name)
			n++
		}
	}
	assert.Equal(t, n, s.Len())
	assert.False(t, s.Reset())
}

func TestCounterSetSteadyStateDoesNotAllocate(t *testing.T) {
	snmp, netstat := readFixture(t, "linux-6.18", "snmp"), readFixture(t, "linux-6.18", "netstat")
	var s CounterSet
	read := func() {
		s.Begin()
		_ = s.Read(0, FormatTable, snmp)
		_ = s.Read(1, FormatTable, netstat)
	}
	read()
	assert.Zero(t, testing.AllocsPerRun(100, read))
}

// counterModel is the set's rules written plainly, with a map and no order
// cache, for FuzzCounterSet to compare against.
type counterModel struct {
	wrap32 bool
	max    int
	names  int
	c      map[string]*modelCounter
	reset  bool
}

type modelCounter struct {
	value, offset uint64
	neg, gauge    bool
	seen          int
}

func (m *counterModel) store(gen int, name string, v uint64, neg bool) {
	c := m.c[name]
	if c == nil {
		if m.names >= m.max {
			return
		}
		m.names++
		c = &modelCounter{gauge: modelGauge(name)}
		m.c[name] = c
	}
	if !c.gauge && !neg && c.seen > 0 && !c.neg && v < c.value {
		if m.wrap32 && c.value <= math.MaxUint32 {
			c.offset += 1 << 32
		} else {
			m.reset = true
		}
	}
	c.value, c.neg, c.seen = v, neg, gen
}

// total is the data point value, and whether there is one.
func (c *modelCounter) total() (int64, bool) {
	if c.neg {
		return -int64(c.value), c.gauge && c.value <= math.MaxInt64
	}
	t := c.value + c.offset
	return int64(t), t >= c.value && t <= math.MaxInt64
}

func modelGauge(name string) bool { return len(name)%3 == 0 }

// FuzzCounterSet reads two inputs one after the other, each split into two
// sources, and compares every value and the reset flag with counterModel.
func FuzzCounterSet(f *testing.F) {
	snmp, netstat := readFixture(f, "linux-6.18", "snmp"), readFixture(f, "linux-6.18", "netstat")
	f.Add(snmp, netstat, snmp, netstat, true)
	f.Add([]byte("Udp: InDatagrams OutDatagrams\nUdp: 4294967290 7\n"), []byte(""), []byte("Udp: InDatagrams OutDatagrams\nUdp: 4 9\n"), []byte("Udp: InDatagrams\nUdp: 5\n"), true)
	f.Add([]byte("Tcp: A B C\nTcp: 1 2 3\n"), []byte("Ip6InReceives 7\n"), []byte("Tcp: C A B\nTcp: 3 0 2\n"), []byte("Ip6InReceives -7\n"), false)
	f.Fuzz(func(t *testing.T, a1, b1, a2, b2 []byte, wrap32 bool) {
		s := CounterSet{Wrap32: wrap32, Max: 16, IsGauge: modelGauge}
		m := counterModel{wrap32: wrap32, max: 16, c: map[string]*modelCounter{}}
		reads := [][2][]byte{{a1, b1}, {a2, b2}}
		for gen, r := range reads {
			s.Begin()
			m.reset = false
			_ = s.Read(0, FormatTable, r[0])
			_ = s.Read(1, FormatNameValue, r[1])
			var p Parser
			model := func(c *Counter) { m.store(gen+1, string(c.Name), c.Value, c.Negative) }
			_ = p.ParseTable(r[0], model)
			_ = p.ParseNameValue(r[1], model)
			if s.Reset() != m.reset {
				t.Fatalf("read %d: Reset() = %v, model %v", gen+1, s.Reset(), m.reset)
			}
		}
		if s.Len() != m.names {
			t.Fatalf("%d slots, model %d names", s.Len(), m.names)
		}
		for id := range s.Len() {
			name := s.Name(id)
			c := m.c[name]
			v, ok, err := s.Value(id)
			if ok != (c.seen == len(reads)) {
				t.Fatalf("%s: ok=%v, model seen in read %d", name, ok, c.seen)
			}
			if !ok {
				continue
			}
			want, valid := c.total()
			if (err == nil) != valid {
				t.Fatalf("%s: error %v, model valid=%v", name, err, valid)
			}
			if err == nil && v != want {
				t.Fatalf("%s: %d, model %d", name, v, want)
			}
		}
	})
}

// BenchmarkCounterSet is one read of the three files recorded from 6.18:
// every counter, and only the 25 that netsnmp's curated metrics use.
func BenchmarkCounterSet(b *testing.B) {
	files := [][]byte{readFixture(b, "linux-6.18", "snmp"), readFixture(b, "linux-6.18", "netstat"), readFixture(b, "linux-6.18", "snmp6")}
	formats := []Format{FormatTable, FormatTable, FormatNameValue}
	run := func(b *testing.B, s *CounterSet) {
		for b.Loop() {
			s.Begin()
			for i, data := range files {
				_ = s.Read(i, formats[i], data)
			}
		}
	}
	b.Run("all", func(b *testing.B) { run(b, &CounterSet{}) })
	b.Run("curated", func(b *testing.B) {
		sections := map[string]bool{"Tcp": true, "TcpExt": true, "Udp": true, "Udp6": true}
		var s CounterSet
		s.Parser.Want = func(sec []byte) bool { return sections[string(sec)] }
		s.Parser.WantField = func(n []byte) bool {
			switch {
			case bytes.HasPrefix(n, []byte("TcpExt")):
				return string(n) == "TcpExtListenOverflows" || string(n) == "TcpExtListenDrops" || string(n) == "TcpExtTCPSynRetrans"
			case bytes.HasPrefix(n, []byte("Udp6")), bytes.HasPrefix(n, []byte("Udp")):
				return bytes.HasSuffix(n, []byte("Datagrams")) || bytes.HasSuffix(n, []byte("Errors")) || bytes.HasSuffix(n, []byte("NoPorts"))
			}
			return !bytes.HasPrefix(n, []byte("TcpR")) && string(n) != "TcpMaxConn"
		}
		run(b, &s)
	})
}
