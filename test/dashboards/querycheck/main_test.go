package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadDashboards: every dashboard in dashboards/ loads, every query has
// all its variables substituted, and there is at least one query per panel.
func TestLoadDashboards(t *testing.T) {
	files, err := filepath.Glob("../../../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found: %v", err)
	}
	for _, f := range files {
		p, err := load(f, map[string]string{"__rate_interval": "30s", "__range": "1h"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.checks) < 10 {
			t.Errorf("%s: only %d queries", f, len(p.checks))
		}
		values := map[string]string{}
		for k, v := range p.values {
			values[k] = v
		}
		for _, v := range p.vars {
			values[v.name] = v.all
		}
		for _, c := range p.checks {
			expr, err := substitute(c.expr, values)
			if err != nil {
				t.Errorf("%s: %s: %v", f, c.name, err)
			}
			if m := varRef.FindString(expr); m != "" {
				t.Errorf("%s: %s: unsubstituted variable %s in %s", f, c.name, m, expr)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, json, want string }{
		{"undefined variable", `{"panels":[{"id":1,"type":"timeseries","title":"A","targets":[{"refId":"A","expr":"up{job=~\"$nope\"}"}]}]}`, "undefined variables [nope]"},
		{"variable used before it is defined", `{"templating":{"list":[{"name":"a","type":"query","query":"label_values(up{job=~\"$b\"}, x)"},{"name":"b","type":"query","query":"label_values(up, job)"}]},"panels":[]}`, `variable "a": undefined variables [b]`},
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
	got, label, err := variableQuery(variable{Name: "i", Query: []byte(`{"query":"label_values(up{job=~\"$job\"}, instance)"}`)})
	if err != nil || got != `count by (instance) (up{job=~"$job"})` || label != "instance" {
		t.Errorf("variableQuery = %q, %q, %v", got, label, err)
	}
	got, label, err = variableQuery(variable{Name: "j", Query: []byte(`"label_values(up, job)"`)})
	if err != nil || got != `count by (job) (up)` || label != "job" {
		t.Errorf("variableQuery (string form) = %q, %q, %v", got, label, err)
	}
}

func TestMultiValue(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"web-0"}, `web-0`},
		{[]string{"127.0.0.1:8889", "api"}, `(127\\.0\\.0\\.1:8889|api)`},
	} {
		if got := multiValue(tt.in); got != tt.want {
			t.Errorf("multiValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// podDashboard is a dashboard with a pod variable and per-pod panels.
const podDashboard = `{"templating":{"list":[
 {"name":"datasource","type":"datasource"},
 {"name":"pod","type":"query","allValue":".*","query":"label_values(conn{ns=~\".*\"}, k8s_pod_name)"}]},
 "panels":[
 {"id":1,"type":"row","title":"R","panels":[]},
 {"id":2,"type":"timeseries","title":"TIME_WAIT, top pods","targets":[{"refId":"A","expr":"label_replace(tw{k8s_pod_name=~\"$pod\"}, \"owner\", \"$1\", \"k8s_pod_name\", \"(.+)\")"}]},
 {"id":3,"type":"timeseries","title":"Retransmits, top pods","targets":[{"refId":"A","expr":"retrans{k8s_pod_name=~\"$pod\"}"}]}]}`

// fakeProm answers the queries of podDashboard: pods holds the pod names
// that conn and tw carry, retrans is whether retrans has pod series.
func fakeProm(pods []string, retrans bool) func(string, string) ([]map[string]string, error) {
	return func(_, expr string) ([]map[string]string, error) {
		var out []map[string]string
		switch {
		case strings.HasPrefix(expr, "count by (k8s_pod_name) (conn"):
			out = append(out, map[string]string{}) // the host: no pod name
			for _, p := range pods {
				out = append(out, map[string]string{"k8s_pod_name": p})
			}
		case strings.HasPrefix(expr, "label_replace(tw{"):
			if strings.Contains(expr, `k8s_pod_name=~".*"`) || len(pods) > 0 {
				out = append(out, map[string]string{"owner": "x"})
			}
		case strings.HasPrefix(expr, "retrans{"):
			if retrans || strings.Contains(expr, `=~".*"`) {
				out = append(out, map[string]string{})
			}
		}
		return out, nil
	}
}

// loadPodDashboard loads podDashboard from a file, as querycheck would.
func loadPodDashboard(t *testing.T) *plan {
	t.Helper()
	f := filepath.Join(t.TempDir(), "d.json")
	if err := os.WriteFile(f, []byte(podDashboard), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunPods(t *testing.T) {
	p := loadPodDashboard(t)
	var seen []string
	run := func(pods []string, retrans bool, needValues, pending []string) int {
		seen = nil
		q := fakeProm(pods, retrans)
		r := runner{deadline: time.Now(), needValues: set(needValues), pending: set(pending),
			query: func(b, e string) ([]map[string]string, error) { seen = append(seen, e); return q(b, e) }}
		failed, total := r.run(p)
		if total != 3 {
			t.Errorf("total = %d, want 3 (1 variable, 2 queries)", total)
		}
		return failed
	}
	need := []string{"pod"}
	// The pods' names stand for the variable: both panels see them.
	if n := run([]string{"web-0", "api.v2"}, true, need, nil); n != 0 {
		t.Errorf("pods with series: %d failed", n)
	}
	if !strings.Contains(strings.Join(seen, "\n"), `retrans{k8s_pod_name=~"(api\\.v2|web-0)"}`) {
		t.Errorf("the pod variable was not the alternation of its values: %q", seen)
	}
	// A per-pod panel without pod series fails, unless it is pending.
	if n := run([]string{"web-0"}, false, need, nil); n != 1 {
		t.Errorf("retransmits without pod series: %d failed, want 1", n)
	}
	if n := run([]string{"web-0"}, false, need, []string{"Retransmits, top pods"}); n != 0 {
		t.Errorf("retransmits pending: %d failed, want 0", n)
	}
	// No pod names: the variable fails with -need-values; without, it is
	// All and the panels are checked with .*.
	if n := run(nil, false, need, nil); n != 1 {
		t.Errorf("no pods, -need-values pod: %d failed, want 1 (the variable)", n)
	}
	if n := run(nil, false, nil, nil); n != 0 {
		t.Errorf("no pods: %d failed, want 0", n)
	}
	if !strings.Contains(strings.Join(seen, "\n"), `retrans{k8s_pod_name=~".*"}`) {
		t.Errorf("the pod variable was not All: %q", seen)
	}
}

func TestValidateLists(t *testing.T) {
	p := loadPodDashboard(t)
	if err := p.validateLists([]string{"pod"}, []string{"Retransmits, top pods"}); err != nil {
		t.Error(err)
	}
	if err := p.validateLists([]string{"pdo"}, nil); err == nil || !strings.Contains(err.Error(), `-need-values: "pdo" is not a query variable`) {
		t.Errorf("typo in -need-values: %v", err)
	}
	if err := p.validateLists(nil, []string{"Retransmit, top pods"}); err == nil || !strings.Contains(err.Error(), `no panel titled "Retransmit, top pods"`) {
		t.Errorf("typo in -pending: %v", err)
	}
}
