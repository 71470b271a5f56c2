//go:build linux

// Command benchcmd (run by bench/connprobe.sh) drives the connprobe engine (no Collector
// distribution needed): it pings every address listed on stdin once per
// interval from inside -netns for -duration, then prints one line of
// totals: CPU seconds (user+sys from getrusage), max RSS, packets sent and
// received per target group, and the median RTT.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
)

func main() {
	netns := flag.String("netns", "", "network namespace path")
	interval := flag.Duration("interval", time.Second, "ping interval per target")
	duration := flag.Duration("duration", time.Minute, "how long to run")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	memProfile := flag.String("memprofile", "", "write a heap profile here before shutting down")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var targets []engine.Target
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		h := strings.TrimSpace(sc.Text())
		if h == "" {
			continue
		}
		targets = append(targets, engine.Target{Name: h, Host: h, IPFamily: "both",
			PingInterval: *interval, PingCount: 1, PingPayload: 56, PingTimeout: 500 * time.Millisecond})
	}
	e := engine.New(engine.Config{Netns: *netns, Targets: targets, ReceiveBuffer: 16 << 20})
	if err := e.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	// Scrape every second, as a collector would: summing the windows must
	// give the cumulative counters (no burst lost or counted twice).
	var winSent, winRecv, bursts int
	var rtts []time.Duration
	drain := func() {
		for _, t := range e.Collect() {
			for _, a := range t.Addrs {
				if a.Ping != nil {
					winSent += a.Ping.Sent
					winRecv += a.Ping.Received
					bursts += a.Ping.Bursts
					rtts = append(rtts, a.Ping.RTTs...)
				}
			}
		}
	}
	end := time.Now().Add(*duration)
	for time.Now().Before(end) {
		time.Sleep(min(time.Second, time.Until(end)))
		drain()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err == nil {
			err = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	e.Shutdown()
	drain() // bursts that finished during Shutdown
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
	}
	sent := map[string]uint64{}
	recv := map[string]uint64{}
	for _, t := range e.Collect() {
		for _, a := range t.Addrs {
			g := group(a.Addr)
			sent[g] += a.PacketsSent
			recv[g] += a.PacketsReceived
		}
	}
	slices.Sort(rtts)
	med := time.Duration(0)
	if len(rtts) > 0 {
		med = rtts[len(rtts)/2]
	}
	st := e.ICMPStats()
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	fmt.Printf("user_s=%.3f sys_s=%.3f ", sec(ru.Utime)-sec(ru0.Utime), sec(ru.Stime)-sec(ru0.Stime))
	fmt.Printf("window_sent=%d window_recv=%d bursts=%d ", winSent, winRecv, bursts)
	// Context switches: how often the process slept and woke (wake-ups
	// cost more CPU than the packets they handle).
	fmt.Printf("sleeps=%d preempted=%d ", ru.Nvcsw-ru0.Nvcsw, ru.Nivcsw-ru0.Nivcsw)
	fmt.Printf("cpu_s=%.3f maxrss_kb=%d sent_all=%d recv_all=%d sent_drop=%d recv_drop=%d median_rtt_us=%.1f foreign=%d malformed=%d\n",
		cpu(ru)-cpu(ru0), ru.Maxrss, sent["all"]+sent["drop"], recv["all"]+recv["drop"], sent["drop"], recv["drop"],
		float64(med)/1e3, st.Foreign, st.Malformed)
}

// group: addresses in 10.200.1.0/24 sit behind the 30% nft drop.
func group(a netip.Addr) string {
	if netip.MustParsePrefix("10.200.1.0/24").Contains(a) {
		return "drop"
	}
	return "all"
}
