// Command querycheck evaluates every query of a Grafana dashboard through a
// real Prometheus server's HTTP API (/api/v1/query) and fails, naming the
// panel, when a query is rejected or returns no series. It retries the
// queries that have no data yet until -wait runs out, so it can start right
// after the scrapes begin.
//
// Variables are resolved in the dashboard's order, as Grafana does, each
// label_values() query evaluated with the variables before it; it fails
// when its selector matches no series. A variable then stands for "All"
// (its allValue, ".*"), except those listed in -need-values: they must have
// values, and stand for every value they returned, as the regex
// alternation Grafana sends for a multi-value selection. So
// test/dashboards/run.sh, whose pods have names, passes
// -need-values namespace,pod and every per-pod panel must return series of
// those pods, while where no series carries a pod name (a bare host,
// test/deploy/e2e.sh) the per-pod panels are checked with All. Panels
// listed in -pending are evaluated once at the end: a rejected query still
// fails, no series only says "pending".
//
//	querycheck -prometheus http://127.0.0.1:9090 -wait 60s dashboards/netstack.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // collapsed rows keep their panels here
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Query    json.RawMessage `json:"query"`
	AllValue string          `json:"allValue"`
}

// check is one query to evaluate and what to call it in messages.
type check struct {
	name, expr string
	panel      string // the panel's title; "" for a variable
}

// queryVar is a label_values() variable: expr returns one series per value
// of label.
type queryVar struct {
	name, expr, label, all string
}

// plan is what load found: values known without Prometheus (data source,
// custom, built-ins), the query variables in dashboard order, and the panel
// queries, all with variables still in them.
type plan struct {
	values map[string]string
	vars   []queryVar
	checks []check
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func main() {
	promURL := flag.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	wait := flag.Duration("wait", 60*time.Second, "keep retrying queries without data this long")
	rateInterval := flag.String("rate-interval", "30s", "value for $__rate_interval")
	rangeValue := flag.String("range", "1h", "value for $__range")
	needValues := flag.String("need-values", "", "comma-separated variables that must have values, each then standing for all its values instead of All")
	var pending listFlag
	flag.Var(&pending, "pending", "title of a panel whose queries may return no series yet (repeatable); its queries must still be accepted")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: querycheck [flags] DASHBOARD.json")
		os.Exit(2)
	}
	p, err := load(flag.Arg(0), map[string]string{"__rate_interval": *rateInterval, "__range": *rangeValue})
	if err == nil {
		err = p.validateLists(splitList(*needValues), pending)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "querycheck: %v\n", err)
		os.Exit(1)
	}
	r := runner{base: *promURL, deadline: time.Now().Add(*wait), needValues: set(splitList(*needValues)), pending: set(pending)}
	failed, total := r.run(p)
	if failed > 0 {
		fmt.Printf("querycheck: FAIL: %d of %d checks failed\n", failed, total)
		os.Exit(1)
	}
	fmt.Printf("querycheck: ok: all %d checks of %s passed\n", total, flag.Arg(0))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func set(l []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range l {
		m[s] = true
	}
	return m
}

// varRef matches $name, ${name} and ${name:format}; a name starts with a
// letter or underscore, so label_replace's "$1" is not a variable (Grafana
// leaves it alone too).
var varRef = regexp.MustCompile(`\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)`)

// load reads the dashboard and returns its variables and panel queries;
// every variable a query uses must be defined before it is used.
func load(path string, builtins map[string]string) (*plan, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &plan{values: map[string]string{}}
	for k, v := range builtins {
		p.values[k] = v
	}
	// known stands in for every value while checking that each query's
	// variables are defined.
	known := map[string]string{}
	for k, v := range p.values {
		known[k] = v
	}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			p.values[v.Name] = "prometheus"
		case "custom":
			p.values[v.Name] = "10" // the only custom variable is a top-k count
		case "query":
			expr, label, err := variableQuery(v)
			if err == nil {
				_, err = substitute(expr, known)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: variable %q: %w", path, v.Name, err)
			}
			all := v.AllValue
			if all == "" {
				all = ".*"
			}
			p.vars = append(p.vars, queryVar{name: v.Name, expr: expr, label: label, all: all})
		default:
			return nil, fmt.Errorf("%s: variable %q: type %q not handled", path, v.Name, v.Type)
		}
		known[v.Name] = "x"
	}
	ids := map[int]string{}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, pn := range ps {
			if prev, dup := ids[pn.ID]; dup {
				return fmt.Errorf("panels %q and %q share id %d", prev, pn.Title, pn.ID)
			}
			ids[pn.ID] = pn.Title
			if pn.Type == "row" {
				if err := walk(pn.Panels); err != nil {
					return err
				}
				continue
			}
			if len(pn.Targets) == 0 {
				return fmt.Errorf("panel %q has no queries", pn.Title)
			}
			for _, t := range pn.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %q query %s is empty", pn.Title, t.RefID)
				}
				c := check{name: fmt.Sprintf("panel %q query %s", pn.Title, t.RefID), expr: t.Expr, panel: pn.Title}
				if _, err := substitute(c.expr, known); err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				p.checks = append(p.checks, c)
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// validateLists checks that -need-values names query variables and
// -pending names panels of the dashboard, so a typo cannot waive a check.
func (p *plan) validateLists(needValues, pending []string) error {
	vars, panels := map[string]bool{}, map[string]bool{}
	for _, v := range p.vars {
		vars[v.name] = true
	}
	for _, c := range p.checks {
		panels[c.panel] = true
	}
	for _, v := range needValues {
		if !vars[v] {
			return fmt.Errorf("-need-values: %q is not a query variable of the dashboard", v)
		}
	}
	for _, t := range pending {
		if !panels[t] {
			return fmt.Errorf("-pending: no panel titled %q", t)
		}
	}
	return nil
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// variableQuery turns label_values(SELECTOR, LABEL) into a query that returns
// one series per value of LABEL, and LABEL.
func variableQuery(v variable) (expr, label string, err error) {
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		var s string
		if err2 := json.Unmarshal(v.Query, &s); err2 != nil {
			return "", "", err
		}
		q.Query = s
	}
	m := labelValues.FindStringSubmatch(strings.TrimSpace(q.Query))
	if m == nil {
		return "", "", fmt.Errorf("query %q is not label_values(selector, label)", q.Query)
	}
	return fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), m[2], nil
}

func substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return out, nil
}

// multiValue is what Grafana puts in a Prometheus query for a selection of
// several values: each regex-escaped (the backslashes doubled for the
// PromQL string), joined as an alternation.
func multiValue(vals []string) string {
	esc := make([]string, len(vals))
	for i, v := range vals {
		esc[i] = strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

type runner struct {
	base       string
	deadline   time.Time
	needValues map[string]bool
	pending    map[string]bool
	query      func(base, expr string) ([]map[string]string, error) // nil: Prometheus
}

func (r *runner) eval(expr string) ([]map[string]string, error) {
	if r.query != nil {
		return r.query(r.base, expr)
	}
	return query(r.base, expr)
}

// run resolves the variables, then evaluates the panel queries, retrying
// those without data until the deadline; it prints one line per check and
// returns how many failed and how many there were.
func (r *runner) run(p *plan) (failed, total int) {
	values := map[string]string{}
	for k, v := range p.values {
		values[k] = v
	}
	var lines []string
	for _, v := range p.vars {
		expr, err := substitute(v.expr, values)
		need := r.needValues[v.name]
		var vals []string
		var series int
		if err == nil {
			vals, series, err = r.labelValues(expr, v.label, need)
		}
		values[v.name] = v.all
		switch {
		case err == nil && need && len(vals) > 0:
			values[v.name] = multiValue(vals)
			lines = append(lines, fmt.Sprintf("ok   variable %s: %d values, all selected: %s", v.name, len(vals), strings.Join(vals, " ")))
		case err == nil && !need && series > 0:
			got := "no values"
			if len(vals) > 0 {
				got = fmt.Sprintf("%d values %s", len(vals), strings.Join(vals, " "))
			}
			lines = append(lines, fmt.Sprintf("ok   variable %s: %s; All (%s) used", v.name, got, v.all))
		default:
			why := "no series"
			if need {
				why = "no values (-need-values)"
			}
			if err != nil {
				why = err.Error()
			}
			failed++
			lines = append(lines, fmt.Sprintf("FAIL variable %s: %s\n    %s", v.name, why, expr))
		}
	}
	var checks, later []check
	for _, c := range p.checks {
		expr, err := substitute(c.expr, values)
		if err != nil { // load checked that every variable is defined
			failed++
			lines = append(lines, fmt.Sprintf("FAIL %s: %v", c.name, err))
			continue
		}
		c.expr = expr
		if r.pending[c.panel] {
			later = append(later, c)
		} else {
			checks = append(checks, c)
		}
	}
	results := map[string]string{}
	todo := checks
	for {
		var again []check
		for _, c := range todo {
			res, err := r.eval(c.expr)
			switch {
			case err != nil && errors.Is(err, errBadQuery):
				results[c.name] = fmt.Sprintf("FAIL %s: %v\n    %s", c.name, err, c.expr)
			case err != nil || len(res) == 0:
				why := "no series"
				if err != nil {
					why = err.Error()
				}
				results[c.name] = fmt.Sprintf("FAIL %s: %s\n    %s", c.name, why, c.expr)
				again = append(again, c)
			default:
				results[c.name] = fmt.Sprintf("ok   %s: %d series", c.name, len(res))
			}
		}
		todo = again
		if len(todo) == 0 || time.Now().After(r.deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	// Pending panels once, now that the others have data.
	for _, c := range later {
		res, err := r.eval(c.expr)
		switch {
		case err != nil:
			results[c.name] = fmt.Sprintf("FAIL %s: %v\n    %s", c.name, err, c.expr)
		case len(res) == 0:
			results[c.name] = fmt.Sprintf("pending %s: no series (-pending)", c.name)
		default:
			results[c.name] = fmt.Sprintf("ok   %s: %d series (-pending)", c.name, len(res))
		}
	}
	for _, c := range p.checks {
		res, ok := results[c.name]
		if !ok {
			continue // counted above
		}
		if strings.HasPrefix(res, "FAIL") {
			failed++
		}
		lines = append(lines, res)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	return failed, len(p.vars) + len(p.checks)
}

// labelValues evaluates a variable's query until it returns series (with
// need, series with a value of label) or the deadline passes; it returns
// the values, sorted, and how many series there were.
func (r *runner) labelValues(expr, label string, need bool) ([]string, int, error) {
	for {
		res, err := r.eval(expr)
		if err != nil && errors.Is(err, errBadQuery) {
			return nil, 0, err
		}
		var vals []string
		for _, m := range res {
			if v := m[label]; v != "" { // series without the label give no value
				vals = append(vals, v)
			}
		}
		sort.Strings(vals)
		if len(vals) > 0 || (!need && len(res) > 0) || time.Now().After(r.deadline) {
			return vals, len(res), err
		}
		time.Sleep(2 * time.Second)
	}
}

var errBadQuery = errors.New("query rejected by Prometheus")

// query evaluates expr as an instant query and returns each result's
// labels.
func query(base, expr string) ([]map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		if body.ErrorType == "bad_data" {
			return nil, fmt.Errorf("%w: %s", errBadQuery, body.Error)
		}
		return nil, fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, body.ErrorType, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("%w: result type %q, want an instant vector", errBadQuery, body.Data.ResultType)
	}
	out := make([]map[string]string, len(body.Data.Result))
	for i, res := range body.Data.Result {
		out[i] = res.Metric
	}
	return out, nil
}
