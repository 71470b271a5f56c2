//go:build linux

package kcount

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Events keeps per-namespace deltas of full TCP sockets per state in the
// kernel through sock:inet_sock_set_state. Timewait and request sockets are
// not covered (no tracepoint); Iterator.Count reports them apart.
type Events struct {
	tracing
	objs eventsObjects
}

// tracing is loaded tracing programs, their links, the generated objects
// that own them and the drop counter: what Events and MiniHooks share.
type tracing struct {
	progs   []*ebpf.Program
	objs    io.Closer
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

// Misses returns how many times the kernel skipped one of the programs
// because another BPF program was running on that CPU (a state change in
// a softirq while the program ran for another in process context): each is
// a state change never counted. Counted by the kernel since Linux 5.12;
// always 0 before.
func (t *tracing) Misses() (uint64, error) {
	var n uint64
	for _, p := range t.progs {
		st, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("kcount: %w", err)
		}
		n += st.RecursionMisses
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
	if t.objs != nil {
		errs = append(errs, t.objs.Close())
	}
	return errors.Join(errs...)
}

// OpenEvents loads and attaches the state-change program. Counting starts
// at attach time; add the deltas to a base from one iterator pass.
func OpenEvents() (_ *Events, err error) {
	spec, err := loadEvents()
	if err != nil {
		return nil, fmt.Errorf("kcount: reading the embedded state-change object: %w", err)
	}
	e := &Events{}
	if err := load(spec, &e.objs, "the state-change program", "5.5"); err != nil {
		return nil, err
	}
	e.tracing = tracing{progs: []*ebpf.Program{e.objs.OnSetState}, objs: &e.objs, dropped: e.objs.EvDropped}
	if err := e.attach(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Deltas reads the deltas of the namespace with inode netns into out.
func (e *Events) Deltas(netns uint32, out *Deltas) error {
	return readDeltas(e.objs.TcpDeltas, netns, out)
}

// readDeltas reads one namespace's per-family deltas from a delta map.
func readDeltas(m *ebpf.Map, netns uint32, out *Deltas) error {
	for fi, af := range families {
		var v eventsEvVal
		err := m.Lookup(eventsEvKey{Netns: netns, Family: uint32(af)}, &v)
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			v = eventsEvVal{}
		case err != nil:
			return fmt.Errorf("kcount: reading deltas: %w", err)
		}
		out[fi] = v.C
	}
	return nil
}
