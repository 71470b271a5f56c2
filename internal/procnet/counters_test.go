package procnet

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type parsed struct {
	order  []string
	values map[string]string // name -> value as printed
}

func collect(t testing.TB, parse func(*Parser, []byte, CounterFunc) error, data []byte) (parsed, error) {
	t.Helper()
	var p Parser
	out := parsed{values: map[string]string{}}
	err := parse(&p, data, func(c *Counter) {
		name := string(c.Name)
		if _, dup := out.values[name]; !dup {
			out.order = append(out.order, name)
		}
		out.values[name] = c.FormatValue()
	})
	return out, err
}

func readFixture(t testing.TB, kernel, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", kernel, name))
	require.NoError(t, err)
	return b
}

// TestMatchesNstat checks the parsers against what iproute2's nstat printed
// on the same kernel at the same moment: every name nstat shows is found
// with the same value, and only the seven values nstat deliberately hides
// are extra.
func TestMatchesNstat(t *testing.T) {
	got := map[string]string{}
	for _, f := range []struct {
		file  string
		parse func(*Parser, []byte, CounterFunc) error
	}{{"snmp", (*Parser).ParseTable}, {"netstat", (*Parser).ParseTable}, {"snmp6", (*Parser).ParseNameValue}} {
		p, err := collect(t, f.parse, readFixture(t, "linux-6.18", f.file))
		require.NoError(t, err, f.file)
		for k, v := range p.values {
			got[k] = v
		}
	}
	nstat := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(readFixture(t, "linux-6.18", "nstat-az.txt"))))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		nstat[f[0]] = f[1]
	}
	require.Len(t, nstat, 395)
	for name, v := range nstat {
		assert.Equal(t, v, got[name], name)
	}
	var extra []string
	for name := range got {
		if _, ok := nstat[name]; !ok {
			extra = append(extra, name)
		}
	}
	assert.ElementsMatch(t, []string{"IpForwarding", "IpDefaultTTL", "TcpRtoAlgorithm", "TcpRtoMin", "TcpRtoMax", "TcpMaxConn", "TcpCurrEstab"}, extra)
}

func TestOlderKernelLayout(t *testing.T) {
	p, err := collect(t, (*Parser).ParseTable, readFixture(t, "linux-4.19", "snmp"))
	require.NoError(t, err)
	assert.Equal(t, "-1", p.values["TcpMaxConn"])
	assert.Equal(t, "10000000005", p.values["TcpOutSegs"])
	assert.Equal(t, "12", p.values["IcmpMsgOutType3"])
	assert.NotContains(t, p.values, "IpOutTransmits")
	assert.Equal(t, "IpForwarding", p.order[0])

	p, err = collect(t, (*Parser).ParseTable, readFixture(t, "linux-4.19", "netstat"))
	require.NoError(t, err)
	assert.Len(t, p.values, 118+17)
	assert.Contains(t, p.values, "TcpExtListenOverflows")
	assert.NotContains(t, p.values, "MPTcpExtMPCapableSYNRX")
}

func TestUint64Extremes(t *testing.T) {
	p, err := collect(t, (*Parser).ParseTable, []byte("Udp: A B C\nUdp: 18446744073709551615 4294967296 0\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"UdpA": "18446744073709551615", "UdpB": "4294967296", "UdpC": "0"}, p.values)

	_, err = collect(t, (*Parser).ParseTable, []byte("Udp: A\nUdp: 18446744073709551616\n"))
	require.ErrorContains(t, err, "line 2: UdpA: value \"18446744073709551616\" is not an integer")
}

func TestMalformedKeepsTheRest(t *testing.T) {
	in := strings.Join([]string{
		"Ip: Forwarding InReceives",
		"Ip: 1 100",
		"Tcp: ActiveOpens PassiveOpens",
		"Tcp: 5 x7",
		"Udp: InDatagrams NoPorts",
		"Udp: 9",
		"Broken line",
		"Broken: 1",
		"Icmp: InMsgs",
		"Imcp: 3",
		"IpExt: InOctets",
		"IpExt: 12",
		"TcpExt: Dangling",
	}, "\n") + "\n"
	p, err := collect(t, (*Parser).ParseTable, []byte(in))
	assert.Equal(t, map[string]string{"IpForwarding": "1", "IpInReceives": "100", "TcpActiveOpens": "5", "UdpInDatagrams": "9", "IpExt" + "InOctets": "12"}, p.values)
	require.Error(t, err)
	var lineErrs []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *LineError
		for _, inner := range flatten(e) {
			if errors.As(inner, &le) {
				lineErrs = append(lineErrs, le.Line)
			}
		}
	}
	assert.Equal(t, []int{4, 5, 7, 10, 13}, lineErrs, err.Error())
	for _, want := range []string{
		`line 4: TcpPassiveOpens: value "x7" is not an integer`,
		"line 5: Udp: header and values lines have different field counts",
		`line 7: no "Section:" prefix`,
		`line 10: values line does not start with "Icmp:"`,
		"line 13: header line without a values line",
	} {
		assert.ErrorContains(t, err, want)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func TestNameValue(t *testing.T) {
	p, err := collect(t, (*Parser).ParseNameValue, readFixture(t, "linux-6.18", "snmp6"))
	require.NoError(t, err)
	assert.Len(t, p.values, 90)
	assert.Contains(t, p.values, "Ip6InReceives")
	assert.Contains(t, p.values, "UdpLite6InDatagrams")

	p, err = collect(t, (*Parser).ParseNameValue, []byte("Ip6InReceives 5\nIp6Bad\nIp6Two 1 2\n\nIp6Neg x\nIcmp6InMsgs\t7"))
	assert.Equal(t, map[string]string{"Ip6InReceives": "5", "Icmp6InMsgs": "7"}, p.values)
	assert.ErrorContains(t, err, "line 2: Ip6Bad: no value")
	assert.ErrorContains(t, err, "line 3: Ip6Two: more than one value")
	assert.ErrorContains(t, err, `line 5: Ip6Neg: value "x" is not an integer`)
}

func TestWantSkipsSections(t *testing.T) {
	var p Parser
	p.Want = func(s []byte) bool { return string(s) == "Udp" || string(s) == "Udp6" }
	got := map[string]string{}
	collectInto := func(c *Counter) { got[string(c.Section)+"/"+string(c.Name)] = c.FormatValue() }
	// The skipped section's values line is malformed: not parsed, no error.
	require.NoError(t, p.ParseTable([]byte("Tcp: A B\nTcp: 1 x\nUdp: NoPorts\nUdp: 4\n"), collectInto))
	require.NoError(t, p.ParseNameValue([]byte("Ip6InReceives 5\nUdp6NoPorts 2\nUdpLite6NoPorts 3\nIcmp6InMsgs bad\n"), collectInto))
	assert.Equal(t, map[string]string{"Udp/UdpNoPorts": "4", "Udp6/Udp6NoPorts": "2"}, got)
}

func TestParserReuseDoesNotAllocate(t *testing.T) {
	data := readFixture(t, "linux-6.18", "netstat")
	var p Parser
	var sum uint64
	fn := func(c *Counter) { sum += c.Value }
	require.NoError(t, p.ParseTable(data, fn))
	allocs := testing.AllocsPerRun(100, func() { _ = p.ParseTable(data, fn) })
	assert.Zero(t, allocs)
}

// checkInvariants is what every fuzzed input must satisfy: no panic, every
// delivered counter has a name, and the value is what its text says.
func checkInvariants(t *testing.T, parse func(*Parser, []byte, CounterFunc) error, data []byte) {
	var p Parser
	_ = parse(&p, data, func(c *Counter) {
		if len(c.Name) == 0 {
			t.Fatalf("empty counter name from %q", data)
		}
		if !strings.Contains(string(data), c.FormatValue()) && !c.Negative {
			// "-0" is delivered as 0: the only spelling not in the input.
			if c.Value != 0 {
				t.Fatalf("value %d not in input %q", c.Value, data)
			}
		}
		if _, err := strconv.ParseUint(c.FormatValue(), 10, 64); err != nil && !c.Negative {
			t.Fatalf("bad value %q", c.FormatValue())
		}
	})
}

func FuzzParseTable(f *testing.F) {
	for _, k := range []string{"linux-6.18", "linux-4.19"} {
		f.Add(readFixture(f, k, "snmp"))
		f.Add(readFixture(f, k, "netstat"))
	}
	f.Add([]byte("Tcp: A B\nTcp: 1 -1\n"))
	f.Add([]byte("Tcp: A\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkInvariants(t, (*Parser).ParseTable, data) })
}

func FuzzParseNameValue(f *testing.F) {
	f.Add(readFixture(f, "linux-6.18", "snmp6"))
	f.Add([]byte("Ip6A 1\nIp6B\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkInvariants(t, (*Parser).ParseNameValue, data) })
}

func TestWantFieldSkipsFieldsAndFollowsHeaderChanges(t *testing.T) {
	var p Parser
	p.WantField = func(n []byte) bool { return string(n) == "TcpB" || string(n) == "Udp6NoPorts" }
	got := map[string]string{}
	fn := func(c *Counter) { got[string(c.Name)] = c.FormatValue() }
	// Unwanted values are not parsed: "x" is no error.
	require.NoError(t, p.ParseTable([]byte("Tcp: A B C\nTcp: x 2 3\n"), fn))
	assert.Equal(t, map[string]string{"TcpB": "2"}, got)
	// Same header again: the cached columns; the field count is still checked.
	clear(got)
	require.ErrorContains(t, p.ParseTable([]byte("Tcp: A B C\nTcp: 1 5\n"), fn), "different field counts")
	assert.Equal(t, map[string]string{"TcpB": "5"}, got)
	// A new kernel layout moves B: the header change is noticed.
	clear(got)
	require.NoError(t, p.ParseTable([]byte("Tcp: B A\nTcp: 7 1\n"), fn))
	assert.Equal(t, map[string]string{"TcpB": "7"}, got)
	clear(got)
	require.NoError(t, p.ParseNameValue([]byte("Udp6InDatagrams x\nUdp6NoPorts 4\n"), fn))
	assert.Equal(t, map[string]string{"Udp6NoPorts": "4"}, got)

	data := readFixture(t, "linux-6.18", "netstat")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.ParseTable(data, fn) }))
}

// FuzzWantField checks that selecting fields delivers exactly the selected
// subset of what a full parse delivers, on first sight of a header and
// from the cache.
func FuzzWantField(f *testing.F) {
	for _, k := range []string{"linux-6.18", "linux-4.19"} {
		f.Add(readFixture(f, k, "netstat"))
	}
	f.Add([]byte("Tcp: A B\nTcp: 1 2\nTcp: A B C\nTcp: 1 2 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		odd := func(n []byte) bool { return len(n)%2 == 1 }
		full, _ := collect(t, (*Parser).ParseTable, data)
		var p Parser
		p.WantField = odd
		for range 2 {
			got := map[string]string{}
			_ = p.ParseTable(data, func(c *Counter) { got[string(c.Name)] = c.FormatValue() })
			for name, v := range full.values {
				if odd([]byte(name)) && got[name] != v {
					t.Fatalf("%s: got %q, full parse %q", name, got[name], v)
				}
			}
			for name := range got {
				if !odd([]byte(name)) {
					t.Fatalf("%s delivered but not wanted", name)
				}
			}
		}
	})
}

// BenchmarkParseNetstat parses /proc/net/netstat as recorded from 6.18,
// TcpExt: every field, and only the three fields the curated metrics use.
func BenchmarkParseNetstat(b *testing.B) {
	data := readFixture(b, "linux-6.18", "netstat")
	var sum uint64
	fn := func(c *Counter) { sum += c.Value }
	b.Run("all", func(b *testing.B) {
		var p Parser
		p.Want = func(s []byte) bool { return string(s) == "TcpExt" }
		for b.Loop() {
			_ = p.ParseTable(data, fn)
		}
	})
	b.Run("three", func(b *testing.B) {
		var p Parser
		p.Want = func(s []byte) bool { return string(s) == "TcpExt" }
		p.WantField = func(n []byte) bool {
			return string(n) == "TcpExtListenOverflows" || string(n) == "TcpExtListenDrops" || string(n) == "TcpExtTCPSynRetrans"
		}
		for b.Loop() {
			_ = p.ParseTable(data, fn)
		}
	})
}
