//go:generate mdatagen metadata.yaml
//go:generate go run ../../internal/cmd/docextra documentation.md histograms.md
//go:generate go run ../../internal/cmd/docextra documentation.md events.md

// Package connprobereceiver probes target hosts continuously: ICMP echo
// bursts over one shared socket per address family, traceroutes with
// route-change detection, TCP port scans and DNS resolution, reported as
// connprobe.* metrics. It also reads connvitals-monitor configuration
// files. In a logs pipeline it sends each finished burst, trace, port
// probe and route change as a log record.
package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"
