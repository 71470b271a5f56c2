// Command docextra adds hand-written sections to an mdatagen documentation.md.
//
// mdatagen v0.159.0 cannot declare histogram metrics, so the receivers that
// build histograms by hand (tcp.flow.rtt, tcp.flow.lifetime,
// connprobe.ping.duration) describe them in a markdown file beside
// metadata.yaml, and `go generate` runs this command right after mdatagen:
//
//	//go:generate go run ../../internal/cmd/docextra documentation.md histograms.md
//
// The extra text goes in front of the first "## Optional Metrics" or
// "## Resource Attributes" heading (so it sits with the default metrics), or
// at the end when there is neither. Extra text that starts with a level-2
// heading is a section of its own (a logs receiver's events, which
// mdatagen's events cannot describe: see connprobe's events.md) and goes at
// the end. Running it twice changes nothing.
package main

import (
	"bytes"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: docextra DOCUMENTATION.md EXTRA.md")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "docextra:", err)
		os.Exit(1)
	}
}

func run(docPath, extraPath string) error {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	extra, err := os.ReadFile(extraPath)
	if err != nil {
		return err
	}
	out, err := insert(doc, extra)
	if err != nil {
		return fmt.Errorf("%s: %w", extraPath, err)
	}
	if bytes.Equal(out, doc) {
		return nil
	}
	return os.WriteFile(docPath, out, 0o644)
}

// insert returns doc with extra placed before the first optional-metrics or
// resource-attributes heading; doc unchanged when it already holds extra.
func insert(doc, extra []byte) ([]byte, error) {
	extra = append(bytes.TrimSpace(extra), '\n', '\n')
	if len(bytes.TrimSpace(extra)) == 0 {
		return nil, fmt.Errorf("empty")
	}
	if bytes.Contains(doc, extra) {
		return doc, nil
	}
	at := len(doc)
	// A section of its own (events of a logs receiver) goes at the end.
	for _, h := range []string{"\n## Optional Metrics\n", "\n## Resource Attributes\n"} {
		if bytes.HasPrefix(extra, []byte("## ")) {
			break
		}
		if i := bytes.Index(doc, []byte(h)); i >= 0 && i+1 < at {
			at = i + 1
		}
	}
	out := make([]byte, 0, len(doc)+len(extra)+1)
	out = append(out, doc[:at]...)
	if at == len(doc) && !bytes.HasSuffix(out, []byte("\n\n")) {
		out = append(out, '\n')
	}
	out = append(out, extra...)
	return append(out, doc[at:]...), nil
}
