//go:build linux

package kcount

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Deltas are signed per-family, per-state changes of a namespace's TCP
// socket counts since the programs were attached ([0] IPv4, [1] IPv6).
type Deltas = [2][NStates]int64

// Events keeps per-namespace deltas of full TCP sockets per state in the
// kernel through sock:inet_sock_set_state. Timewait and request sockets are
// not covered (no tracepoint); Iterator.Count reports them apart.
type Events struct {
	objs  eventObjects
	links []link.Link
}

type eventObjects struct {
	OnSetState *ebpf.Program  `ebpf:"on_set_state"`
	TcpDeltas  *ebpf.Map      `ebpf:"tcp_deltas"`
	EvDropped  *ebpf.Variable `ebpf:"ev_dropped"`
}

func (o *eventObjects) programs() []*ebpf.Program {
	return []*ebpf.Program{o.OnSetState}
}

// OpenEvents loads and attaches the state-change programs. Counting starts
// at attach time; add the deltas to a base from one iterator pass.
func OpenEvents() (_ *Events, err error) {
	e := &Events{}
	if err := load(&e.objs, "the state-change program", "5.5", nil); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	for _, p := range e.objs.programs() {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			return nil, fmt.Errorf("kcount: attaching %s: %w", p, err)
		}
		e.links = append(e.links, l)
	}
	return e, nil
}

type evKey struct {
	Netns  uint32
	Family uint32
}

// Deltas reads the deltas of the namespace with inode netns into out.
func (e *Events) Deltas(netns uint32, out *Deltas) error {
	return readDeltas(e.objs.TcpDeltas, netns, out)
}

// readDeltas reads one namespace's per-family deltas from a delta map.
func readDeltas(m *ebpf.Map, netns uint32, out *Deltas) error {
	for fi, fam := range [2]uint32{unix.AF_INET, unix.AF_INET6} {
		var v [NStates]int64
		err := m.Lookup(evKey{netns, fam}, &v)
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			v = [NStates]int64{}
		case err != nil:
			return fmt.Errorf("kcount: reading deltas: %w", err)
		}
		out[fi] = v
	}
	return nil
}

// Dropped returns how many updates found the delta map full (the counts
// are then wrong until the next resync).
func (e *Events) Dropped() (uint64, error) {
	var n uint64
	if err := e.objs.EvDropped.Get(&n); err != nil {
		return 0, fmt.Errorf("kcount: %w", err)
	}
	return n, nil
}

// Programs returns the attached programs, e.g. for run-time statistics.
func (e *Events) Programs() []*ebpf.Program { return e.objs.programs() }

// Close detaches and unloads everything.
func (e *Events) Close() error {
	var errs []error
	for i := len(e.links) - 1; i >= 0; i-- {
		errs = append(errs, e.links[i].Close())
	}
	for _, p := range e.objs.programs() {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if e.objs.TcpDeltas != nil {
		errs = append(errs, e.objs.TcpDeltas.Close())
	}
	return errors.Join(errs...)
}
