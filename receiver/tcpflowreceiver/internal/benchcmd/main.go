//go:build linux

// Command benchcmd measures the tcpflow probe's overhead (bench/tcpflow.sh
// runs it as root): per-event cost of the tcp_probe program from bpf_stats
// (run_time_ns/run_cnt) in every_ack mode, and bulk TCP throughput over a
// veth between two network namespaces with and without the probe attached,
// in interleaved pairs (with/without, then without/with), with offloads on
// (GSO/TSO as veth defaults) and off (gso_max_segs 1: one tcp_probe event
// per packet). Prints one line per figure and ratio=<with/without> last.
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
	pairs := flag.Int("pairs", 10, "interleaved with/without pairs per mode")
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

// openProbe opens the probe as the receiver does; in logs mode with the
// stream on and a reader draining it (stop closes the probe and waits).
func openProbe() (p *probe.Probe, d *drainer, stop func() error, err error) {
	p, err = probe.Open(probe.Config{MaxFlows: 4096, Stream: streaming})
	if err != nil {
		return nil, nil, nil, err
	}
	if !streaming {
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
// receiver and the softirq work run in their context) used meanwhile.
func (l *vethPair) eventCost(d time.Duration) (costs map[string]float64, perSec, share float64, err error) {
	st, err := bpf.EnableStats()
	if err != nil {
		return nil, 0, 0, err
	}
	defer st.Close()
	p, dr, stop, err := openProbe()
	if err != nil {
		return nil, 0, 0, err
	}
	defer func() {
		if e := stop(); e != nil && err == nil {
			err = e
		}
	}()
	var v variantsObjects
	if err := loadVariantsObjects(&v, nil); err != nil {
		return nil, 0, 0, fmt.Errorf("loading variants: %w", err)
	}
	defer v.Close()
	progs := map[string]*ebpf.Program{"tcpflow": p.Programs()["tcp_probe"], "empty": v.Empty, "sk_storage": v.SkStorage, "lru_tuple": v.LruTuple}
	for _, prog := range []*ebpf.Program{v.Empty, v.SkStorage, v.LruTuple} {
		lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return nil, 0, 0, err
		}
		defer lk.Close()
	}
	before := map[string]bpf.RunStats{}
	for name, prog := range progs {
		if before[name], err = bpf.ProgramRunStats(prog); err != nil {
			return nil, 0, 0, err
		}
	}
	t0, c0 := time.Now(), cpuTime()
	if _, err := l.transfer(d); err != nil {
		return nil, 0, 0, err
	}
	el, cpu := time.Since(t0), cpuTime()-c0
	costs = map[string]float64{}
	for name, prog := range progs {
		after, err := bpf.ProgramRunStats(prog)
		if err != nil {
			return nil, 0, 0, err
		}
		delta := after.Sub(before[name])
		if delta.RunCount == 0 {
			return nil, 0, 0, fmt.Errorf("%s never ran", name)
		}
		costs[name] = float64(delta.RunTime.Nanoseconds()) / float64(delta.RunCount)
		if name == "tcpflow" {
			perSec = float64(delta.RunCount) / el.Seconds()
			share = float64(delta.RunTime) / float64(cpu)
		}
	}
	if dr != nil {
		time.Sleep(200 * time.Millisecond) // the reader's last drain
		c, err := p.Counters()
		if err != nil {
			return nil, 0, 0, err
		}
		fmt.Printf("logs: %d samples drained in %.2fs = %.0f samples/s; dropped: ring full %d, rate cap %d\n",
			dr.n.Load(), el.Seconds(), float64(dr.n.Load())/el.Seconds(), c.SampleRingFull, c.SampleRate)
	}
	return costs, perSec, share, nil
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

// pairs measures n interleaved with/without pairs (with first in odd
// pairs) and returns the per-pair with/without ratios of throughput and of
// CPU per byte.
func (l *vethPair) pairs(n int, d time.Duration) (rate, cpu []float64, without, with []sample, err error) {
	measure := func(attached bool) (sample, error) {
		if attached {
			_, _, stop, err := openProbe()
			if err != nil {
				return sample{}, err
			}
			defer stop()
		}
		// Loading parses kernel BTF; let its garbage go before timing, in
		// both arms alike.
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
	for i := 0; i < n; i++ {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		var wo, w sample
		for _, attached := range order {
			v, err := measure(attached)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			if attached {
				w = v
			} else {
				wo = v
			}
		}
		rate = append(rate, w.rate/wo.rate)
		cpu = append(cpu, w.cpuPerMB/wo.cpuPerMB)
		without = append(without, wo)
		with = append(with, w)
	}
	return rate, cpu, without, with, nil
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
	var last float64
	for _, mode := range []struct {
		name     string
		offloads bool
	}{{"offloaded", true}, {"per_packet", false}} {
		if err := l.offloads(mode.offloads); err != nil {
			return err
		}
		costs, evRate, share, err := l.eventCost(d)
		if err != nil {
			return err
		}
		if streaming {
			rate, n, err := l.drainRate()
			if err != nil {
				return err
			}
			fmt.Printf("%s: logs: one reader drains a filled ring at %.0f samples/s (%d samples)\n", mode.name, rate, n)
			fmt.Printf("%s: logs: kernel cost per emitted sample %.0f ns (bpf_stats, every event streamed)\n", mode.name, costs["tcpflow"])
		}
		fmt.Printf("%s: tcp_probe every_ack cost %.0f ns/event at %.0f events/s (bpf_stats run_time_ns/run_cnt); same run: empty program %.0f ns, sk_storage-only %.0f ns, LRU 4-tuple hash %.0f ns\n",
			mode.name, costs["tcpflow"], evRate, costs["empty"], costs["sk_storage"], costs["lru_tuple"])
		fmt.Printf("%s: probe run time = %.2f%% of the transfer's CPU time (%.2f%% net of the empty-program floor)\n",
			mode.name, share*100, share*100*(costs["tcpflow"]-costs["empty"])/costs["tcpflow"])
		ratios, cpu, wo, w, err := l.pairs(n, d)
		if err != nil {
			return err
		}
		r := median(ratios)
		gbps := func(s sample) float64 { return s.rate * 8 / 1e9 }
		perMB := func(s sample) float64 { return s.cpuPerMB * 1e6 }
		fmt.Printf("%s: throughput without %.2f Gbit/s, with %.2f Gbit/s (medians of %d interleaved pairs); per-pair with/without %s\n",
			mode.name, median(field(wo, gbps)), median(field(w, gbps)), n, fmtRatios(ratios))
		fmt.Printf("%s: CPU per MB without %.0f µs, with %.0f µs; per-pair with/without %s\n",
			mode.name, median(field(wo, perMB)), median(field(w, perMB)), fmtRatios(cpu))
		fmt.Printf("%s: median throughput loss %.1f%%, median CPU-per-byte increase %.1f%%\n", mode.name, (1-r)*100, (median(cpu)-1)*100)
		last = r
		if mode.offloads {
			fmt.Printf("ratio_offloaded=%.3f\n", r)
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
