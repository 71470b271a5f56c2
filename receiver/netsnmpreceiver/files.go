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

// procFiles is where the counters come from: the counter files opened in
// the configured network namespace or procfs, which namespace that is,
// and reading them. Everything about namespaces in this receiver is here.
type procFiles struct {
	ns     netnsutil.Config
	logger *zap.Logger
	needed [numFiles]bool

	target *netnsutil.Target  // the namespace the files were opened in
	files  [numFiles]*os.File // nil: not needed, or not present
	fds    [numFiles]int      // raw descriptors of files, for pread
	buf    []byte
}

func newProcFiles(cfg *Config, logger *zap.Logger, needed [numFiles]bool) *procFiles {
	return &procFiles{ns: cfg.Config, logger: logger, needed: needed, buf: make([]byte, 64<<10)}
}

// open opens the needed files in the configured namespace or procfs and
// records which namespace they belong to.
func (p *procFiles) open() error {
	var names []string
	var which []int
	for i, need := range p.needed {
		if need {
			names = append(names, fileNames[i])
			which = append(which, i)
		}
	}
	target, err := p.ns.Open()
	if err != nil {
		return err
	}
	p.target = target
	files, errs, err := target.OpenNet(names...)
	if err != nil {
		return err
	}
	opened := 0
	for k, i := range which {
		p.files[i] = files[k]
		switch {
		case errs[k] == nil:
			p.fds[i] = int(files[k].Fd())
			opened++
		case errors.Is(errs[k], os.ErrNotExist):
			// Reported once here, then skipped: no IPv6 means no snmp6.
			p.logger.Warn("counter file not present, its counters will not be reported",
				zap.String("file", p.describe(i)), zap.Error(errs[k]))
		default:
			p.close()
			return fmt.Errorf("opening %s: %w", p.describe(i), errs[k])
		}
	}
	if opened == 0 && len(which) > 0 {
		return fmt.Errorf("none of %s could be opened in %s", strings.Join(names, ", "), p.where())
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

func (p *procFiles) close() {
	for i, f := range p.files {
		if f != nil {
			_ = f.Close()
			p.files[i] = nil
		}
	}
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

// read reads a whole file from offset 0 into the reused buffer; the bytes
// are valid until the next read. The kernel formats these files afresh on
// every read from the start.
func (p *procFiles) read(file int) ([]byte, error) {
	for {
		n, err := readFull(p.fds[file], p.buf)
		if err != nil {
			return nil, err
		}
		if n < len(p.buf) {
			return p.buf[:n], nil
		}
		p.buf = make([]byte, 2*len(p.buf))
	}
}
