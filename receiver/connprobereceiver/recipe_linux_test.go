package connprobereceiver

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/netstack-otel/netstack/internal/testnet"
)

// readmeJQ is the README's command that turns the file exporter's OTLP/JSON
// lines into connvitals-monitor's JSON lines.
const readmeJQ = `.resourceLogs[].scopeLogs[].logRecords[].body.stringValue`

// TestLogsRecipe: config/examples/connprobe-logs.yaml is a valid connprobe
// configuration that probes loopback only and names the receiver in a logs
// and a metrics pipeline. Run in a fresh namespace (intervals shortened),
// its records, written one OTLP/JSON line per batch as the file exporter
// writes them, become connvitals JSON lines through the README's jq filter.
func TestLogsRecipe(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("..", "..", "config", "examples", "connprobe-logs.yaml"))
	require.NoError(t, err)
	for _, p := range []string{"logs", "metrics"} {
		assert.Equal(t, []any{"connprobe"}, cm.Get("service::pipelines::"+p+"::receivers"), p)
	}
	sub, err := cm.Sub("receivers::connprobe")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	for _, tg := range cfg.engineTargets() {
		a, err := netip.ParseAddr(tg.Host)
		require.NoError(t, err, "targets are IP addresses")
		assert.True(t, a.IsLoopback(), "%s: loopback only", a)
		assert.Equal(t, bodyFormat{JSON: true, Timestamp: true}, tg.Tag)
	}

	ns := testnet.New(t)
	testnet.RequireTool(t, "jq")
	cfg.NetNS = ns.Path
	fast := 100 * time.Millisecond
	cfg.Defaults.Ping.Interval = &fast
	for i := range cfg.Targets {
		if cfg.Targets[i].Trace.Interval != nil {
			cfg.Targets[i].Trace.Interval = &fast
			cfg.Targets[i].Scan.Interval = &fast
		}
	}
	logs := new(consumertest.LogsSink)
	_, stop := startLogs(t, cfg, logs, new(consumertest.MetricsSink))
	require.Eventually(t, func() bool {
		return len(records(logs, "connprobe.port.scan")) >= 3 && len(records(logs, "connprobe.trace")) >= 1 &&
			len(records(logs, "connprobe.ping.burst")) >= 2
	}, 5*time.Second, 20*time.Millisecond)
	stop()

	var lines []string
	for _, ld := range logs.AllLogs() {
		raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		lines = append(lines, string(raw))
	}
	file := filepath.Join(t.TempDir(), "connprobe.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	out, err := exec.Command("jq", "-r", readmeJQ, file).CombinedOutput()
	require.NoError(t, err, "%s", out)
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj), line)
		assert.Contains(t, []any{"127.0.0.1", "::1"}, obj["addr"], line)
		assert.Contains(t, []any{"127.0.0.1", "loopback6"}, obj["name"], line)
		ts, _ := obj["timestamp"].(float64)
		assert.InDelta(t, float64(time.Now().UnixMilli()), ts, 60e3, line)
		for _, k := range []string{"ping", "trace", "scan", "route_change"} {
			if _, ok := obj[k]; ok {
				kinds[k]++
			}
		}
		if p, ok := obj["ping"].(map[string]any); ok {
			assert.Zero(t, p["loss"], "loopback loses nothing: %s", line)
			assert.Greater(t, p["min"], 0.0, line)
		}
		if s, ok := obj["scan"].(map[string]any); ok {
			assert.Equal(t, "closed", s["state"], "nothing listens in a fresh namespace: %s", line)
		}
	}
	assert.Equal(t, len(records(logs, "connprobe.ping.burst")), kinds["ping"])
	assert.Equal(t, len(records(logs, "connprobe.trace")), kinds["trace"])
	assert.Equal(t, len(records(logs, "connprobe.port.scan")), kinds["scan"])
	assert.Zero(t, kinds["route_change"])
}
