//go:build linux

package probe

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/testnet"
)

// tracefsProbe is the kernel's tcp:tcp_probe tracepoint in a tracefs
// instance of its own (its own buffer, enable and filter, so nothing global
// is touched), filtered on a port.
type tracefsProbe struct{ dir string }

const tracefsRoot = "/sys/kernel/tracing"

func openTracefsProbe(t *testing.T, filter string) *tracefsProbe {
	testnet.RequireRoot(t)
	format, err := os.ReadFile(filepath.Join(tracefsRoot, "events/tcp/tcp_probe/format"))
	if err != nil {
		t.Skipf("needs the tcp:tcp_probe tracepoint in tracefs (%v)", err)
	}
	if !strings.Contains(string(format), "sock_cookie") {
		t.Skip("needs the sock_cookie field of tcp:tcp_probe (this kernel's tracepoint lacks it)")
	}
	dir := filepath.Join(tracefsRoot, "instances", fmt.Sprintf("netstack-tcpflow-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("needs tracefs instances (%s): %v", dir, err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(dir, "events/tcp/tcp_probe/enable"), []byte("0"), 0)
		require.NoError(t, os.Remove(dir))
	})
	w := func(name, v string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(v), 0), "%s = %s", name, v)
	}
	w("buffer_size_kb", "16384")
	w("events/tcp/tcp_probe/filter", filter)
	w("events/tcp/tcp_probe/enable", "1")
	return &tracefsProbe{dir: dir}
}

// traceRec is what the tracepoint prints and the sample stream must match.
type traceRec struct {
	cookie                            uint64
	sndNxt, sndUna, sndCwnd, ssthresh uint32
}

var traceLine = regexp.MustCompile(`snd_nxt=(0x[0-9a-f]+|0) snd_una=(0x[0-9a-f]+|0) snd_cwnd=(\d+) ssthresh=(\d+) .*sock_cookie=([0-9a-f]+)`)

// records stops tracing and returns the recorded events, oldest first.
func (p *tracefsProbe) records(t *testing.T) []traceRec {
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "events/tcp/tcp_probe/enable"), []byte("0"), 0))
	f, err := os.Open(filepath.Join(p.dir, "trace"))
	require.NoError(t, err)
	defer f.Close()
	var out []traceRec
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := traceLine.FindStringSubmatch(line)
		require.NotNil(t, m, "unparsed tcp_probe line %q", line)
		u := func(s string, base int) uint64 {
			v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), base, 64)
			require.NoError(t, err, s)
			return v
		}
		out = append(out, traceRec{cookie: u(m[5], 16), sndNxt: uint32(u(m[1], 16)), sndUna: uint32(u(m[2], 16)),
			sndCwnd: uint32(u(m[3], 10)), ssthresh: uint32(u(m[4], 10))})
	}
	require.NoError(t, sc.Err())
	// The buffer must not have overwritten anything.
	stats, _ := filepath.Glob(filepath.Join(p.dir, "per_cpu/cpu*/stats"))
	for _, name := range stats {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		require.NotRegexp(t, `(?m)^overrun: [1-9]`, string(b), "tracefs buffer overran (%s)", name)
	}
	return out
}

// collect reads the probe's sample stream in the background until the probe
// is closed.
type collector struct {
	mu      sync.Mutex
	samples []Sample
	flushes int
	done    chan error
}

func collect(t *testing.T, p *Probe) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		c.done <- p.ReadSamples(20*time.Millisecond, func(s *Sample) {
			c.mu.Lock()
			c.samples = append(c.samples, *s)
			c.mu.Unlock()
		}, func() {
			c.mu.Lock()
			c.flushes++
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		require.NoError(t, p.Close())
		select {
		case err := <-c.done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("ReadSamples did not return after Close")
		}
	})
	return c
}

func (c *collector) of(cookie uint64) []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Sample
	for _, s := range c.samples {
		if s.Cookie == cookie {
			out = append(out, s)
		}
	}
	return out
}

func openStream(t *testing.T, cfg Config) *Probe {
	cfg.Stream = true
	p, err := Open(cfg)
	require.NoError(t, err)
	return p
}

// TestStreamMatchesTracepoint is the exactness test: one flow through a lossy
// link with the kernel's own tcp:tcp_probe tracepoint enabled on the same
// port; in every-ACK mode the stream has exactly the tracepoint's samples of
// the flow, in the same order, with the same (snd_nxt, snd_una, snd_cwnd,
// ssthresh), and the close summary's retransmits equal the namespace's
// TcpRetransSegs delta.
func TestStreamMatchesTracepoint(t *testing.T) {
	testnet.RequireTool(t, "nstat")
	const port = 7301
	e := newEnv(t, port)
	e.server.Nft(t, testnet.DropEvery(port, 50))
	tp := openTracefsProbe(t, fmt.Sprintf("dport == %d", port))
	p := openStream(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path, Ports: []uint16{port}})
	col := collect(t, p)
	retrans0 := e.nstat(t, "TcpRetransSegs")

	c := e.dial(t, port)
	local := localOf(c)
	send(t, c, 8<<20)
	var f *Flow
	waitFor(t, "data acknowledged", func() bool {
		f = find(flows(t, p), local)
		return f != nil && f.SendQueue == 0 && f.InFlight == 0
	})
	retrans := e.nstat(t, "TcpRetransSegs") - retrans0
	require.NoError(t, c.Close())
	var closed []Flow
	waitFor(t, "close summary", func() bool {
		closed = closed[:0]
		require.NoError(t, p.Closed(t.Context(), func(f *Flow) { closed = append(closed, *f) }))
		return find(closed, local) != nil
	})
	sum := find(closed, local)
	require.Positive(t, retrans, "lossy link produced no retransmits")
	require.Equal(t, retrans, sum.Retransmits, "close summary retransmits vs nstat TcpRetransSegs delta")
	require.NotZero(t, sum.Cookie)

	trace := tp.records(t)
	var want []traceRec
	for _, r := range trace {
		if r.cookie == sum.Cookie {
			want = append(want, r)
		}
	}
	require.NotEmpty(t, want, "no tracepoint event for cookie %x (%d events)", sum.Cookie, len(trace))
	var got []traceRec
	waitFor(t, "stream drained", func() bool { return len(col.of(sum.Cookie)) >= len(want) })
	ino, err := netnsutil.Inode(e.client.Path)
	require.NoError(t, err)
	require.Equal(t, ino, sum.NetnsInode, "close summary's netns inode")
	for _, s := range col.of(sum.Cookie) {
		require.Equal(t, local, s.Local)
		require.Equal(t, ino, s.NetnsInode, "sample's netns inode")
		got = append(got, traceRec{cookie: s.Cookie, sndNxt: s.SndNxt, sndUna: s.SndUna, sndCwnd: s.SndCwnd, ssthresh: s.Ssthresh})
	}
	require.Equal(t, len(want), len(got), "sample count vs tracepoint")
	require.Equal(t, want, got, "sample sequence vs tracepoint")
	cnt, err := p.Counters()
	require.NoError(t, err)
	require.Zero(t, cnt.SampleRingFull+cnt.SampleRate, "no sample dropped")
	t.Logf("%d samples = %d tracepoint events; %d retransmits = nstat; %d flushes", len(got), len(want), retrans, col.flushes)
}

// TestStreamCapAndPorts: the samples/s cap drops (and counts) what exceeds
// it; the either-end port filter admits flows by local or peer port.
func TestStreamCapAndPorts(t *testing.T) {
	e := newEnv(t, 7311, 7312)
	begin := time.Now()
	capped := openStream(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path, MaxSamplesPerSec: 20})
	capCol := collect(t, capped)
	other := openStream(t, Config{MaxFlows: 8, NetnsCookie: e.cookie, NetnsPath: e.client.Path, Ports: []uint16{7312}})
	otherCol := collect(t, other)
	a, b := e.dial(t, 7311), e.dial(t, 7312)
	send(t, a, 4<<20)
	send(t, b, 4<<20)
	waitFor(t, "both flows acknowledged", func() bool {
		fs := flows(t, capped)
		return len(fs) == 2 && fs[0].SendQueue == 0 && fs[1].SendQueue == 0
	})
	time.Sleep(100 * time.Millisecond) // one more flush of the stream
	cnt, err := capped.Counters()
	require.NoError(t, err)
	capCol.mu.Lock()
	n := uint64(len(capCol.samples))
	capCol.mu.Unlock()
	var events uint64
	for _, f := range flows(t, capped) {
		events += f.Samples
	}
	require.Positive(t, cnt.SampleRate, "samples over the cap are counted")
	require.Equal(t, events, n+cnt.SampleRate, "every sample is streamed or counted as dropped")
	// at most 20 per started one-second window (a window starts at the
	// first sample after the previous one ended)
	require.LessOrEqual(t, n, 20*uint64(2+time.Since(begin)/time.Second), "cap holds")

	fs := flows(t, other)
	require.Len(t, fs, 1, "either-end port filter: only the flow to 7312")
	require.Equal(t, uint16(7312), fs[0].Peer.Port())
	for _, s := range otherCol.of(fs[0].Cookie) {
		require.Equal(t, uint16(7312), s.Peer.Port())
	}
	require.NotEmpty(t, otherCol.of(fs[0].Cookie))
}
