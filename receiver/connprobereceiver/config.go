package connprobereceiver // import "github.com/netstack-otel/netstack/receiver/connprobereceiver"

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/connmonitor"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/engine"
	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// Config of the connprobe receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// netns: the network namespace to probe from (/run/netns/NAME or
	// /proc/PID/ns/net); empty = the collector's own. root_path: a host
	// procfs mounted in a container; probes then go out from the host's
	// namespace (PID 1's there), entered unless it is the collector's own.
	netnsutil.Config `mapstructure:",squash"`
	// Defaults apply to every target (and to connmonitor_file entries)
	// for each option the target does not set.
	Defaults ProbeConfig `mapstructure:"defaults"`
	// Targets to probe.
	Targets []TargetConfig `mapstructure:"targets"`
	// ConnmonitorFile is a connvitals-monitor configuration file whose
	// hosts are probed too; it is re-read when it changes.
	ConnmonitorFile string `mapstructure:"connmonitor_file"`
	// ConnmonitorCheckInterval is how often the file is checked for
	// changes.
	ConnmonitorCheckInterval time.Duration `mapstructure:"connmonitor_check_interval"`
	// PingHistogram configures connprobe.ping.duration (bounds in seconds).
	PingHistogram explicithist.Config `mapstructure:"ping_histogram"`
	// ErrorLogInterval is the least time between two log lines about the
	// same target and error type.
	ErrorLogInterval time.Duration `mapstructure:"error_log_interval"`
	// Logs configures the records sent to a logs pipeline.
	Logs LogsConfig `mapstructure:"logs"`

	_ struct{}
}

// LogsConfig configures the event records of a logs pipeline.
type LogsConfig struct {
	// QueueSize bounds the results waiting for the logs pipeline; a result
	// that finds the queue full is dropped and counted in
	// connprobe.log_records.dropped, so a slow pipeline never stalls the
	// probes.
	QueueSize int `mapstructure:"queue_size"`
	// MaxBatch is the most records sent in one ConsumeLogs call.
	MaxBatch int `mapstructure:"max_batch"`
}

// TargetConfig is one probed host.
type TargetConfig struct {
	// Host is an IP address or a DNS name.
	Host string `mapstructure:"host"`
	// Name is the connprobe.target attribute; the host when empty.
	Name        string `mapstructure:"name"`
	ProbeConfig `mapstructure:",squash"`
}

// ProbeConfig holds the probe options; unset fields inherit.
type ProbeConfig struct {
	// IPFamily: ipv4, ipv6 or both (every resolved address is probed).
	IPFamily     string      `mapstructure:"ip_family"`
	Ping         PingConfig  `mapstructure:"ping"`
	Trace        TraceConfig `mapstructure:"trace"`
	Scan         ScanConfig  `mapstructure:"scan"`
	DNS          DNSConfig   `mapstructure:"dns"`
	TTL          *int        `mapstructure:"ttl"`
	TOS          *int        `mapstructure:"tos"`
	DontFragment *bool       `mapstructure:"dont_fragment"`
	// JSON and Timestamp are connvitals' output options: the body of each
	// log record is connvitals' JSON object (json) or its plain text, with
	// or without the completion time (timestamp).
	JSON      *bool `mapstructure:"json"`
	Timestamp *bool `mapstructure:"timestamp"`
}

// PingConfig configures echo bursts.
type PingConfig struct {
	// Interval between burst starts; 0 = off.
	Interval *time.Duration `mapstructure:"interval"`
	// Count of echo requests per burst.
	Count *int `mapstructure:"count"`
	// PayloadSize in bytes after the ICMP header.
	PayloadSize *int `mapstructure:"payload_size"`
	// Timeout for the replies, counted from the last request of a burst.
	Timeout *time.Duration `mapstructure:"timeout"`
	// Spacing between the requests of one burst.
	Spacing *time.Duration `mapstructure:"spacing"`
}

// TraceConfig configures traceroutes.
type TraceConfig struct {
	// Interval between trace starts; 0 = off. A trace starts only after
	// the previous one finished.
	Interval *time.Duration `mapstructure:"interval"`
	MaxHops  *int           `mapstructure:"max_hops"`
	// Protocol: icmp (needs CAP_NET_RAW), udp or tcp.
	Protocol string `mapstructure:"protocol"`
	// Port is the destination port for udp and tcp.
	Port *int `mapstructure:"port"`
	// SourcePort fixes the source port for udp and tcp (0 = a fixed one
	// derived from the target), so the 5-tuple never changes.
	SourcePort   *int           `mapstructure:"source_port"`
	ProbesPerHop *int           `mapstructure:"probes_per_hop"`
	Timeout      *time.Duration `mapstructure:"timeout"`
	// Pace is the least time between two probes of one trace.
	Pace *time.Duration `mapstructure:"pace"`
}

// ScanConfig configures TCP port scans.
type ScanConfig struct {
	// Interval between scans; 0 = off.
	Interval *time.Duration `mapstructure:"interval"`
	Ports    []int          `mapstructure:"ports"`
	Timeout  *time.Duration `mapstructure:"timeout"`
}

// DNSConfig configures name re-resolution.
type DNSConfig struct {
	// Interval between resolutions of a name; 0 = resolve once.
	Interval *time.Duration `mapstructure:"interval"`
	// Server ("addr:port") to ask instead of those in /etc/resolv.conf.
	Server string `mapstructure:"server"`
}

// Built-in defaults: connvitals-monitor's, plus what it does not have.
var builtin = engine.Target{
	IPFamily:          "both",
	PingInterval:      connmonitor.DefaultPing,
	PingCount:         connmonitor.DefaultNumPings,
	PingPayload:       connmonitor.DefaultPayload,
	PingTimeout:       time.Second,
	PingSpacing:       10 * time.Millisecond,
	TraceInterval:     connmonitor.DefaultTrace,
	TraceMaxHops:      connmonitor.DefaultHops,
	TraceProtocol:     "icmp",
	TracePort:         33434,
	TraceProbesPerHop: 3,
	TraceTimeout:      time.Second,
	TracePace:         100 * time.Millisecond,
	ScanInterval:      connmonitor.DefaultScan,
	ScanPorts:         []uint16{22, 80, 443},
	ScanTimeout:       time.Second,
	DNSInterval:       5 * time.Minute,
}

func pick[T any](v, def *T, fallback T) T {
	if v != nil {
		return *v
	}
	if def != nil {
		return *def
	}
	return fallback
}

func pickString(v, def, fallback string) string {
	if v != "" {
		return v
	}
	if def != "" {
		return def
	}
	return fallback
}

// resolve applies p over d over the built-in defaults.
func resolve(name, host string, p, d ProbeConfig) engine.Target {
	b := builtin
	t := engine.Target{
		Name:              name,
		Host:              host,
		IPFamily:          pickString(p.IPFamily, d.IPFamily, b.IPFamily),
		PingInterval:      pick(p.Ping.Interval, d.Ping.Interval, b.PingInterval),
		PingCount:         pick(p.Ping.Count, d.Ping.Count, b.PingCount),
		PingPayload:       pick(p.Ping.PayloadSize, d.Ping.PayloadSize, b.PingPayload),
		PingTimeout:       pick(p.Ping.Timeout, d.Ping.Timeout, b.PingTimeout),
		PingSpacing:       pick(p.Ping.Spacing, d.Ping.Spacing, b.PingSpacing),
		TraceInterval:     pick(p.Trace.Interval, d.Trace.Interval, b.TraceInterval),
		TraceMaxHops:      pick(p.Trace.MaxHops, d.Trace.MaxHops, b.TraceMaxHops),
		TraceProtocol:     pickString(p.Trace.Protocol, d.Trace.Protocol, b.TraceProtocol),
		TracePort:         uint16(pick(p.Trace.Port, d.Trace.Port, int(b.TracePort))),
		TraceSourcePort:   uint16(pick(p.Trace.SourcePort, d.Trace.SourcePort, 0)),
		TraceProbesPerHop: pick(p.Trace.ProbesPerHop, d.Trace.ProbesPerHop, b.TraceProbesPerHop),
		TraceTimeout:      pick(p.Trace.Timeout, d.Trace.Timeout, b.TraceTimeout),
		TracePace:         pick(p.Trace.Pace, d.Trace.Pace, b.TracePace),
		ScanInterval:      pick(p.Scan.Interval, d.Scan.Interval, b.ScanInterval),
		ScanTimeout:       pick(p.Scan.Timeout, d.Scan.Timeout, b.ScanTimeout),
		DNSInterval:       pick(p.DNS.Interval, d.DNS.Interval, b.DNSInterval),
		DNSServer:         pickString(p.DNS.Server, d.DNS.Server, ""),
		TTL:               pick(p.TTL, d.TTL, 0),
		TOS:               pick(p.TOS, d.TOS, 0),
		DontFragment:      pick(p.DontFragment, d.DontFragment, false),
	}
	if t.Name == "" {
		t.Name = host
	}
	// connvitals-monitor's defaults: plain text, with the time.
	t.Tag = bodyFormat{JSON: pick(p.JSON, d.JSON, false), Timestamp: pick(p.Timestamp, d.Timestamp, true)}
	ports := p.Scan.Ports
	if ports == nil {
		ports = d.Scan.Ports
	}
	if ports == nil {
		t.ScanPorts = append([]uint16(nil), b.ScanPorts...)
	} else {
		t.ScanPorts = make([]uint16, len(ports))
		for i, port := range ports {
			t.ScanPorts[i] = uint16(port)
		}
	}
	if t.TraceSourcePort == 0 && t.TraceProtocol != "icmp" {
		t.TraceSourcePort = sourcePortFor(name, host)
	}
	return t
}

// sourcePortFor derives a fixed source port (in 40000-59999) from the
// target, so that restarts keep the same 5-tuple too.
func sourcePortFor(name, host string) uint16 {
	var h uint32 = 2166136261
	for _, c := range []byte(engine.Key(name, host)) {
		h = (h ^ uint32(c)) * 16777619
	}
	return uint16(40000 + h%20000)
}

// fromConnmonitor turns a connmonitor file entry into a target: the
// file's options (ms values, 0 = off) over the YAML defaults.
func fromConnmonitor(e connmonitor.Entry, d ProbeConfig) engine.Target {
	ping, trace, scan := e.Ping, e.Trace, e.Scan
	p := ProbeConfig{
		Ping:      PingConfig{Interval: &ping, Count: &e.NumPings, PayloadSize: &e.Payload},
		Trace:     TraceConfig{Interval: &trace, MaxHops: &e.Hops},
		Scan:      ScanConfig{Interval: &scan},
		JSON:      e.JSON,
		Timestamp: e.Timestamp,
	}
	return resolve("", e.Host, p, d)
}

// engineTargets builds the YAML targets (the connmonitor file is added
// at Start).
func (cfg *Config) engineTargets() []engine.Target {
	out := make([]engine.Target, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		out = append(out, resolve(t.Name, t.Host, t.ProbeConfig, cfg.Defaults))
	}
	return out
}

// Validate checks every option and names the field at fault.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Targets) == 0 && cfg.ConnmonitorFile == "" {
		errs = append(errs, errors.New("targets: at least one target (or connmonitor_file) is required"))
	}
	errs = append(errs, validateProbe("defaults", cfg.Defaults)...)
	seen := map[string]int{}
	for i, t := range cfg.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if t.Host == "" {
			errs = append(errs, fmt.Errorf("%s.host: must not be empty", field))
		}
		errs = append(errs, validateProbe(field, t.ProbeConfig)...)
		k := resolve(t.Name, t.Host, ProbeConfig{}, ProbeConfig{}).Key()
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: same name and host as targets[%d]; give one a distinct name", field, j))
		}
		seen[k] = i
	}
	if cfg.ConnmonitorCheckInterval < 0 {
		errs = append(errs, errors.New("connmonitor_check_interval: must not be negative"))
	}
	if cfg.ErrorLogInterval < 0 {
		errs = append(errs, errors.New("error_log_interval: must not be negative"))
	}
	if cfg.Logs.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("logs.queue_size: %d is not positive", cfg.Logs.QueueSize))
	}
	if cfg.Logs.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("logs.max_batch: %d is not positive", cfg.Logs.MaxBatch))
	}
	if err := cfg.PingHistogram.Validate("ping_histogram.buckets"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateProbe(field string, p ProbeConfig) []error {
	var errs []error
	check := func(ok bool, sub, msg string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s.%s: %s", field, sub, fmt.Sprintf(msg, args...)))
		}
	}
	inRange := func(v *int, sub string, lo, hi int) {
		if v != nil {
			check(*v >= lo && *v <= hi, sub, "%d is not between %d and %d", *v, lo, hi)
		}
	}
	nonNeg := func(v *time.Duration, sub string) {
		if v != nil {
			check(*v >= 0, sub, "must not be negative")
		}
	}
	positive := func(v *time.Duration, sub string) {
		if v != nil {
			check(*v > 0, sub, "must be positive")
		}
	}
	switch p.IPFamily {
	case "", "ipv4", "ipv6", "both":
	default:
		check(false, "ip_family", "%q is not one of ipv4, ipv6, both", p.IPFamily)
	}
	nonNeg(p.Ping.Interval, "ping.interval")
	inRange(p.Ping.Count, "ping.count", 1, connmonitor.MaxNumPings)
	inRange(p.Ping.PayloadSize, "ping.payload_size", 0, connmonitor.MaxPayload)
	positive(p.Ping.Timeout, "ping.timeout")
	nonNeg(p.Ping.Spacing, "ping.spacing")
	nonNeg(p.Trace.Interval, "trace.interval")
	inRange(p.Trace.MaxHops, "trace.max_hops", 1, 255)
	switch p.Trace.Protocol {
	case "", "icmp", "udp", "tcp":
	default:
		check(false, "trace.protocol", "%q is not one of icmp, udp, tcp", p.Trace.Protocol)
	}
	inRange(p.Trace.Port, "trace.port", 1, 65535)
	inRange(p.Trace.SourcePort, "trace.source_port", 0, 65535)
	inRange(p.Trace.ProbesPerHop, "trace.probes_per_hop", 1, 10)
	positive(p.Trace.Timeout, "trace.timeout")
	nonNeg(p.Trace.Pace, "trace.pace")
	nonNeg(p.Scan.Interval, "scan.interval")
	for i, port := range p.Scan.Ports {
		check(port >= 1 && port <= 65535, fmt.Sprintf("scan.ports[%d]", i), "%d is not a TCP port (1-65535)", port)
	}
	positive(p.Scan.Timeout, "scan.timeout")
	nonNeg(p.DNS.Interval, "dns.interval")
	if p.DNS.Server != "" {
		_, err := netip.ParseAddrPort(p.DNS.Server)
		check(err == nil, "dns.server", "%q is not an IP address and port (%v)", p.DNS.Server, err)
	}
	inRange(p.TTL, "ttl", 1, 255)
	inRange(p.TOS, "tos", 0, 255)
	return errs
}
