//go:build linux

package kcount

import (
	"fmt"

	"github.com/netstack-otel/netstack/internal/sockdiag"
)

// iteratorCounter counts TCP and UDP of its namespace with the shared BPF
// socket iterators, run on the binding's thread in the namespace;
// UDP-Lite, RAW and the listeners come from sock_diag.
type iteratorCounter struct {
	*sockdiagCounter
	it     *Iterator
	counts Counts
	ports  PortCounts
}

func (*iteratorCounter) Method() Method { return MethodIterator }

func (c *iteratorCounter) Count(t *Tally) error {
	if err := c.it.CountWith(c.procfs.thread.Do, true, true, &c.counts, &c.ports, nil); err != nil {
		return err
	}
	if err := addKernelCounts(t, &c.counts, &c.ports, TCP, UDP); err != nil {
		return err
	}
	return c.countTransports(t, UDPLite, RAW)
}

// addKernelCounts copies BPF counts of the given transports into t.
func addKernelCounts(t *Tally, kc *Counts, kp *PortCounts, trs ...Transport) error {
	for _, tr := range trs {
		for fi := range families {
			for st, n := range kc[tr][fi] {
				if n == 0 {
					continue
				}
				if st == 0 || st >= int(sockdiag.NewSynRecv) {
					return fmt.Errorf("BPF iterator counted %d %s sockets in unexpected state %d", n, transports[tr].file, st)
				}
				t.Conns[tr][fi][st] += n
			}
		}
		if pc := t.PortsFor(tr); pc != nil {
			for i := range pc.Ports {
				for st := range pc.Counts[i] {
					pc.Counts[i][st] += kp[tr][i][st]
				}
			}
		}
	}
	return nil
}
