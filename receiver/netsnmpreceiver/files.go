package netsnmpreceiver // import "github.com/netstack-otel/netstack/receiver/netsnmpreceiver"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// counterFiles are one namespace's counter files, opened once (they stay
// bound to the namespace they were opened in) and read from offset 0 at
// every scrape.
type counterFiles struct {
	files [numFiles]*os.File // nil: not needed, or not present
	fds   [numFiles]int      // raw descriptors of files, for pread
}

// set takes the files opened for the tables which names (fileNames[which[k]]
// is files[k], or errs[k] when it failed). Tables that do not exist (snmp6
// without IPv6) stay nil and are returned; any other error closes every
// file and is returned.
func (f *counterFiles) set(which []int, files []*os.File, errs []error) (missing []int, err error) {
	for k, i := range which {
		f.files[i] = files[k]
		switch {
		case errs[k] == nil:
			f.fds[i] = int(files[k].Fd())
		case errors.Is(errs[k], os.ErrNotExist):
			missing = append(missing, i)
		default:
			err = errors.Join(err, fmt.Errorf("opening %s: %w", fileNames[i], errs[k]))
		}
	}
	if err == nil && len(missing) == len(which) && len(which) > 0 {
		err = fmt.Errorf("none of %s could be opened: %w", strings.Join(wantedNames(which), ", "), os.ErrNotExist)
	}
	if err != nil {
		f.close()
	}
	return missing, err
}

func wantedNames(which []int) []string {
	names := make([]string, len(which))
	for k, i := range which {
		names[k] = fileNames[i]
	}
	return names
}

func (f *counterFiles) close() {
	for i, file := range f.files {
		if file != nil {
			_ = file.Close()
			f.files[i] = nil
		}
	}
}

// read reads a whole file from offset 0 into the reused buffer *buf
// (grown as needed); the bytes are valid until the next read. The kernel
// formats these files afresh on every read from the start.
func (f *counterFiles) read(file int, buf *[]byte) ([]byte, error) {
	for {
		n, err := readFull(f.fds[file], *buf)
		if err != nil {
			return nil, err
		}
		if n < len(*buf) {
			return (*buf)[:n], nil
		}
		*buf = make([]byte, 2*len(*buf))
	}
}

// procFiles is where the counters of the configured namespace come from
// (netns, root_path or the collector's own; all_netns is in allnetns.go):
// its files, which namespace that is, and noticing it recreated.
type procFiles struct {
	counterFiles
	ns     netnsutil.Config
	logger *zap.Logger
	which  []int // the files needed

	target *netnsutil.Target // the namespace the files were opened in
}

func newProcFiles(cfg *Config, logger *zap.Logger, which []int) *procFiles {
	return &procFiles{ns: cfg.Config, logger: logger, which: which}
}

// open opens the needed files in the configured namespace or procfs and
// records which namespace they belong to.
func (p *procFiles) open() error {
	target, err := p.ns.Open()
	if err != nil {
		return err
	}
	p.target = target
	files, errs, err := target.OpenNet(wantedNames(p.which)...)
	if err != nil {
		return err
	}
	missing, err := p.set(p.which, files, errs)
	if err != nil {
		return fmt.Errorf("%s: %w", p.where(), err)
	}
	for _, i := range missing {
		// Reported once here, then skipped: no IPv6 means no snmp6.
		p.logger.Warn("counter file not present, its counters will not be reported", zap.String("file", p.describe(i)))
	}
	return nil
}

// where names what is read (netns.path): the netns path, the procfs
// directory, or the collector's own namespace.
func (p *procFiles) where() string { return p.ns.Label() }

// inode identifies the namespace read (netns.inode).
func (p *procFiles) inode() uint64 {
	if p.target == nil {
		return 0
	}
	return p.target.Inode()
}

// describe names one file for messages.
func (p *procFiles) describe(file int) string {
	switch {
	case p.ns.NetNS != "":
		return fmt.Sprintf("/proc/net/%s in netns %s", fileNames[file], p.ns.NetNS)
	case p.ns.RootPath != "":
		return filepath.Join(p.where(), fileNames[file])
	}
	return "/proc/net/" + fileNames[file]
}

// recreated notices a namespace that was deleted and recreated under the
// same path (a restarted container): the files are reopened in the new
// one, and the caller starts the counters over.
func (p *procFiles) recreated() (bool, error) {
	if p.ns == (netnsutil.Config{}) {
		return false, nil // our own namespace cannot change under us
	}
	changed, err := p.target.Changed()
	if !changed || err != nil {
		return false, err
	}
	old := p.target.Inode()
	p.close()
	if err := p.open(); err != nil {
		return true, err
	}
	p.logger.Info("network namespace was recreated; counters start over",
		zap.String("netns", p.where()), zap.Uint64("old_inode", old), zap.Uint64("new_inode", p.target.Inode()))
	return true, nil
}
