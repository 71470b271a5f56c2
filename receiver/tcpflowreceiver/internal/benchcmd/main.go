//go:build linux

// Command benchcmd measures the tcpflow probe's overhead (bench/tcpflow.sh
// runs it as root): per-event cost of the tcp_probe program from bpf_stats
// (run_time_ns/run_cnt) in every_ack mode, and bulk TCP throughput over a
// veth between two network namespaces with and without the probe attached,
// in interleaved rounds (the order rotated each round), with offloads on
// (GSO/TSO as veth defaults) and off (gso_max_segs 1: one tcp_probe event
// per packet). With -logs the probe streams every sample to a reader, and
// the stream's figures (samples/s drained, drops by reason, kernel ns per
// emitted sample, throughput with the stream on vs off) are printed too.
// Prints one line per figure and ratio=<with/without> last.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/bpf"
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

func main() {
	pairs := flag.Int("pairs", 10, "interleaved rounds per mode (each measures every arm once)")
	dur := flag.Duration("run", time.Second, "duration of one throughput run")
	logs := flag.Bool("logs", false, "logs mode: the probe streams every sample to its ring buffer, drained by a reader as a logs pipeline would")
	flag.Parse()
	streaming = *logs
	if err := run(*pairs, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmd:", err)
		os.Exit(1)
	}
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

type vethPair struct {
	a, b     string // netns names
	aIf, bIf string
	addrB    string
}

func setup() (*vethPair, func(), error) {
	suf := fmt.Sprint(os.Getpid())
	l := &vethPair{a: "tfb-a-" + suf, b: "tfb-b-" + suf, aIf: "tfa" + suf, bIf: "tfb" + suf, addrB: "10.201.0.2"}
	cleanup := func() {
		_ = sh("ip", "netns", "del", l.a)
		_ = sh("ip", "netns", "del", l.b)
	}
	for _, cmd := range [][]string{
		{"ip", "netns", "add", l.a},
		{"ip", "netns", "add", l.b},
		{"ip", "link", "add", l.aIf, "netns", l.a, "type", "veth", "peer", "name", l.bIf, "netns", l.b},
		{"ip", "-n", l.a, "addr", "add", "10.201.0.1/24", "dev", l.aIf},
		{"ip", "-n", l.b, "addr", "add", l.addrB + "/24", "dev", l.bIf},
		{"ip", "-n", l.a, "link", "set", l.aIf, "up"},
		{"ip", "-n", l.b, "link", "set", l.bIf, "up"},
		{"ip", "-n", l.a, "link", "set", "lo", "up"},
		{"ip", "-n", l.b, "link", "set", "lo", "up"},
	} {
		if err := sh(cmd...); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return l, cleanup, nil
}

// offloads sets gso_max_segs on both ends: 65535 is the veth default
// (offloaded), 1 makes every skb one segment.
func (l *vethPair) offloads(on bool) error {
	segs := "1"
	if on {
		segs = "65535"
	}
	if err := sh("ip", "-n", l.a, "link", "set", l.aIf, "gso_max_segs", segs); err != nil {
		return err
	}
	return sh("ip", "-n", l.b, "link", "set", l.bIf, "gso_max_segs", segs)
}

// transfer sends from netns a to netns b for d and returns the bytes the
// receiver read.
func (l *vethPair) transfer(d time.Duration) (uint64, error) {
	var ln net.Listener
	if err := netnsutil.Do("/run/netns/"+l.b, func() (err error) {
		ln, err = net.Listen("tcp4", l.addrB+":0")
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()
	var got atomic.Uint64
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			got.Add(uint64(n))
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	var c net.Conn
	if err := netnsutil.Do("/run/netns/"+l.a, func() (err error) {
		c, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		return 0, err
	}
	buf := make([]byte, 128<<10)
	start := time.Now()
	var base uint64
	warm := start.Add(100 * time.Millisecond) // skip slow start
	for {
		now := time.Now()
		if base == 0 && now.After(warm) {
			base = got.Load()
			start = now
		}
		if base != 0 && now.Sub(start) >= d {
			break
		}
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	n := got.Load() - base
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return n, nil
}

// streaming is the logs mode: every sample goes to the ring buffer and a
// reader drains it.
var streaming bool

// drainer reads the probe's sample stream until the probe is closed.
type drainer struct {
	n    atomic.Uint64
	done chan error
}

func drain(p *probe.Probe) *drainer {
	d := &drainer{done: make(chan error, 1)}
	go func() {
		d.done <- p.ReadSamples(100*time.Millisecond, func(*probe.Sample) { d.n.Add(1) }, func() {})
	}()
	return d
}

// openProbe opens the probe as the receiver does; with stream, with the
// sample stream on and a reader draining it (stop closes the probe and waits).
func openProbe(stream bool) (p *probe.Probe, d *drainer, stop func() error, err error) {
	p, err = probe.Open(probe.Config{MaxFlows: 4096, Stream: stream})
	if err != nil {
		return nil, nil, nil, err
	}
	if !stream {
		return p, nil, p.Close, nil
	}
	d = drain(p)
	return p, d, func() error { return errors.Join(p.Close(), <-d.done) }, nil
}

// drainRate fills the sample ring with the reader stopped, then times how
// fast one reader drains it: samples/s one core can decode and deliver.
func (l *vethPair) drainRate() (rate float64, n uint64, err error) {
	p, err := probe.Open(probe.Config{MaxFlows: 4096, Stream: true})
	if err != nil {
		return 0, 0, err
	}
	if _, err := l.transfer(300 * time.Millisecond); err != nil {
		p.Close()
		return 0, 0, err
	}
	var cnt uint64
	drained := make(chan time.Duration, 1)
	var t0 time.Time
	done := make(chan error, 1)
	go func() {
		t0 = time.Now()
		done <- p.ReadSamples(time.Millisecond, func(*probe.Sample) { cnt++ }, func() {
			select {
			case drained <- time.Since(t0):
			default:
			}
		})
	}()
	el := <-drained
	err = errors.Join(p.Close(), <-done)
	if cnt == 0 {
		return 0, 0, errors.Join(err, errors.New("no sample in the ring"))
	}
	return float64(cnt) / el.Seconds(), cnt, err
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// eventCost runs one transfer with bpf_stats on, the probe and the
// flow-table variants (bpf/variants.c) all attached to tcp_probe, and
// returns ns per run of each program and the probe's events per second.
// share is the probe's run time over the CPU time this process (sender,
// receiver and the softirq work run in their context) used meanwhile. In
// logs mode the probe streams every sample to a reader, and a second probe
// with the stream off is attached too ("tcpflow_nostream"): both see the
// same events, so the difference is what the stream costs.
func (l *vethPair) eventCost(d time.Duration) (costs map[string]float64, perSec, share float64, st *streamStats, err error) {
	stats, err := bpf.EnableStats()
	if err != nil {
		return nil, 0, 0, nil, err
	}
	defer stats.Close()
	p, dr, stop, err := openProbe(streaming)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	defer func() {
		if e := stop(); e != nil && err == nil {
			err = e
		}
	}()
	var v variantsObjects
	if err := loadVariantsObjects(&v, nil); err != nil {
		return nil, 0, 0, nil, fmt.Errorf("loading variants: %w", err)
	}
	defer v.Close()
	progs := map[string]*ebpf.Program{"tcpflow": p.Programs()["tcp_probe"], "empty": v.Empty, "sk_storage": v.SkStorage, "lru_tuple": v.LruTuple}
	if streaming {
		off, _, stopOff, err := openProbe(false)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		defer stopOff()
		progs["tcpflow_nostream"] = off.Programs()["tcp_probe"]
	}
	for _, prog := range []*ebpf.Program{v.Empty, v.SkStorage, v.LruTuple} {
		lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, 0, 0, nil, err
		}
		defer lk.Close()
	}
	before := map[string]bpf.RunStats{}
	for name, prog := range progs {
		if before[name], err = bpf.ProgramRunStats(prog); err != nil {
			return nil, 0, 0, nil, err
		}
	}
	var c0 probe.Counters
	var n0 uint64
	if dr != nil {
		if c0, err = p.Counters(); err != nil {
			return nil, 0, 0, nil, err
		}
		n0 = dr.n.Load()
	}
	t0, cpu0 := time.Now(), cpuTime()
	if _, err := l.transfer(d); err != nil {
		return nil, 0, 0, nil, err
	}
	el, cpu := time.Since(t0), cpuTime()-cpu0
	costs = map[string]float64{}
	var probeRun bpf.RunStats
	for name, prog := range progs {
		after, err := bpf.ProgramRunStats(prog)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		delta := after.Sub(before[name])
		if delta.RunCount == 0 {
			return nil, 0, 0, nil, fmt.Errorf("%s never ran", name)
		}
		costs[name] = float64(delta.RunTime.Nanoseconds()) / float64(delta.RunCount)
		if name == "tcpflow" {
			perSec = float64(delta.RunCount) / el.Seconds()
			share = float64(delta.RunTime) / float64(cpu)
			probeRun = delta
		}
	}
	if dr == nil {
		return costs, perSec, share, nil, nil
	}
	time.Sleep(300 * time.Millisecond) // the reader's last drain (flush interval 100 ms)
	c, err := p.Counters()
	if err != nil {
		return nil, 0, 0, nil, err
	}
	st = &streamStats{
		drained: dr.n.Load() - n0, secs: el.Seconds(),
		ringFull: c.SampleRingFull - c0.SampleRingFull, rateCap: c.SampleRate - c0.SampleRate, bad: p.BadSamples(),
	}
	// Samples the kernel wrote to the ring (drained) or tried to (ring full).
	if emitted := st.drained + st.ringFull; emitted > 0 {
		st.nsPerSample = float64(probeRun.RunTime.Nanoseconds()) / float64(emitted)
	}
	return costs, perSec, share, st, nil
}

// streamStats are the logs mode's figures of one eventCost run.
type streamStats struct {
	drained           uint64
	secs              float64
	ringFull, rateCap uint64
	bad               uint64
	nsPerSample       float64 // probe run time / samples emitted
}

// sample is one throughput run.
type sample struct {
	rate     float64 // bytes/s
	cpuPerMB float64 // CPU seconds (this process: sender, receiver and the
	// softirq work the kernel runs in their context) per MB delivered
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Arms of the throughput comparison.
const (
	armNone   = iota // no probe
	armProbe         // the probe, stream off
	armStream        // the probe streaming every sample to a reader (logs mode)
)

var armNames = [...]string{"without", "with", "with stream"}

// rounds measures n interleaved rounds of the arms (the order rotated each
// round) and returns each arm's samples, index-aligned by round.
func (l *vethPair) rounds(n int, d time.Duration, arms []int) (map[int][]sample, error) {
	measure := func(arm int) (sample, error) {
		if arm != armNone {
			_, _, stop, err := openProbe(arm == armStream)
			if err != nil {
				return sample{}, err
			}
			defer stop()
		}
		// Loading parses kernel BTF; let its garbage go before timing, in
		// every arm alike.
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		c0 := cpuTime()
		b, err := l.transfer(d)
		c1 := cpuTime()
		if err != nil || b == 0 {
			return sample{}, fmt.Errorf("transfer: %d bytes, %v", b, err)
		}
		return sample{rate: float64(b) / d.Seconds(), cpuPerMB: (c1 - c0).Seconds() / (float64(b) / 1e6)}, nil
	}
	out := map[int][]sample{}
	for i := 0; i < n; i++ {
		for j := range arms {
			arm := arms[(i+j)%len(arms)]
			v, err := measure(arm)
			if err != nil {
				return nil, err
			}
			out[arm] = append(out[arm], v)
		}
	}
	return out, nil
}

// ratios are the per-round ratios of arm a to arm b.
func ratios(r map[int][]sample, a, b int, f func(sample) float64) []float64 {
	out := make([]float64, len(r[a]))
	for i := range out {
		out[i] = f(r[a][i]) / f(r[b][i])
	}
	return out
}

func field(ss []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func run(n int, d time.Duration) error {
	if err := bpf.Preflight(); err != nil {
		return err
	}
	l, cleanup, err := setup()
	if err != nil {
		return err
	}
	defer cleanup()
	arms := []int{armNone, armProbe}
	if streaming {
		arms = append(arms, armStream)
	}
	var last float64
	for _, mode := range []struct {
		name     string
		offloads bool
	}{{"offloaded", true}, {"per_packet", false}} {
		if err := l.offloads(mode.offloads); err != nil {
			return err
		}
		costs, evRate, share, st, err := l.eventCost(d)
		if err != nil {
			return err
		}
		if st != nil {
			rate, n, err := l.drainRate()
			if err != nil {
				return err
			}
			fmt.Printf("%s: logs: %d samples drained in %.2fs = %.0f samples/s; dropped: sample_ring_full %d, sample_rate_limit %d, undecodable %d\n",
				mode.name, st.drained, st.secs, float64(st.drained)/st.secs, st.ringFull, st.rateCap, st.bad)
			fmt.Printf("%s: logs: one reader drains a filled ring at %.0f samples/s (%d samples)\n", mode.name, rate, n)
			fmt.Printf("%s: logs: kernel cost per emitted sample %.0f ns (bpf_stats run time of tcp_probe / samples emitted); same events, stream off: %.0f ns/event\n",
				mode.name, st.nsPerSample, costs["tcpflow_nostream"])
		}
		fmt.Printf("%s: tcp_probe every_ack cost %.0f ns/event at %.0f events/s (bpf_stats run_time_ns/run_cnt); same run: empty program %.0f ns, sk_storage-only %.0f ns, LRU 4-tuple hash %.0f ns\n",
			mode.name, costs["tcpflow"], evRate, costs["empty"], costs["sk_storage"], costs["lru_tuple"])
		fmt.Printf("%s: probe run time = %.2f%% of the transfer's CPU time (%.2f%% net of the empty-program floor)\n",
			mode.name, share*100, share*100*(costs["tcpflow"]-costs["empty"])/costs["tcpflow"])
		r, err := l.rounds(n, d, arms)
		if err != nil {
			return err
		}
		gbps := func(s sample) float64 { return s.rate * 8 / 1e9 }
		perMB := func(s sample) float64 { return s.cpuPerMB * 1e6 }
		var tput, cpu []string
		for _, arm := range arms {
			tput = append(tput, fmt.Sprintf("%s %.2f Gbit/s", armNames[arm], median(field(r[arm], gbps))))
			cpu = append(cpu, fmt.Sprintf("%s %.0f µs", armNames[arm], median(field(r[arm], perMB))))
		}
		fmt.Printf("%s: throughput %s (medians of %d interleaved rounds)\n", mode.name, strings.Join(tput, ", "), n)
		fmt.Printf("%s: CPU per MB %s\n", mode.name, strings.Join(cpu, ", "))
		for _, c := range [][2]int{{armProbe, armNone}, {armStream, armNone}, {armStream, armProbe}} {
			if !slices.Contains(arms, c[0]) {
				continue
			}
			rr, cr := ratios(r, c[0], c[1], func(s sample) float64 { return s.rate }), ratios(r, c[0], c[1], func(s sample) float64 { return s.cpuPerMB })
			fmt.Printf("%s: %s vs %s: median throughput loss %.1f%%, median CPU-per-byte increase %.1f%%; per-round throughput ratios %s\n",
				mode.name, armNames[c[0]], armNames[c[1]], (1-median(rr))*100, (median(cr)-1)*100, fmtRatios(rr))
		}
		last = median(ratios(r, arms[len(arms)-1], armNone, func(s sample) float64 { return s.rate }))
		if mode.offloads {
			fmt.Printf("ratio_offloaded=%.3f\n", last)
		}
	}
	fmt.Printf("ratio=%.3f\n", last)
	return nil
}

func fmtRatios(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = fmt.Sprintf("%.3f", v)
	}
	return strings.Join(s, " ")
}
