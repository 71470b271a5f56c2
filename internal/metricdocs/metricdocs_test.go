package metricdocs

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	doc := `### tcp.flow.bytes

Bytes.

| Unit | Metric Type | Value Type | Aggregation Temporality | Monotonic | Stability |
| ---- | ----------- | ---------- | ----------------------- | --------- | --------- |
| By | Sum | Int | Cumulative | true | Development |

#### Attributes

| Name | Description | Values | Requirement Level | Semantic Convention |
| ---- | ----------- | ------ | ----------------- | ------------------- |
| network.type | x | Any Str | Recommended | - |

### tcp.flow.active

| Unit | Metric Type | Value Type | Aggregation Temporality | Monotonic | Stability |
| ---- | ----------- | ---------- | ----------------------- | --------- | --------- |
| {flow} | Sum | Int | Cumulative | false | Development |

### connprobe.ping.loss

| 1 | Gauge | Double | Development |

### tcp.flow.rtt

| s | Histogram | Double | Cumulative | - | Development |
`
	ms, err := Parse(strings.NewReader(doc), "x.md")
	require.NoError(t, err)
	require.Len(t, ms, 4)
	n := Index(ms)
	for _, p := range []string{"tcp_flow_bytes_total", "tcp_flow_active", "connprobe_ping_loss_ratio", "tcp_flow_rtt_seconds_bucket", "tcp_flow_rtt_seconds_count"} {
		require.Contains(t, n.Prometheus, p)
	}
	require.NotContains(t, n.Prometheus, "tcp_flow_active_total")
	require.Contains(t, n.OTel, "tcp.flow.rtt")
	require.Equal(t, []string{"network.type"}, n.OTel["tcp.flow.bytes"].Attributes)
	require.Equal(t, []string{"tcp_flow_nope"}, n.Missing("rate(tcp_flow_bytes_total{network_type=\"ipv4\"}[1m]) + tcp_flow_nope + nstat_TcpExtX_total"))
}

func TestParseMissingTable(t *testing.T) {
	_, err := Parse(strings.NewReader("### a.b\n\nno table\n"), "x.md")
	require.ErrorContains(t, err, "a.b has no unit/type table")
}

func TestRefs(t *testing.T) {
	text := "rate(system_network_tcp_active_opens_total[5m]) and `tcp.flow.srtt`, nstat_TcpExtListenOverflows_total, system.network.connection.count."
	require.Equal(t, []string{"system_network_tcp_active_opens_total", "nstat_TcpExtListenOverflows_total"}, PromRefs(text))
	require.Equal(t, []string{"tcp.flow.srtt", "system.network.connection.count"}, OTelRefs(text))
	require.True(t, IsNstat("nstat_TcpExtListenOverflows_total"))
	require.True(t, IsNstat("nstat.TcpExtListenOverflows"))
	require.False(t, IsNstat("nstat_lower"))
}

// The repository's own documentation parses, and holds the hand-built
// histograms.
func TestLoadRepository(t *testing.T) {
	ms, err := Load(filepath.Join("..", ".."))
	require.NoError(t, err)
	n := Index(ms)
	for _, name := range []string{"tcp.flow.rtt", "tcp.flow.lifetime", "connprobe.ping.duration", "system.network.connection.count"} {
		require.Contains(t, n.OTel, name)
	}
}

// Parse never panics; what it accepts has a type for every metric.
func FuzzParse(f *testing.F) {
	f.Add("### a.b\n\n| By | Sum | Int | Cumulative | true | Development |\n")
	f.Add("### a.b\n| 1 | Gauge | Double | Development |\n#### Attributes\n| network.type | x |\n## Resource Attributes\n| host.name | y |\n")
	f.Add("### tcp.flow.rtt\n| s | Histogram | Double | Cumulative | - | Development |\n### x\n")
	f.Add("| | Sum |\n### \n###a\n")
	f.Fuzz(func(t *testing.T, doc string) {
		ms, err := Parse(strings.NewReader(doc), "fuzz.md")
		if err != nil {
			return
		}
		for _, m := range ms {
			require.NotEmpty(t, m.Type, m.Name)
			require.NotEmpty(t, m.PrometheusNames())
		}
	})
}

// Log events (### connprobe.ping.burst under "## Events") and resource
// attributes are not metrics; metrics after them still are.
func TestParseSkipsOtherSections(t *testing.T) {
	doc := "## Default Metrics\n\n### a.b\n\n| Unit | Metric Type | Value Type |\n| ---- | ----------- | ---------- |\n| 1 | Gauge | Int |\n\n" +
		"## Events\n\n### a.event\n\nsome text\n\n" +
		"## Optional Metrics\n\n### c.d\n\n| Unit | Metric Type | Value Type | Monotonic |\n| ---- | ----------- | ---------- | --------- |\n| By | Sum | Int | true |\n"
	ms, err := Parse(strings.NewReader(doc), "doc.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a.b" || ms[1].Name != "c.d" || !ms[1].Monotonic {
		t.Errorf("parsed %+v, want a.b and monotonic c.d", ms)
	}
}
