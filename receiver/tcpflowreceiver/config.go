package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"

	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/internal/explicithist"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/metadata"
	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

// Sampling modes (tcp_probe_plus `full`=1 / `full`=0).
const (
	SamplingEveryAck     = "every_ack"
	SamplingOnCwndChange = "on_cwnd_change"
)

// Aggregation levels.
const (
	AggregationFlow      = "flow"       // one series per connection
	AggregationPeer      = "peer"       // per remote address (or peer_groups CIDR)
	AggregationLocalPort = "local_port" // per service: listening port, or the peer's port for outgoing flows
	AggregationNone      = "none"       // per IP version only
)

// Fallbacks when the eBPF probe cannot be loaded.
const (
	FallbackNone     = "none"     // start fails, naming what is missing
	FallbackDisable  = "disable"  // start succeeds, one log line, no flow metrics
	FallbackSockdiag = "sockdiag" // poll struct tcp_info through NETLINK_SOCK_DIAG each scrape
)

// maxFlowsLimit bounds max_flows: each tracked flow holds ~270 bytes of socket storage.
const maxFlowsLimit = 1 << 20

// Config is the tcpflow receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// netns restricts the receiver to the flows of this network namespace
	// (/run/netns/NAME, /proc/PID/ns/net); empty = the collector's own.
	// root_path (a host procfs mounted in a container) watches the host's
	// namespace, PID 1's there.
	netnsutil.Config `mapstructure:",squash"`
	// all_netns watches the flows of every network namespace on the host,
	// each namespace's series and events under a resource of its own
	// (netns.inode, netns.path, and the pod or container it belongs to:
	// k8s.pod.uid, container.id, process.pid, netns.host). root_path then
	// says where the host's procfs is, whose processes name and attribute
	// the namespaces. max_netns bounds the namespaces listed (named,
	// attributed and, on kernels that refuse the storage-map iterator,
	// read); flows of others keep only netns.inode.
	podattr.ListConfig `mapstructure:",squash"`
	// Sampling is every_ack (a sample per received segment) or
	// on_cwnd_change (only when the congestion window changed).
	Sampling string `mapstructure:"sampling"`
	// MinSampleInterval is the shortest time between two samples of one flow.
	MinSampleInterval time.Duration `mapstructure:"min_sample_interval"`
	// IdleTimeout removes a flow from the table after this long without
	// traffic (it is re-admitted when traffic resumes); 0 keeps flows until
	// they close.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxFlows caps the kernel's flow table; flows beyond it are not tracked
	// and their events are counted as dropped (reason table_full).
	MaxFlows int `mapstructure:"max_flows"`
	// LocalPorts, PeerPorts and PeerCIDRs filter flows in the kernel (at most
	// 8 each); empty means all.
	LocalPorts []int    `mapstructure:"local_ports"`
	PeerPorts  []int    `mapstructure:"peer_ports"`
	PeerCIDRs  []string `mapstructure:"peer_cidrs"`
	// Ports keeps only flows with one of these ports at either end
	// (tcp_probe_plus `port`); at most 8, empty means all.
	Ports []int `mapstructure:"ports"`
	// MaxSamplesPerSecond caps the samples streamed to a logs pipeline,
	// over all flows; 0 = no cap. Samples over it are counted in
	// tcp.flow.probe.dropped (sample_rate_limit).
	MaxSamplesPerSecond int `mapstructure:"max_samples_per_second"`
	// Logs configures what a logs pipeline receives.
	Logs LogsConfig `mapstructure:"logs"`

	// Aggregation reduces attributes before export: flow, peer, local_port, none.
	Aggregation string `mapstructure:"aggregation"`
	// PeerGroups reports a peer address inside one of these CIDRs as the CIDR.
	PeerGroups []string `mapstructure:"peer_groups"`
	// EphemeralPortMin: ports at or above it are ephemeral and dropped from
	// the attributes unless aggregation is flow (Linux default range starts
	// at 32768).
	EphemeralPortMin int `mapstructure:"ephemeral_port_min"`
	// TopK keeps only the K series with the most retransmits (then bytes);
	// 0 keeps all.
	TopK int `mapstructure:"top_k"`

	// Fallback is what to do when the eBPF probe cannot be loaded (no BTF,
	// no CAP_BPF/CAP_PERFMON, old kernel): none fails start, disable logs it
	// once and reports nothing, sockdiag logs it once and polls tcp_info.
	Fallback string `mapstructure:"fallback"`

	// LifetimeHistogram configures tcp.flow.lifetime, the histogram of
	// closed flows' durations in seconds (built by hand: see README).
	LifetimeHistogram explicithist.Config `mapstructure:"lifetime_histogram"`
	// RTTHistogram exports tcp.flow.rtt, the srtt samples counted in the
	// kernel in fixed power-of-two buckets (1 µs .. 2^30 µs).
	RTTHistogram RTTHistogramConfig `mapstructure:"rtt_histogram"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// LogsConfig is the event stream sent to a logs pipeline.
type LogsConfig struct {
	// Samples streams one tcp.probe.sample record per sample.
	Samples bool `mapstructure:"samples"`
	// FlowClose sends one tcp.flow.close summary per closed flow.
	FlowClose bool `mapstructure:"flow_close"`
	// RingSize is the kernel's sample ring buffer in bytes: a power of two,
	// 4096 .. 1 GiB (about 128 bytes per sample).
	RingSize int `mapstructure:"ring_size"`
	// FlushInterval is the longest a sample waits in the ring before it is
	// read and sent (the kernel wakes the reader earlier when the ring is a
	// quarter full).
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// MaxBatch is the most records sent in one ConsumeLogs call.
	MaxBatch int `mapstructure:"max_batch"`
}

// RTTHistogramConfig switches tcp.flow.rtt; its buckets are fixed by the
// kernel side (log2 of srtt in µs).
type RTTHistogramConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// Validate checks the configuration; errors name the offending field.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Sampling != SamplingEveryAck && cfg.Sampling != SamplingOnCwndChange {
		errs = append(errs, fmt.Errorf("sampling: %q is not one of %s, %s", cfg.Sampling, SamplingEveryAck, SamplingOnCwndChange))
	}
	if cfg.MinSampleInterval < 0 {
		errs = append(errs, errors.New("min_sample_interval: must not be negative"))
	}
	if cfg.IdleTimeout < 0 {
		errs = append(errs, errors.New("idle_timeout: must not be negative"))
	}
	if cfg.MaxFlows <= 0 || cfg.MaxFlows > maxFlowsLimit {
		errs = append(errs, fmt.Errorf("max_flows: %d is not in 1..%d", cfg.MaxFlows, maxFlowsLimit))
	}
	if _, err := ports("local_ports", cfg.LocalPorts); err != nil {
		errs = append(errs, err)
	}
	if _, err := ports("peer_ports", cfg.PeerPorts); err != nil {
		errs = append(errs, err)
	}
	if _, err := ports("ports", cfg.Ports); err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxSamplesPerSecond < 0 {
		errs = append(errs, errors.New("max_samples_per_second: must not be negative (0 = no cap)"))
	}
	if n := cfg.Logs.RingSize; n < 4096 || n > 1<<30 || n&(n-1) != 0 {
		errs = append(errs, fmt.Errorf("logs.ring_size: %d is not a power of two in 4096..1073741824", n))
	}
	if cfg.Logs.FlushInterval <= 0 {
		errs = append(errs, errors.New("logs.flush_interval: must be positive"))
	}
	if cfg.Logs.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("logs.max_batch: %d is not positive", cfg.Logs.MaxBatch))
	}
	if _, err := prefixes("peer_cidrs", cfg.PeerCIDRs, probe.MaxCIDRs); err != nil {
		errs = append(errs, err)
	}
	if _, err := prefixes("peer_groups", cfg.PeerGroups, 1024); err != nil {
		errs = append(errs, err)
	}
	switch cfg.Aggregation {
	case AggregationFlow, AggregationPeer, AggregationLocalPort, AggregationNone:
	default:
		errs = append(errs, fmt.Errorf("aggregation: %q is not one of flow, peer, local_port, none", cfg.Aggregation))
	}
	if cfg.EphemeralPortMin < 1 || cfg.EphemeralPortMin > 65536 {
		errs = append(errs, fmt.Errorf("ephemeral_port_min: %d is not in 1..65536 (65536 disables collapsing)", cfg.EphemeralPortMin))
	}
	if cfg.TopK < 0 {
		errs = append(errs, errors.New("top_k: must not be negative (0 keeps all series)"))
	}
	if cfg.Fallback != FallbackNone && cfg.Fallback != FallbackDisable && cfg.Fallback != FallbackSockdiag {
		errs = append(errs, fmt.Errorf("fallback: %q is not one of none, disable, sockdiag", cfg.Fallback))
	}
	if err := cfg.Conflict(cfg.Config); err != nil {
		errs = append(errs, err)
	}
	if cfg.AllNetNS && cfg.Fallback == FallbackSockdiag {
		errs = append(errs, errors.New("fallback: sockdiag cannot be used with all_netns: sock_diag answers for the namespace it is asked in, so it would have to enter every namespace each scrape (use none or disable)"))
	}
	if err := cfg.LifetimeHistogram.Validate("lifetime_histogram.buckets"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func ports(field string, in []int) ([]uint16, error) {
	if len(in) > probe.MaxPorts {
		return nil, fmt.Errorf("%s: %d ports, at most %d (filtered in the kernel)", field, len(in), probe.MaxPorts)
	}
	out := make([]uint16, 0, len(in))
	for i, p := range in {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s[%d]: %d is not a port", field, i, p)
		}
		out = append(out, uint16(p))
	}
	return out, nil
}

func prefixes(field string, in []string, limit int) ([]netip.Prefix, error) {
	if len(in) > limit {
		return nil, fmt.Errorf("%s: %d CIDRs, at most %d", field, len(in), limit)
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// probeConfig is the kernel-side part of the configuration (Validate passed).
// nsPath is the path to enter for the watched namespace ("" for ours).
func (cfg *Config) probeConfig(netnsCookie uint64, nsPath string) probe.Config {
	lp, _ := ports("local_ports", cfg.LocalPorts)
	pp, _ := ports("peer_ports", cfg.PeerPorts)
	pc, _ := prefixes("peer_cidrs", cfg.PeerCIDRs, probe.MaxCIDRs)
	ep, _ := ports("ports", cfg.Ports)
	return probe.Config{
		Ports:             ep,
		MaxSamplesPerSec:  uint64(cfg.MaxSamplesPerSecond),
		SampleRingSize:    cfg.Logs.RingSize,
		OnCwndChange:      cfg.Sampling == SamplingOnCwndChange,
		MinSampleInterval: cfg.MinSampleInterval,
		IdleTimeout:       cfg.IdleTimeout,
		MaxFlows:          uint32(cfg.MaxFlows),
		NetnsCookie:       netnsCookie,
		NetnsPath:         nsPath,
		LocalPorts:        lp,
		PeerPorts:         pp,
		PeerCIDRs:         pc,
	}
}
