//go:build linux

package kcount

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Events keeps per-namespace deltas of full TCP sockets per state in the
// kernel through sock:inet_sock_set_state. Timewait and request sockets are
// not covered (no tracepoint); Iterator.Count reports them apart.
type Events struct {
	tracing
	objs eventObjects
}

// tracing is loaded tracing programs, their links, and the maps and drop
// counter they own: what Events and MiniHooks share.
type tracing struct {
	progs   []*ebpf.Program
	maps    []*ebpf.Map
	dropped *ebpf.Variable
	links   []link.Link
}

// attach attaches every program (fentry, fexit, tp_btf) to its target.
func (t *tracing) attach() error {
	for _, p := range t.progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			return fmt.Errorf("kcount: attaching %s: %w", p, err)
		}
		t.links = append(t.links, l)
	}
	return nil
}

// Dropped returns how many updates found a delta map full (the counts are
// then wrong until the next resync).
func (t *tracing) Dropped() (uint64, error) {
	var n uint64
	if err := t.dropped.Get(&n); err != nil {
		return 0, fmt.Errorf("kcount: %w", err)
	}
	return n, nil
}

// Programs returns the attached programs, e.g. for run-time statistics.
func (t *tracing) Programs() []*ebpf.Program { return t.progs }

// Close detaches and unloads everything.
func (t *tracing) Close() error {
	var errs []error
	for i := len(t.links) - 1; i >= 0; i-- {
		errs = append(errs, t.links[i].Close())
	}
	for _, p := range t.progs {
		errs = append(errs, p.Close())
	}
	for _, m := range t.maps {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
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
	e.tracing = tracing{progs: e.objs.programs(), maps: []*ebpf.Map{e.objs.TcpDeltas}, dropped: e.objs.EvDropped}
	if err := e.attach(); err != nil {
		e.Close()
		return nil, err
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
