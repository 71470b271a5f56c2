package sockstatereceiver

import (
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"

	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/metadata"
)

// Method is how connection states are counted: auto or one of kcount's.
type Method = kcount.Method

// Counting methods, best first. Auto picks the best one that works.
const (
	MethodAuto     Method = "auto"
	MethodEvents          = kcount.MethodEvents
	MethodIterator        = kcount.MethodIterator
	MethodSockDiag        = kcount.MethodSockDiag
	MethodProcfs          = kcount.MethodProcfs
)

// Config is the sockstate receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Method is auto, events, iterator, sockdiag or procfs.
	Method Method `mapstructure:"method"`
	// netns: a network namespace to read (/run/netns/NAME or
	// /proc/PID/ns/net); empty for the collector's own. root_path: a host
	// procfs mount (e.g. /hostfs/proc); the host's namespace is then read
	// through PID 1 there, and all_netns walks that procfs.
	netnsutil.Config `mapstructure:",squash"`
	// all_netns reads every network namespace of the host (the
	// collector's own, /run/netns/* and the distinct namespaces of the
	// processes), at most max_netns of them; it validates itself.
	podattr.ListConfig `mapstructure:",squash"`
	// ListenPorts limits the listen-queue metrics to these local ports;
	// empty means every listener, at most MaxListeners of them.
	ListenPorts  []uint16 `mapstructure:"listen_ports"`
	MaxListeners int      `mapstructure:"max_listeners"`
	// Ports are local ports whose sockets are also counted per port
	// (system.network.connection.local_port.count), at most 64.
	Ports []uint16 `mapstructure:"ports"`
	// ResyncInterval is how often the events method recounts everything
	// with an iterator pass and reports the drift.
	ResyncInterval time.Duration `mapstructure:"resync_interval"`

	_ struct{}
}

const maxPorts = 64

// Validate checks the configuration; errors name the offending field.
func (c *Config) Validate() error {
	var errs []error
	switch c.Method {
	case MethodAuto, MethodEvents, MethodIterator, MethodSockDiag, MethodProcfs:
	default:
		errs = append(errs, fmt.Errorf("method: %q is not one of auto, events, iterator, sockdiag, procfs", c.Method))
	}
	if err := c.Conflict(c.Config); err != nil {
		errs = append(errs, err)
	}
	if c.MaxListeners < 0 {
		errs = append(errs, fmt.Errorf("max_listeners: must not be negative, got %d", c.MaxListeners))
	}
	if len(c.Ports) > maxPorts {
		errs = append(errs, fmt.Errorf("ports: at most %d ports, got %d", maxPorts, len(c.Ports)))
	}
	for i, p := range c.Ports {
		if p == 0 {
			errs = append(errs, errors.New("ports: port 0 is not a port"))
		}
		if slices.Contains(c.Ports[:i], p) {
			errs = append(errs, fmt.Errorf("ports: port %d listed twice", p))
		}
	}
	for _, p := range c.ListenPorts {
		if p == 0 {
			errs = append(errs, errors.New("listen_ports: port 0 is not a port"))
		}
	}
	if c.ResyncInterval < time.Second {
		errs = append(errs, fmt.Errorf("resync_interval: must be at least 1s, got %s", c.ResyncInterval))
	}
	return errors.Join(errs...)
}
