// Command extract-configs writes every Collector configuration the
// manifests run (the ConfigMap key each container's --config resolves to)
// to OUTDIR/<kind>-<name>-<container>.yaml, with the environment it needs
// in a .env file beside it: one NAME=VALUE per line, the manifest's literal
// value or a dummy for values that come from the cluster (fieldRef,
// Secrets). test/deploy/validate-configs.sh runs the real distribution's
// `validate` on each.
//
//	go run ./cmd/extract-configs MANIFEST_DIR OUTDIR
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/netstack-otel/netstack/deploy/kubernetes/validate"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: extract-configs MANIFEST_DIR OUTDIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "extract-configs: %v\n", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	objs, err := validate.LoadDir(dir)
	if err != nil {
		return err
	}
	cfgs, errs := validate.CollectorConfigs(objs)
	if len(errs) > 0 {
		return errs[0]
	}
	if len(cfgs) == 0 {
		return fmt.Errorf("no collector configuration found in %s", dir)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, c := range cfgs {
		base := filepath.Join(out, strings.ToLower(strings.ReplaceAll(c.Workload, "/", "-"))+"-"+c.Container)
		if err := os.WriteFile(base+".yaml", []byte(c.Data), 0o644); err != nil {
			return err
		}
		var lines []string
		for _, name := range validate.EnvRefs(c.Data) {
			v, ok := c.Env[name]
			if !ok {
				return fmt.Errorf("%s container %s: ${env:%s} is not in the container's env", c.Workload, c.Container, name)
			}
			if v == "" {
				v = dummy(name)
			}
			lines = append(lines, name+"="+v)
		}
		sort.Strings(lines)
		if err := os.WriteFile(base+".env", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Println(base + ".yaml")
	}
	return nil
}

// dummy is a syntactically valid stand-in for a value the cluster provides.
func dummy(name string) string {
	switch {
	case strings.HasSuffix(name, "_IP"):
		return "127.0.0.1"
	case strings.HasSuffix(name, "_URL"):
		return "https://remote-write.example.invalid/api/v1/write"
	case strings.HasSuffix(name, "_ENDPOINT"):
		return "otlp.example.invalid:4317"
	case strings.HasSuffix(name, "_REGION"):
		return "ap-guangzhou"
	case strings.HasSuffix(name, "_NAME"):
		return "node-1"
	}
	return "dummy-" + strings.ToLower(name)
}
