package netnsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// OwnNamespace is how a target in the collector's own network namespace is
// labelled (netns.path).
const OwnNamespace = "/proc/self/ns/net"

// Config is the namespace block every component embeds with
// `mapstructure:",squash"`: which network namespace it reads or works in.
type Config struct {
	// NetNS is the path of a network namespace (/run/netns/NAME,
	// /proc/PID/ns/net) to use instead of the collector's own. Entering it
	// needs CAP_SYS_ADMIN.
	NetNS string `mapstructure:"netns"`
	// RootPath is where the host's procfs is mounted inside a container
	// (/host/proc), or a host filesystem root with proc below it
	// (/hostfs): the host's namespace is then PID 1's there, and its
	// /proc/net tables are read at <root_path>/1/net without entering it.
	RootPath string `mapstructure:"root_path"`
}

// Validate checks the block; errors name the field.
func (c Config) Validate() error {
	var errs []error
	if c.NetNS != "" && c.RootPath != "" {
		errs = append(errs, errors.New("netns and root_path: set at most one (root_path reads the host's namespace through PID 1 of a host procfs)"))
	}
	if c.NetNS != "" && !filepath.IsAbs(c.NetNS) {
		errs = append(errs, fmt.Errorf("netns: %q is not an absolute path (/run/netns/NAME or /proc/PID/ns/net)", c.NetNS))
	}
	if c.RootPath != "" && !filepath.IsAbs(c.RootPath) {
		errs = append(errs, fmt.Errorf("root_path: %q is not an absolute path", c.RootPath))
	}
	return errors.Join(errs...)
}

// Label is the value of netns.path for the configured namespace: the
// netns path, the /proc/net directory read below root_path (<root>/1/net),
// or OwnNamespace.
func (c Config) Label() string {
	switch {
	case c.NetNS != "":
		return c.NetNS
	case c.RootPath != "":
		if dir, err := ProcNetDir(c.RootPath); err == nil {
			return dir
		}
		return filepath.Join(c.RootPath, "1", "net")
	}
	return OwnNamespace
}

// OpenFiles opens the named files of a /proc/net directory, each with its
// own error (a table that does not exist, such as snmp6 without IPv6, is
// nil with an error wrapping os.ErrNotExist). Opened in
// /proc/thread-self/net or <procfs>/PID/net, the files stay bound to that
// namespace and may be read anywhere.
func OpenFiles(dir string, names ...string) ([]*os.File, []error) {
	files := make([]*os.File, len(names))
	errs := make([]error, len(names))
	for i, name := range names {
		files[i], errs[i] = os.Open(filepath.Join(dir, name))
	}
	return files, errs
}
