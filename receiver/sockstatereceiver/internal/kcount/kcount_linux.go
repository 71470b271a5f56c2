//go:build linux

package kcount

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/netstack-otel/netstack/internal/bpf"
	"github.com/netstack-otel/netstack/internal/netnsutil"
)

// Iterator counts a namespace's TCP and UDP sockets with BPF socket
// iterators. It is safe for concurrent use (counts are serialized).
type Iterator struct {
	mu       sync.Mutex
	objs     iterObjects
	tcp, udp *link.Iter
	tracked  bool
	zero     []byte // zeroes for resetting the largest variable
}

// OpenIterator loads and attaches the iterator programs; ports (at most
// MaxPorts) are the local ports counted separately, in slot order.
func OpenIterator(ports []uint16) (_ *Iterator, err error) {
	if len(ports) > MaxPorts {
		return nil, fmt.Errorf("kcount: %d ports, at most %d", len(ports), MaxPorts)
	}
	spec, err := loadIter()
	if err != nil {
		return nil, fmt.Errorf("kcount: reading the embedded iterator object: %w", err)
	}
	var specs iterSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("kcount: %w", err)
	}
	if len(ports) > 0 {
		var slots [1 << 16]uint8
		for i, p := range ports {
			if slots[p] == 0 {
				slots[p] = uint8(i + 1)
			}
		}
		if err := specs.PortSlot.Set(slots); err != nil {
			return nil, fmt.Errorf("kcount: setting port slots: %w", err)
		}
	}
	it := &Iterator{tracked: len(ports) > 0}
	if err := load(spec, &it.objs, "the iterator programs", "5.9"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			it.Close()
		}
	}()
	it.zero = make([]byte, it.objs.PortCounts.Size())
	if it.tcp, err = link.AttachIter(link.IterOptions{Program: it.objs.CountTcp}); err != nil {
		return nil, fmt.Errorf("kcount: attaching iter/tcp: %w", err)
	}
	if it.udp, err = link.AttachIter(link.IterOptions{Program: it.objs.CountUdp}); err != nil {
		return nil, fmt.Errorf("kcount: attaching iter/udp: %w", err)
	}
	return it, nil
}

// load checks what loading needs (bpf.Preflight: BTF, capabilities,
// memlock) and loads spec into objs, a generated object struct; failures
// are worded by bpf.LoadError, as in every eBPF component.
func load(spec *ebpf.CollectionSpec, objs any, what, minKernel string) error {
	if err := bpf.Preflight(); err != nil {
		return fmt.Errorf("kcount: loading %s: %w", what, err)
	}
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return bpf.LoadError("sockstate "+what, "Linux >= "+minKernel, err)
	}
	return nil
}

// Count runs the TCP and/or UDP iterator in the network namespace at nsPath
// ("" for the caller's) and stores the counts in out, if ports were given
// and outPorts is not nil the per-port counts in outPorts, and if mini is
// not nil the timewait and request sockets among the TCP counts. The
// transports not walked are left zero.
func (it *Iterator) Count(nsPath string, tcp, udp bool, out *Counts, outPorts *PortCounts, mini *Mini) error {
	return it.CountWith(func(fn func() error) error { return netnsutil.Do(nsPath, fn) }, tcp, udp, out, outPorts, mini)
}

// CountWith is Count with the iterators opened by run, which must call its
// function in the namespace to count (e.g. a netnsutil.Thread's Do, for a
// namespace counted on every scrape).
func (it *Iterator) CountWith(run func(func() error) error, tcp, udp bool, out *Counts, outPorts *PortCounts, mini *Mini) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if err := it.reset(); err != nil {
		return err
	}
	err := run(func() error {
		if tcp {
			if err := drain(it.tcp); err != nil {
				return fmt.Errorf("kcount: running iter/tcp: %w", err)
			}
		}
		if udp {
			if err := drain(it.udp); err != nil {
				return fmt.Errorf("kcount: running iter/udp: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var unknown uint64
	if err := it.objs.IterUnknown.Get(&unknown); err != nil {
		return fmt.Errorf("kcount: %w", err)
	}
	if unknown != 0 {
		return fmt.Errorf("kcount: %d sockets in an unknown family or state", unknown)
	}
	if err := it.objs.IterCounts.Get(out); err != nil {
		return fmt.Errorf("kcount: %w", err)
	}
	if mini != nil {
		if err := it.objs.IterMini.Get(mini); err != nil {
			return fmt.Errorf("kcount: %w", err)
		}
	}
	if outPorts != nil && it.tracked {
		if err := it.objs.PortCounts.Get(outPorts); err != nil {
			return fmt.Errorf("kcount: %w", err)
		}
	}
	return nil
}

func (it *Iterator) reset() error {
	vars := []*ebpf.Variable{it.objs.IterCounts, it.objs.IterUnknown, it.objs.IterMini}
	if it.tracked {
		vars = append(vars, it.objs.PortCounts)
	}
	for _, v := range vars {
		if err := v.Set(it.zero[:v.Size()]); err != nil {
			return fmt.Errorf("kcount: resetting %s: %w", v, err)
		}
	}
	return nil
}

// drain opens an iterator instance (its namespace is the calling thread's)
// and reads it to the end; the program prints nothing, reading runs it.
func drain(l *link.Iter) error {
	rc, err := l.Open()
	if err != nil {
		return err
	}
	var buf [64]byte
	for {
		_, err := rc.Read(buf[:])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rc.Close()
			return err
		}
	}
	return rc.Close()
}

// Close detaches and unloads everything.
func (it *Iterator) Close() error {
	var errs []error
	for _, l := range []*link.Iter{it.udp, it.tcp} {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	return errors.Join(append(errs, it.objs.Close())...)
}
