package probe

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// BenchmarkMemoryPerClosedFlow is the Go memory the probe holds per
// closed-flow record waiting for the next scrape (read through Closed, so
// whatever form the record takes), from 500 and 5000 loopback connections
// (two flows each) opened and closed in a namespace of their own. It also
// reports the kernel side: the memlock of every map the programs use
// (bpftool's figure: fixed at load, the same for any number of flows), and
// the flows map's value size, which the kernel allocates per tracked
// socket (sk_storage: no entries preallocated; its per-element header comes
// on top). bench/memory.sh runs it.
func BenchmarkMemoryPerClosedFlow(b *testing.B) {
	testnet.RequireRoot(b)
	ns := testnet.New(b)
	cookie, err := NetnsCookie(ns.Path)
	require.NoError(b, err)
	var ln net.Listener
	ns.Do(b, func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err })
	defer ln.Close()
	var conns int
	testnet.MemoryPerUnit(b, "closed-flow", 1000, 10000, testnet.Workload{
		Grow: func(n int) { conns = n / 2 },
		Start: func() (int, func()) {
			p, err := Open(Config{MaxFlows: 65536, NetnsCookie: cookie, NetnsPath: ns.Path, MaxPendingClosed: 1 << 20})
			require.NoError(b, err)
			reportKernel(b, p)
			ns.Do(b, func() error {
				for range conns {
					c, err := net.Dial("tcp4", ln.Addr().String())
					if err != nil {
						return err
					}
					s, err := ln.Accept()
					if err != nil {
						return err
					}
					c.Close()
					s.Close()
				}
				return nil
			})
			var c Counters
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if c, err = p.Counters(); err == nil && c.Closed >= uint64(2*conns) && c.Tracked == 0 {
					break
				}
			}
			require.NoError(b, err)
			time.Sleep(2 * time.Second) // the ring buffer reader polls every second
			units := int(c.Closed - c.RingFull)
			return units, func() {
				var got int
				require.NoError(b, p.Closed(context.Background(), func(*Flow) { got++ }))
				require.Equal(b, units, got, "records waiting when measured")
				require.NoError(b, p.Close())
			}
		},
	})
}

// reportKernel reports the memlock of the maps p's programs use, summed,
// and the flows map's value size.
func reportKernel(b *testing.B, p *Probe) {
	ids := map[ebpf.MapID]bool{}
	for _, prog := range p.Programs() {
		info, err := prog.Info()
		require.NoError(b, err)
		mids, _ := info.MapIDs()
		for _, id := range mids {
			ids[id] = true
		}
	}
	var memlock uint64
	for id := range ids {
		m, err := ebpf.NewMapFromID(id)
		require.NoError(b, err)
		fdinfo, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", m.FD()))
		require.NoError(b, err)
		var v uint64
		for _, line := range strings.Split(string(fdinfo), "\n") {
			if _, err := fmt.Sscanf(line, "memlock:\t%d", &v); err == nil {
				memlock += v
			}
		}
		m.Close()
	}
	require.Positive(b, memlock)
	b.ReportMetric(float64(memlock), "kernel-B-fixed")
	b.ReportMetric(float64(p.objs.Flows.ValueSize()), "kernel-value-B/flow")
}
