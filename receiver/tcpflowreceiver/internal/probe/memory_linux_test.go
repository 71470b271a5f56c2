package probe

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// BenchmarkMemoryKernel reports the probe's kernel memory: the memlock of
// every map its programs use (bpftool's figure: fixed at load, the same
// for any number of flows), and the flows map's value size, which the
// kernel allocates per tracked socket (sk_storage: no entries
// preallocated; its per-element header comes on top). The Go side is the
// receiver's BenchmarkMemoryPerFlow and BenchmarkMemoryPerClosedFlowWaiting.
// bench/memory.sh runs it.
func BenchmarkMemoryKernel(b *testing.B) {
	testnet.RequireRoot(b)
	p, err := Open(Config{MaxFlows: 4096})
	require.NoError(b, err)
	defer p.Close()
	reportKernel(b, p)
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
