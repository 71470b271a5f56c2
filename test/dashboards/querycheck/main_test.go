package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDashboards: every dashboard in dashboards/ loads, every query has
// all its variables substituted, and there is at least one query per panel.
func TestLoadDashboards(t *testing.T) {
	files, err := filepath.Glob("../../../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found: %v", err)
	}
	for _, f := range files {
		checks, err := load(f, map[string]string{"__rate_interval": "30s", "__range": "1h"})
		if err != nil {
			t.Fatal(err)
		}
		if len(checks) < 10 {
			t.Errorf("%s: only %d queries", f, len(checks))
		}
		for _, c := range checks {
			if strings.Contains(c.expr, "$") {
				t.Errorf("%s: %s: unsubstituted variable in %s", f, c.name, c.expr)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, json, want string }{
		{"undefined variable", `{"panels":[{"id":1,"type":"timeseries","title":"A","targets":[{"refId":"A","expr":"up{job=~\"$nope\"}"}]}]}`, "undefined variables [nope]"},
		{"duplicate id", `{"panels":[{"id":1,"type":"stat","title":"A","targets":[{"refId":"A","expr":"up"}]},{"id":1,"type":"stat","title":"B","targets":[{"refId":"A","expr":"up"}]}]}`, "share id 1"},
		{"no query", `{"panels":[{"id":1,"type":"stat","title":"A"}]}`, `panel "A" has no queries`},
		{"nested row", `{"panels":[{"id":1,"type":"row","title":"R","panels":[{"id":2,"type":"stat","title":"In row","targets":[{"refId":"A","expr":""}]}]}]}`, `panel "In row" query A is empty`},
		{"bad variable", `{"templating":{"list":[{"name":"v","type":"query","query":"up"}]},"panels":[]}`, "is not label_values(selector, label)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "d.json")
			if err := os.WriteFile(f, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := load(f, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestVariableQuery(t *testing.T) {
	got, err := variableQuery(variable{Name: "i", Query: []byte(`{"query":"label_values(up{job=~\"$job\"}, instance)"}`)})
	if err != nil || got != `count by (instance) (up{job=~"$job"})` {
		t.Errorf("variableQuery = %q, %v", got, err)
	}
	got, err = variableQuery(variable{Name: "j", Query: []byte(`"label_values(up, job)"`)})
	if err != nil || got != `count by (job) (up)` {
		t.Errorf("variableQuery (string form) = %q, %v", got, err)
	}
}
