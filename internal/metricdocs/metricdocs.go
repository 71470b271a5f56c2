// Package metricdocs reads the metrics the receivers document (their
// generated documentation.md files, with the hand-built histograms
// docextra adds) and derives the names the Collector's Prometheus exporter
// gives them. Tests of the alert rules and the migration guide use it to
// check that every metric name they mention exists.
package metricdocs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Metric is one documented metric.
type Metric struct {
	Name      string // OpenTelemetry name, e.g. system.network.tcp.active_opens
	Unit      string // UCUM unit as documented, e.g. {connection}, By, s, 1
	Type      string // Gauge, Sum or Histogram
	Monotonic bool   // for Sum
	Source    string // documentation.md it came from
	// Attributes are the names of its attributes (network.type, …).
	Attributes []string
}

// PrometheusNames are the series names the prometheus exporter shows for m
// (with unit suffixes and _total; a histogram's _bucket, _sum and _count).
func (m Metric) PrometheusNames() []string {
	base := strings.NewReplacer(".", "_", "-", "_").Replace(m.Name)
	// The unit word is appended unless the name already holds it.
	if suffix := unitSuffix[m.Unit]; suffix != "" && !slices.Contains(strings.Split(base, "_"), suffix) {
		base += "_" + suffix
	}
	switch {
	case m.Type == "Histogram":
		return []string{base + "_bucket", base + "_sum", base + "_count"}
	case m.Type == "Sum" && m.Monotonic:
		return []string{base + "_total"}
	}
	return []string{base}
}

var unitSuffix = map[string]string{"By": "bytes", "s": "seconds", "1": "ratio"}

var (
	heading = regexp.MustCompile(`^### ([a-z][a-z0-9_.]*)$`)
	row     = regexp.MustCompile(`^\| ([^|]+) \| (Gauge|Sum|Histogram) \|(.*)$`)
	attrRow = regexp.MustCompile(`^\| ([a-z][a-z0-9_.]*) \|`)
)

// Parse reads the metrics of one documentation.md: each "### name" heading
// of a "## … Metrics" section followed by a table whose first data row is
// "| unit | type | …".
func Parse(r io.Reader, source string) ([]Metric, error) {
	var out []Metric
	var cur *Metric
	inMetrics := true // until a section that is not mdatagen's "## … Metrics"
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			// "## Default Metrics", "## Optional Metrics"; "## Events" and
			// "## Resource Attributes" name other things under "###".
			inMetrics = strings.HasSuffix(line, " Metrics")
		}
		if !inMetrics {
			cur = nil
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			out = append(out, Metric{Name: m[1], Source: source})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(line, "## ") {
			cur = nil // resource attributes and the like follow
			continue
		}
		if cur.Type != "" {
			if m := attrRow.FindStringSubmatch(line); m != nil {
				cur.Attributes = append(cur.Attributes, m[1])
			}
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			cur.Unit, cur.Type = strings.TrimSpace(m[1]), m[2]
			cur.Monotonic = cur.Type == "Sum" && strings.Contains(m[3], "| true |")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, m := range out {
		if m.Type == "" {
			return nil, fmt.Errorf("%s: metric %s has no unit/type table", source, m.Name)
		}
	}
	return out, nil
}

// Load reads receiver/*/documentation.md under the repository root.
func Load(root string) ([]Metric, error) {
	files, err := filepath.Glob(filepath.Join(root, "receiver", "*", "documentation.md"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no receiver/*/documentation.md under %s", root)
	}
	var all []Metric
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ms, err := Parse(fh, f)
		fh.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	return all, nil
}

// Names indexes metrics by their OpenTelemetry and Prometheus names, and
// holds the Prometheus label names of their attributes.
type Names struct {
	OTel       map[string]Metric
	Prometheus map[string]Metric
	Labels     map[string]bool
}

// Index builds Names from ms.
func Index(ms []Metric) Names {
	n := Names{OTel: map[string]Metric{}, Prometheus: map[string]Metric{}, Labels: map[string]bool{}}
	for _, m := range ms {
		n.OTel[m.Name] = m
		for _, p := range m.PrometheusNames() {
			n.Prometheus[p] = m
		}
		for _, a := range m.Attributes {
			n.Labels[strings.ReplaceAll(a, ".", "_")] = true
		}
	}
	return n
}

// Missing returns the Prometheus-looking references of text that are
// neither a documented metric, an attribute's label nor of the nstat family.
func (n Names) Missing(text string) []string {
	var out []string
	for _, ref := range PromRefs(text) {
		if _, ok := n.Prometheus[ref]; !ok && !n.Labels[ref] && !IsNstat(ref) {
			out = append(out, ref)
		}
	}
	return out
}

// nstatName matches the dynamic nstat.<Name> family (one metric per kernel
// counter, not listed in documentation.md), as OTel or Prometheus name.
var nstatName = regexp.MustCompile(`^nstat[._][A-Z][A-Za-z0-9]+(_total)?$`)

// IsNstat reports whether name belongs to the nstat family of netsnmp.
func IsNstat(name string) bool { return nstatName.MatchString(name) }

// PromRefs are the tokens of text that look like netstack Prometheus series
// names (our prefixes), in order of appearance, without duplicates.
func PromRefs(text string) []string {
	return uniq(promRef.FindAllString(text, -1))
}

// OTelRefs are the tokens of text that look like netstack OpenTelemetry
// metric names (dotted, our prefixes).
func OTelRefs(text string) []string {
	return uniq(otelRef.FindAllString(text, -1))
}

var (
	promRef = regexp.MustCompile(`\b(system_network|tcp_flow|connprobe|sockstate|nstat)_[A-Za-z0-9_]+\b`)
	otelRef = regexp.MustCompile(`\b(system\.network|tcp\.flow|connprobe|sockstate\.events|nstat)\.[A-Za-z0-9_.]*[A-Za-z0-9_]\b`)
)

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
