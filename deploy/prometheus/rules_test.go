// Package prometheus holds the Prometheus alerting and recording rules for
// netstack metrics (alerts.yaml, rules.yaml) and their tests; it has no Go
// code of its own.
package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/netstack-otel/netstack/internal/metricdocs"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), path)
}

func alertNames(t *testing.T) []string {
	var f ruleFile
	readYAML(t, "alerts.yaml", &f)
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s: alerts.yaml holds alerts only (recording rules go to rules.yaml)", g.Name)
			names = append(names, r.Alert)
		}
	}
	require.NotEmpty(t, names)
	return names
}

// Every alert has a severity, a summary, a description and a runbook_url
// pointing at its own section of docs/runbooks.md.
func TestAlertsDocumented(t *testing.T) {
	runbooks, err := os.ReadFile(filepath.Join("..", "..", "docs", "runbooks.md"))
	require.NoError(t, err)
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\w+)$`).FindAllStringSubmatch(string(runbooks), -1) {
		sections[m[1]] = true
	}
	var f ruleFile
	readYAML(t, "alerts.yaml", &f)
	seen := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			require.False(t, seen[r.Alert], "alert %s declared twice", r.Alert)
			seen[r.Alert] = true
			require.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], "alert %s: severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], "alert %s: summary", r.Alert)
			require.NotEmpty(t, r.Annotations["description"], "alert %s: description", r.Alert)
			require.Equal(t, "https://github.com/netstack-otel/netstack/blob/main/docs/runbooks.md#"+strings.ToLower(r.Alert),
				r.Annotations["runbook_url"], "alert %s: runbook_url", r.Alert)
			require.True(t, sections[r.Alert], "docs/runbooks.md has no section '## %s'", r.Alert)
		}
	}
	for s := range sections {
		require.True(t, seen[s], "docs/runbooks.md has a section for %s, which is no alert", s)
	}
}

// Every alert has a unit test where it fires and one where it stays quiet.
func TestAlertsHaveFiringAndQuietCases(t *testing.T) {
	var u unitTests
	readYAML(t, filepath.Join("tests", "alerts_test.yaml"), &u)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range u.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, name := range alertNames(t) {
		require.True(t, firing[name], "tests/alerts_test.yaml: no case where %s fires", name)
		require.True(t, quiet[name], "tests/alerts_test.yaml: no case where %s stays quiet", name)
	}
}

// Every netstack series the rules query is a documented metric, under the
// name the prometheus exporter gives it.
func TestRulesUseDocumentedMetrics(t *testing.T) {
	ms, err := metricdocs.Load(filepath.Join("..", ".."))
	require.NoError(t, err)
	names := metricdocs.Index(ms)
	for _, file := range []string{"rules.yaml", "alerts.yaml"} {
		var f ruleFile
		readYAML(t, file, &f)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				require.Empty(t, names.Missing(r.Expr), "%s: %s%s uses series no receiver documents", file, r.Alert, r.Record)
			}
		}
	}
}

// promtool (Debian's prometheus package) checks the syntax and runs the
// unit tests.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus; make deps installs it)")
	}
	for _, args := range [][]string{
		{"check", "rules", "rules.yaml", "alerts.yaml"},
		{"test", "rules", filepath.Join("tests", "alerts_test.yaml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
	}
}
