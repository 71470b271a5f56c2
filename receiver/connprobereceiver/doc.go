//go:generate mdatagen metadata.yaml
//go:generate go run ../../internal/cmd/docextra documentation.md histograms.md

// Package connprobereceiver probes target hosts continuously: ICMP echo
// bursts over one shared socket per address family, traceroutes with
// route-change detection, TCP port scans and DNS resolution, reported as
// connprobe.* metrics. It also reads connvitals-monitor configuration
// files.
package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"
