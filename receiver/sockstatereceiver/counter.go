package sockstatereceiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/netstack-otel/netstack/internal/netnsutil"
	"github.com/netstack-otel/netstack/internal/procnet"
	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// target is one network namespace to read.
type target struct {
	label   string // the netns.path resource attribute
	inode   uint64 // the netns.inode resource attribute; 0 if unknown
	nsPath  string // namespace to enter; "" for the collector's own
	procDir string // a host procfs net directory (root_path); "" to use /proc/thread-self/net inside nsPath
}

// vanished tells whether the target's namespace is gone or was replaced
// since it was listed (all_netns races with `ip netns del` and exiting
// processes).
func (tg *target) vanished() bool {
	if tg.nsPath == "" {
		return false
	}
	ino, err := netnsutil.Inode(tg.nsPath)
	return err != nil || (tg.inode != 0 && ino != tg.inode)
}

// inProcNet runs fn with the /proc/net directory of the target, inside the
// target's namespace when needed.
func (tg *target) inProcNet(fn func(dir string) error) error {
	if tg.procDir != "" {
		return fn(tg.procDir)
	}
	return netnsutil.Do(tg.nsPath, func() error { return fn("/proc/thread-self/net") })
}

// counter fills a tally with the connection counts of one namespace.
type counter interface {
	method() Method
	count(t *tally) error
	// listeners calls fn for each TCP LISTEN socket with its accept queue
	// (RQueue) and limit (WQueue); errNoListeners if the method cannot.
	listeners(fn func(m *sockdiag.Msg) error) error
	close() error
}

var errNoListeners = errors.New("listen queue metrics need NETLINK_SOCK_DIAG (the procfs tables do not show the accept-queue limit)")

// procfsCounter streams /proc/net/{tcp,udp,udplite,raw}{,6}.
type procfsCounter struct {
	tg   target
	scan procnet.SocketTableScanner
}

func (*procfsCounter) method() Method { return MethodProcfs }

func (p *procfsCounter) count(t *tally) error {
	return p.tg.inProcNet(func(dir string) error {
		var errs []error
		for tr := range numTransports {
			errs = append(errs, p.countTransport(dir, tr, t))
		}
		return errors.Join(errs...)
	})
}

// countTransport reads both families' tables of one transport from dir.
func (p *procfsCounter) countTransport(dir string, tr transport, t *tally) error {
	var errs []error
	for fi, fam := range families {
		name := filepath.Join(dir, transports[tr].file+fam.suffix)
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // IPv6 disabled, or no UDP-Lite: no sockets, not an error
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("opening %s: %w", name, err))
			continue
		}
		counts, ports := &t.conns[tr][fi], t.portsFor(tr)
		var bad uint8
		err = p.scan.Scan(f, func(e *procnet.SocketEntry) {
			st := sockdiag.State(e.State)
			if st == sockdiag.NewSynRecv {
				st = sockdiag.SynRecv
			}
			if st == 0 || st >= sockdiag.NumStates {
				bad = e.State
				return
			}
			counts[st]++
			if pc := ports.Of(e.LocalPort); pc != nil {
				pc[st]++
			}
		})
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("parsing %s: %w", name, err))
		}
		if bad != 0 {
			errs = append(errs, fmt.Errorf("parsing %s: socket in unknown state %#x", name, bad))
		}
	}
	return errors.Join(errs...)
}

func (*procfsCounter) listeners(func(*sockdiag.Msg) error) error { return errNoListeners }
func (*procfsCounter) close() error                              { return nil }

// sockdiagCounter dumps sockets over NETLINK_SOCK_DIAG, counting while it
// reads. A transport whose diag handler the kernel lacks (ENOENT: e.g.
// CONFIG_INET_RAW_DIAG unset) is read from procfs instead, with one warning.
type sockdiagCounter struct {
	conn     *sockdiag.Conn
	procfs   procfsCounter
	fallback [numTransports]bool
	logger   *zap.Logger
	// perFamily is set when the kernel refused a TCP dump of both
	// families in one pass (TCPDIAG_GETSOCK); TCP then takes two passes.
	perFamily bool
}

func openSockdiag(tg target, logger *zap.Logger) (*sockdiagCounter, error) {
	var conn *sockdiag.Conn
	err := netnsutil.Do(tg.nsPath, func() (err error) {
		conn, err = sockdiag.Open()
		return err
	})
	if err != nil {
		return nil, err
	}
	// Probe: a dump of IPv4 listeners shows whether sock_diag answers here
	// (seccomp or LSM rules may refuse it).
	var c sockdiag.StateCounts
	if err := conn.Count(sockdiag.Request{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: sockdiag.Listen.Mask()}, &c); err != nil {
		conn.Close()
		return nil, err
	}
	return &sockdiagCounter{conn: conn, procfs: procfsCounter{tg: tg}, logger: logger}, nil
}

func (*sockdiagCounter) method() Method { return MethodSockDiag }

func (s *sockdiagCounter) count(t *tally) error {
	return s.countTransports(t, tcp, udp, udplite, raw)
}

func (s *sockdiagCounter) countTransports(t *tally, trs ...transport) error {
	var errs []error
	for _, tr := range trs {
		if !s.fallback[tr] {
			err := s.dumpTransport(t, tr)
			if err == nil {
				continue
			}
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
				continue
			}
			s.fallback[tr] = true
			s.logger.Warn("kernel has no sock_diag handler for "+transports[tr].file+"; reading its /proc/net tables instead",
				zap.Error(err))
			t.conns[tr] = [2]sockdiag.StateCounts{}
			if pc := t.portsFor(tr); pc != nil {
				pc.Reset()
			}
		}
		errs = append(errs, s.procfs.tg.inProcNet(func(dir string) error {
			return s.procfs.countTransport(dir, tr, t)
		}))
	}
	return errors.Join(errs...)
}

func (s *sockdiagCounter) dumpTransport(t *tally, tr transport) error {
	if tr == tcp && !s.perFamily {
		err := s.conn.CountFamilies(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: sockdiag.AllStates},
			&t.conns[tcp][0], &t.conns[tcp][1], t.portsFor(tcp))
		var ke *sockdiag.KernelError
		if !errors.As(err, &ke) {
			return err
		}
		s.perFamily = true
		s.logger.Info("kernel refuses TCP dumps of both families in one pass; using one pass per family", zap.Error(err))
		t.conns[tcp] = [2]sockdiag.StateCounts{}
		t.portsFor(tcp).Reset()
	}
	for fi, fam := range families {
		r := sockdiag.Request{Family: fam.af, Protocol: transports[tr].proto, States: sockdiag.AllStates}
		if err := s.conn.CountPorts(r, &t.conns[tr][fi], t.portsFor(tr)); err != nil {
			return err
		}
	}
	return nil
}

// tcpEach calls fn for every TCP socket in the states, both families.
func (s *sockdiagCounter) tcpEach(states uint32, fn func(*sockdiag.Msg) error) error {
	each := func(m *sockdiag.Msg, _ []byte) error { return fn(m) }
	if !s.perFamily {
		err := s.conn.Each(sockdiag.Request{Protocol: unix.IPPROTO_TCP, States: states}, each)
		var ke *sockdiag.KernelError
		if !errors.As(err, &ke) {
			return err
		}
		s.perFamily = true
	}
	for _, fam := range families {
		if err := s.conn.Each(sockdiag.Request{Family: fam.af, Protocol: unix.IPPROTO_TCP, States: states}, each); err != nil {
			return err
		}
	}
	return nil
}

func (s *sockdiagCounter) listeners(fn func(*sockdiag.Msg) error) error {
	return s.tcpEach(sockdiag.Listen.Mask(), fn)
}

func (s *sockdiagCounter) close() error { return s.conn.Close() }
