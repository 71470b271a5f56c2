// Package tencentcloudmonitorexporter sends metrics to Tencent Cloud Monitor
// custom metrics through the PutMonitorData API (monitor, 2018-07-24).
//
// Cumulative sums are turned into per-minute deltas before they are queued,
// so the (optionally persistent) sending queue holds exactly what will be
// sent; the sender splits requests at the API's 30 pairs, paces them under
// the API's request rate and maps Tencent's error codes to permanent or
// retryable errors for exporterhelper.
package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

//go:generate mdatagen metadata.yaml
