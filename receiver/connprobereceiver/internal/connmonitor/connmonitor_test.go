package connmonitor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReadmeExamples(t *testing.T) {
	in := "google.com ping=500 payload=1337 scan=500\n127.0.0.1 trace=50 json=1 scan=50\n"
	got, err := Parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, Entry{Line: 1, Host: "google.com", Ping: 500 * time.Millisecond, NumPings: 10, Payload: 1337, Trace: 0, Hops: 30, Scan: 500 * time.Millisecond}, got[0])
	assert.Equal(t, 127*time.Millisecond/127*50, got[1].Trace)
	assert.Equal(t, 500*time.Millisecond, got[1].Ping)
	assert.Equal(t, 50*time.Millisecond, got[1].Scan)
	require.NotNil(t, got[1].JSON)
	assert.True(t, *got[1].JSON)
	assert.Nil(t, got[1].Timestamp)
}

func TestParseAllOptions(t *testing.T) {
	yes, no := true, false
	in := "# comment\n\n  Host.Example\tPING=0.5  NumPings=3 payload=8 TRACE=30000 hops=40 scan=0 json=False timestamp=TRUE\r\n::1 ping=0\r10.0.0.1\fh2 trace=1.25\v"
	got, err := Parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []Entry{
		{Line: 3, Host: "Host.Example", Ping: 500 * time.Microsecond, NumPings: 3, Payload: 8, Trace: 30 * time.Second, Hops: 40, Scan: 0,
			JSON: &no, Timestamp: &yes},
		{Line: 4, Host: "::1", Ping: 0, NumPings: 10, Payload: 41, Hops: 30},
		{Line: 5, Host: "10.0.0.1", Ping: 500 * time.Millisecond, NumPings: 10, Payload: 41, Hops: 30},
		{Line: 6, Host: "h2", Ping: 500 * time.Millisecond, NumPings: 10, Payload: 41, Trace: 1250 * time.Microsecond, Hops: 30},
	}, got)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		line, option, msg string
	}{
		{"h ping=500 PING=400", "ping", "given more than once"},
		{"h ping = 500", "ping", "expected name=value"},
		{"h ping=", "ping", "empty value"},
		{"h ping=-1", "ping", "not a non-negative number"},
		{"h ping=1e3", "ping", "not a non-negative number"},
		{"h ping=1.2.3", "ping", "not a non-negative number"},
		{"h ping=.", "ping", "not a non-negative number"},
		{"h ping=99999999999999999", "ping", "between 0 and"},
		{"h numpings=0", "numpings", "between 1 and"},
		{"h numpings=1.5", "numpings", "not a positive integer"},
		{"h payload=70000", "payload", "between 1 and"},
		{"h hops=256", "hops", "between 1 and"},
		{"h json=maybe", "json", "not an integer or True/False"},
		{"h timestamp=-", "timestamp", "not an integer or True/False"},
		{"h colour=red", "colour", "unknown option"},
		{"h =5", "=5", "empty option name"},
		{"ping=500 h", "", "must begin with a host"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			_, err := Parse(strings.NewReader("ok ping=1\n" + tc.line + "\n"))
			require.Error(t, err)
			var le *LineError
			require.True(t, errors.As(err, &le), "%v", err)
			assert.Equal(t, 2, le.Line)
			assert.Equal(t, tc.option, le.Option)
			assert.Contains(t, err.Error(), "line 2")
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	_, err := Parse(strings.NewReader("a x=1\nb ping=1\nc hops=0\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
	assert.Contains(t, err.Error(), "line 3")
	assert.NotContains(t, err.Error(), "line 2")
}

func TestParseLineTooLong(t *testing.T) {
	_, err := Parse(strings.NewReader("h " + strings.Repeat("x", MaxLineLength+1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
}

func FuzzParse(f *testing.F) {
	f.Add("google.com ping=500 payload=1337 scan=500\n127.0.0.1 trace=50 json=1 scan=50\n")
	f.Add("h PING=0.5 numpings=3 hops=1 json=True timestamp=-0\r\n\f\v# c\n")
	f.Add("h ping=1 ping=2")
	f.Add("h ping=99999999999999999999.9 payload=65487")
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := Parse(strings.NewReader(in))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
		}
		for _, e := range entries {
			if e.Host == "" || e.Line < 1 || e.Ping < 0 || e.Trace < 0 || e.Scan < 0 ||
				e.NumPings < 1 || e.NumPings > MaxNumPings || e.Payload < 1 || e.Payload > MaxPayload || e.Hops < 1 || e.Hops > MaxHops {
				t.Fatalf("out of range entry %+v from %q", e, in)
			}
		}
	})
}

// Every example file shipped in the receiver's testdata parses.
func TestShippedExamples(t *testing.T) {
	yes := true
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*.conf"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		entries, err := Parse(f)
		f.Close()
		require.NoError(t, err, name)
		require.NotEmpty(t, entries, name)
	}
	f, err := os.Open(filepath.Join("..", "..", "testdata", "connmonitor-readme.conf"))
	require.NoError(t, err)
	defer f.Close()
	got, err := Parse(f)
	require.NoError(t, err)
	assert.Equal(t, []Entry{
		{Line: 1, Host: "host1", Ping: 500 * time.Millisecond, NumPings: 10, Payload: 41, Trace: 30 * time.Second, Hops: 40, Scan: time.Minute,
			JSON: &yes},
		{Line: 2, Host: "host2", Ping: 50 * time.Millisecond, NumPings: 10, Payload: 41, Hops: 30},
		{Line: 3, Host: "host3", Ping: 500 * time.Millisecond, NumPings: 10, Payload: 41, Trace: time.Second, Hops: 10},
	}, got)
}
