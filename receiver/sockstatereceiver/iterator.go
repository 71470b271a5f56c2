package sockstatereceiver

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/netstack-otel/netstack/internal/sockdiag"
	"github.com/netstack-otel/netstack/receiver/sockstatereceiver/internal/kcount"
)

// iteratorCounter counts TCP and UDP in the kernel with BPF socket
// iterators; UDP-Lite, RAW and the listeners come from sock_diag.
type iteratorCounter struct {
	tg     target
	it     *kcount.Iterator
	diag   *sockdiagCounter
	counts kcount.Counts
	ports  kcount.PortCounts
}

func openIterator(tg target, ports []uint16, logger *zap.Logger) (*iteratorCounter, error) {
	diag, err := openSockdiag(tg, logger)
	if err != nil {
		return nil, fmt.Errorf("sock_diag (for UDP-Lite, RAW and listeners): %w", err)
	}
	it, err := kcount.OpenIterator(ports)
	if err != nil {
		diag.close()
		return nil, err
	}
	c := &iteratorCounter{tg: tg, it: it, diag: diag}
	var t tally
	if err := c.count(&t); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (*iteratorCounter) method() Method { return MethodIterator }

func (c *iteratorCounter) count(t *tally) error {
	if err := c.it.Count(c.tg.nsPath, true, true, &c.counts, &c.ports, nil); err != nil {
		return err
	}
	if err := addKernelCounts(t, &c.counts, &c.ports, tcp, udp); err != nil {
		return err
	}
	return c.diag.countTransports(t, udplite, raw)
}

// addKernelCounts copies BPF counts of the given transports into t.
func addKernelCounts(t *tally, kc *kcount.Counts, kp *kcount.PortCounts, trs ...transport) error {
	for _, tr := range trs {
		for fi := range families {
			for st, n := range kc[tr][fi] {
				if n == 0 {
					continue
				}
				if st == 0 || st >= int(sockdiag.NewSynRecv) {
					return fmt.Errorf("BPF iterator counted %d %s sockets in unexpected state %d", n, transports[tr].file, st)
				}
				t.conns[tr][fi][st] += n
			}
		}
		if pc := t.portsFor(tr); pc != nil {
			for i := range pc.Ports {
				for st := range pc.Counts[i] {
					pc.Counts[i][st] += kp[tr][i][st]
				}
			}
		}
	}
	return nil
}

func (c *iteratorCounter) listeners(fn func(*sockdiag.Msg) error) error { return c.diag.listeners(fn) }

func (c *iteratorCounter) close() error {
	return errors.Join(c.it.Close(), c.diag.close())
}
