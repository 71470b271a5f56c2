package tcpflowreceiver

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

const examples = "../../config/examples"

// gnuplotScript is the plot of README.md ("Logs: the per-sample trace").
const gnuplotScript = `set terminal pngcairo size 900,500
set output ARG2
set xlabel "time (s)"
set ylabel "cwnd (segments)"
set y2label "srtt (ms)"
set y2tics
plot ARG1 using 1:5 skip 1 with steps title "snd_cwnd", \
     ARG1 using 1:7 skip 1 axes x1y2 with lines title "srtt"
`

// TestTraceRecipe: config/examples/tcpflow-trace.yaml is a valid tcpflow
// configuration, and the README's recipe turns the file exporter's
// OTLP/JSON lines (written here with the same marshaler) into the
// cwnd/srtt table and, with Debian's gnuplot, into a PNG plot.
func TestTraceRecipe(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join(examples, "tcpflow-trace.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("receivers::tcpflow")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	require.Equal(t, []int{5001}, cfg.Ports)

	// Two batches as the receiver sends them, one JSON line each.
	e := newEventLogs(cfg, receivertest.NewNopSettings(metadata.Type), nil, func(uint64) pcommon.Resource { return pcommon.NewResource() })
	t0 := time.Unix(1_700_000_000, 0)
	var lines []string
	for b := 0; b < 2; b++ {
		e.reset()
		ld := e.batch
		for i := 0; i < 3; i++ {
			n := b*3 + i
			e.appendSample(&probe.Sample{Time: t0.Add(time.Duration(n) * 10 * time.Millisecond), Cookie: 9,
				Local: netip.MustParseAddrPort("10.0.0.1:40000"), Peer: netip.MustParseAddrPort("10.0.0.2:5001"),
				SndCwnd: uint32(10 + n), Ssthresh: 7, SRTTus: uint32(1000 + 100*n), SndNxt: uint32(n * 1448)})
		}
		raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, string(raw))
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "tcpflow-trace.jsonl")
	require.NoError(t, os.WriteFile(trace, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3 for config/examples/tcpflow-trace-table.py")
	}
	out, err := exec.Command("python3", filepath.Join(examples, "tcpflow-trace-table.py"), trace).CombinedOutput()
	require.NoError(t, err, "%s", out)
	rows := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, rows, 7)
	require.Equal(t, "time_s\tcookie\tlocal\tpeer\tsnd_cwnd\tssthresh\tsrtt_ms\tsnd_nxt\tsnd_una", rows[0])
	require.Equal(t, "0.000000\t9\t10.0.0.1:40000\t10.0.0.2:5001\t10\t7\t1.000\t0\t0", rows[1])
	require.Equal(t, "0.050000\t9\t10.0.0.1:40000\t10.0.0.2:5001\t15\t7\t1.500\t7240\t0", rows[6])

	if _, err := exec.LookPath("gnuplot"); err != nil {
		t.Skip("needs gnuplot (Debian gnuplot-nox) for the plot")
	}
	table, png, script := filepath.Join(dir, "trace.tsv"), filepath.Join(dir, "trace.png"), filepath.Join(dir, "trace.gp")
	require.NoError(t, os.WriteFile(table, out, 0o600))
	require.NoError(t, os.WriteFile(script, []byte(gnuplotScript), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err = exec.CommandContext(ctx, "gnuplot", "-c", script, table, png).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Greater(t, len(b), 1000)
	require.Equal(t, "\x89PNG", string(b[:4]))
}
