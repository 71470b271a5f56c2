// Package tcpflowreceiver reports per-flow TCP internals (srtt, cwnd,
// retransmits by cause, queues, bytes) sampled and aggregated in the kernel by
// eBPF, reduced to a bounded number of series before export.
//
//go:generate mdatagen metadata.yaml
//go:generate go run ../../internal/cmd/docextra documentation.md histograms.md
package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"
