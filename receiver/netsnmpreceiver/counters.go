package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The files the receiver reads, in read order.
const (
	fileSNMP = iota
	fileNetstat
	fileSNMP6
	numFiles
)

var fileNames = [numFiles]string{"snmp", "netstat", "snmp6"}

// fileFormats is the layout of each file.
var fileFormats = [numFiles]procnet.Format{procnet.FormatTable, procnet.FormatTable, procnet.FormatNameValue}

// nonCounters are the values in these files that are not counters: nstat
// hides the first seven as "useless numbers"; MPTcpExtMPCurrEstab is a
// count of current connections. They are gauges in the nstat family and
// never trigger reset detection.
var nonCounters = map[string]bool{
	"IpForwarding": true, "IpDefaultTTL": true,
	"TcpRtoAlgorithm": true, "TcpRtoMin": true, "TcpRtoMax": true, "TcpMaxConn": true,
	"TcpCurrEstab": true, "MPTcpExtMPCurrEstab": true,
}

type recordFunc func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64)

// curatedMetric maps one kernel counter to one data point of a metric
// declared in metadata.yaml.
type curatedMetric struct {
	section string // procnet.Counter.Section of the counter
	counter string
	file    int
	enabled func(*metadata.MetricsConfig) bool
	record  recordFunc
}

var (
	receive  = metadata.AttributeDirectionReceive
	transmit = metadata.AttributeDirectionTransmit
	ipv4     = metadata.AttributeNetworkTypeIpv4
	ipv6     = metadata.AttributeNetworkTypeIpv6
)

func udpMetrics(prefix string, file int, nt metadata.AttributeNetworkType) []curatedMetric {
	return []curatedMetric{
		{prefix, prefix + "InDatagrams", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPDatagrams.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPDatagramsDataPoint(ts, v, receive, nt)
			}},
		{prefix, prefix + "OutDatagrams", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPDatagrams.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPDatagramsDataPoint(ts, v, transmit, nt)
			}},
		{prefix, prefix + "InErrors", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPInErrors.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPInErrorsDataPoint(ts, v, nt)
			}},
		{prefix, prefix + "NoPorts", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPNoPorts.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPNoPortsDataPoint(ts, v, nt)
			}},
		{prefix, prefix + "RcvbufErrors", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPReceiveBufferErrors.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPReceiveBufferErrorsDataPoint(ts, v, nt)
			}},
		{prefix, prefix + "SndbufErrors", file, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkUDPSendBufferErrors.Enabled },
			func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
				mb.RecordSystemNetworkUDPSendBufferErrorsDataPoint(ts, v, nt)
			}},
	}
}

// curatedMetrics is the system.network.* set: the counters operators
// alert on, with semantic names and types.
var curatedMetrics = append([]curatedMetric{
	{"Tcp", "TcpActiveOpens", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPActiveOpens.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPActiveOpensDataPoint},
	{"Tcp", "TcpPassiveOpens", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPPassiveOpens.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPPassiveOpensDataPoint},
	{"Tcp", "TcpAttemptFails", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPAttemptFails.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPAttemptFailsDataPoint},
	{"Tcp", "TcpEstabResets", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPEstablishedResets.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPEstablishedResetsDataPoint},
	{"Tcp", "TcpCurrEstab", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPCurrentEstablished.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPCurrentEstablishedDataPoint},
	{"Tcp", "TcpInSegs", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPSegments.Enabled },
		func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
			mb.RecordSystemNetworkTCPSegmentsDataPoint(ts, v, receive)
		}},
	{"Tcp", "TcpOutSegs", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPSegments.Enabled },
		func(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, v int64) {
			mb.RecordSystemNetworkTCPSegmentsDataPoint(ts, v, transmit)
		}},
	{"Tcp", "TcpRetransSegs", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPRetransmittedSegments.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPRetransmittedSegmentsDataPoint},
	{"Tcp", "TcpOutRsts", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPResetsSent.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPResetsSentDataPoint},
	{"Tcp", "TcpInErrs", fileSNMP, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPInErrors.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPInErrorsDataPoint},
	{"TcpExt", "TcpExtListenOverflows", fileNetstat, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPListenOverflows.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPListenOverflowsDataPoint},
	{"TcpExt", "TcpExtListenDrops", fileNetstat, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPListenDrops.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPListenDropsDataPoint},
	{"TcpExt", "TcpExtTCPSynRetrans", fileNetstat, func(m *metadata.MetricsConfig) bool { return m.SystemNetworkTCPSynRetransmits.Enabled },
		(*metadata.MetricsBuilder).RecordSystemNetworkTCPSynRetransmitsDataPoint},
}, append(udpMetrics("Udp", fileSNMP, ipv4), udpMetrics("Udp6", fileSNMP6, ipv6)...)...)
