package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/podattr"

	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/netstack-otel/netstack/receiver/netsnmpreceiver/internal/metadata"
)

// Config is the netsnmp receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// netns: a network namespace to read instead of the collector's own
	// (/run/netns/NAME, /proc/PID/ns/net; entering it needs
	// CAP_SYS_ADMIN). root_path: where the host's procfs is mounted inside
	// a container (/host/proc), or a host filesystem root with proc below
	// it (/hostfs); the host's counters are read at <root_path>/1/net
	// without entering anything.
	netnsutil.Config `mapstructure:",squash"`
	// all_netns reads every network namespace of the host (the
	// collector's own, /run/netns/* and the distinct namespaces of the
	// processes in the procfs, root_path's or /proc), at most max_netns,
	// one resource each, from /proc/PID/net of a process in it; it
	// validates itself.
	podattr.ListConfig `mapstructure:",squash"`
	// Nstat controls the nstat.<Name> family: one metric per kernel
	// counter, named as `nstat -az` prints it.
	Nstat NstatConfig `mapstructure:"nstat"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// NstatConfig selects the counters exported as nstat.<Name>. A counter is
// exported when the family is enabled, its name matches one of Include (or
// Include is empty) and matches none of Exclude. Patterns are Go regular
// expressions matched against the nstat name (e.g. "^TcpExt", "Listen").
type NstatConfig struct {
	Enabled bool     `mapstructure:"enabled"`
	Include []string `mapstructure:"include"`
	Exclude []string `mapstructure:"exclude"`
}

// Validate checks the configuration; errors name the offending field.
func (cfg *Config) Validate() error {
	var errs []error
	if err := cfg.Conflict(cfg.Config); err != nil {
		errs = append(errs, err)
	}
	if _, err := compileAll("nstat.include", cfg.Nstat.Include); err != nil {
		errs = append(errs, err)
	}
	if _, err := compileAll("nstat.exclude", cfg.Nstat.Exclude); err != nil {
		errs = append(errs, err)
	}
	if !cfg.Nstat.Enabled && (len(cfg.Nstat.Include) > 0 || len(cfg.Nstat.Exclude) > 0) {
		errs = append(errs, errors.New("nstat.include/nstat.exclude are set but nstat.enabled is false: set nstat.enabled: true to export the nstat.* family"))
	}
	return errors.Join(errs...)
}

func compileAll(field string, patterns []string) ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, 0, len(patterns))
	var errs []error
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		res = append(res, re)
	}
	return res, errors.Join(errs...)
}
