// Package netsnmpreceiver turns every counter of /proc/net/snmp,
// /proc/net/netstat and /proc/net/snmp6 into OpenTelemetry metrics.
//
//go:generate mdatagen metadata.yaml
package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"
