// Package docs holds the user documentation; its test checks the metric
// names docs/migrating.md promises.
package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netstack-otel/netstack/internal/metricdocs"
)

// cells splits a markdown table row into its cells (a `\|` inside a cell is
// a pipe, not a separator).
func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	parts := strings.Split(strings.ReplaceAll(row, `\|`, "\x00"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(parts[i], "\x00", "|"))
	}
	return parts
}

// Every row of every table in migrating.md maps to at least one netstack
// metric, and every netstack metric it names is documented (under its
// Prometheus name: the receivers' documentation.md, the nstat family).
func TestMigratingNamesExist(t *testing.T) {
	text, err := os.ReadFile("migrating.md")
	require.NoError(t, err)
	ms, err := metricdocs.Load(filepath.Join(".."))
	require.NoError(t, err)
	names := metricdocs.Index(ms)

	rows := 0
	var header []string
	for i, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		c := cells(line)
		switch {
		case header == nil:
			header = c
			require.GreaterOrEqual(t, len(c), 2, "line %d: a table needs the old name and ours", i+1)
			require.Contains(t, c[1], "netstack", "line %d: the second column is netstack's", i+1)
			continue
		case strings.Trim(line, "|-: ") == "":
			continue
		}
		rows++
		require.Len(t, c, len(header), "line %d: %d cells, header has %d", i+1, len(c), len(header))
		ours := c[1]
		refs := metricdocs.PromRefs(ours)
		require.NotEmpty(t, refs, "line %d: no netstack metric in %q", i+1, ours)
		require.Empty(t, names.Missing(ours), "line %d: not documented by any receiver", i+1)
		for _, ref := range metricdocs.OTelRefs(ours) {
			_, ok := names.OTel[ref]
			require.True(t, ok || metricdocs.IsNstat(ref), "line %d: %s is no documented metric", i+1, ref)
		}
	}
	require.Greater(t, rows, 50, "the tables were not found")
}

// The guide covers every tool the issue names.
func TestMigratingCoversTools(t *testing.T) {
	text, err := os.ReadFile("migrating.md")
	require.NoError(t, err)
	for _, section := range []string{
		"## node_exporter netstat collector", "## node_exporter sockstat collector", "## node_exporter tcpstat collector",
		"## Telegraf `nstat` input", "## Telegraf `ping` input", "## Telegraf `net_response` input",
		"## smokeping_prober", "## blackbox_exporter", "## OpenTelemetry hostmetrics receiver", "## Zabbix `ss` UserParameters",
	} {
		require.Contains(t, string(text), "\n"+section, "docs/migrating.md lacks %q", section)
	}
}
