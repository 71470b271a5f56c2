// Command querycheck evaluates every query of a Grafana dashboard through a
// real Prometheus server's HTTP API (/api/v1/query) and fails, naming the
// panel, when a query is rejected or returns no series. Template variables
// are replaced by match-everything values; label_values() variables are
// checked too. It retries the queries that have no data yet until -wait
// runs out, so it can start right after the scrapes begin.
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
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// check is one query to evaluate and what to call it in messages.
type check struct {
	name, expr string
}

func main() {
	promURL := flag.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	wait := flag.Duration("wait", 60*time.Second, "keep retrying queries without data this long")
	rateInterval := flag.String("rate-interval", "30s", "value for $__rate_interval")
	rangeValue := flag.String("range", "1h", "value for $__range")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: querycheck [flags] DASHBOARD.json")
		os.Exit(2)
	}
	checks, err := load(flag.Arg(0), map[string]string{"__rate_interval": *rateInterval, "__range": *rangeValue})
	if err != nil {
		fmt.Fprintf(os.Stderr, "querycheck: %v\n", err)
		os.Exit(1)
	}
	failed := run(*promURL, checks, *wait)
	if failed > 0 {
		fmt.Printf("querycheck: FAIL: %d of %d queries returned no series\n", failed, len(checks))
		os.Exit(1)
	}
	fmt.Printf("querycheck: ok: all %d queries of %s returned series\n", len(checks), flag.Arg(0))
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// load reads the dashboard and returns every panel query and every
// label_values() variable query, with variables substituted.
func load(path string, builtins map[string]string) ([]check, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	values := map[string]string{}
	for k, v := range builtins {
		values[k] = v
	}
	var checks []check
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			values[v.Name] = "prometheus"
		case "custom":
			values[v.Name] = "10" // the only custom variable is a top-k count
		case "query":
			values[v.Name] = ".*"
			q, err := variableQuery(v)
			if err != nil {
				return nil, fmt.Errorf("%s: variable %q: %w", path, v.Name, err)
			}
			checks = append(checks, check{name: "variable " + v.Name, expr: q})
		default:
			return nil, fmt.Errorf("%s: variable %q: type %q not handled", path, v.Name, v.Type)
		}
	}
	ids := map[int]string{}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				return fmt.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			if len(p.Targets) == 0 {
				return fmt.Errorf("panel %q has no queries", p.Title)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %q query %s is empty", p.Title, t.RefID)
				}
				checks = append(checks, check{name: fmt.Sprintf("panel %q query %s", p.Title, t.RefID), expr: t.Expr})
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range checks {
		expr, err := substitute(checks[i].expr, values)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, checks[i].name, err)
		}
		checks[i].expr = expr
	}
	return checks, nil
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// variableQuery turns label_values(SELECTOR, LABEL) into a query that returns
// one series per value.
func variableQuery(v variable) (string, error) {
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		var s string
		if err2 := json.Unmarshal(v.Query, &s); err2 != nil {
			return "", err
		}
		q.Query = s
	}
	m := labelValues.FindStringSubmatch(strings.TrimSpace(q.Query))
	if m == nil {
		return "", fmt.Errorf("query %q is not label_values(selector, label)", q.Query)
	}
	return fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), nil
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

// run evaluates the checks, retrying those without data until wait has
// passed; it prints one line per check and returns how many failed.
func run(base string, checks []check, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	pending := checks
	results := map[string]string{}
	for {
		var again []check
		for _, c := range pending {
			n, err := query(base, c.expr)
			switch {
			case err != nil && errors.Is(err, errBadQuery):
				results[c.name] = fmt.Sprintf("FAIL %s: %v\n    %s", c.name, err, c.expr)
			case err != nil || n == 0:
				why := "no series"
				if err != nil {
					why = err.Error()
				}
				results[c.name] = fmt.Sprintf("FAIL %s: %s\n    %s", c.name, why, c.expr)
				again = append(again, c)
			default:
				results[c.name] = fmt.Sprintf("ok   %s: %d series", c.name, n)
			}
		}
		pending = again
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	failed := 0
	for _, c := range checks {
		r := results[c.name]
		if strings.HasPrefix(r, "FAIL") {
			failed++
		}
		fmt.Println(r)
	}
	return failed
}

var errBadQuery = errors.New("query rejected by Prometheus")

func query(base, expr string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		if body.ErrorType == "bad_data" {
			return 0, fmt.Errorf("%w: %s", errBadQuery, body.Error)
		}
		return 0, fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, body.ErrorType, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return 0, fmt.Errorf("%w: result type %q, want an instant vector", errBadQuery, body.Data.ResultType)
	}
	return len(body.Data.Result), nil
}
