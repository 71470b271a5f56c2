package netnsutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// Target is a resolved network namespace: what a component reads or works
// in, opened once at start.
type Target struct {
	label  string
	path   string // what names the namespace ("" for the collector's own)
	byRoot bool   // root_path: the tables are read there, from any thread
	enter  string // path to setns into; "" when already there
	inode  uint64
	netDir string
	thread *Thread
}

// Open resolves the configured namespace: its inode now (to notice a
// namespace deleted and recreated under the same path) and where its
// /proc/net tables are. Close releases its thread.
func (c Config) Open() (*Target, error) {
	t := &Target{label: c.Label(), netDir: "/proc/thread-self/net"}
	switch {
	case c.NetNS != "":
		t.path = c.NetNS
	case c.RootPath != "":
		dir, err := ProcNetDir(c.RootPath)
		if err != nil {
			return nil, err
		}
		t.netDir, t.byRoot = dir, true
		// <root>/1/ns/net, beside the tables: for work that must be inside
		t.path = filepath.Join(filepath.Dir(dir), "ns", "net")
	}
	if t.path == "" {
		ino, err := Inode("")
		if err != nil {
			return nil, err
		}
		t.inode = ino
		return t, nil
	}
	ino, err := statIno(t.path)
	if err != nil && t.byRoot {
		// PID 1's namespace link needs ptrace access to PID 1, which a
		// container reading the host's procfs often lacks: the tables are
		// still readable, the inode is unknown (0), and work that must
		// enter the namespace fails when it tries.
		t.enter = t.path
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", t.path, err)
	}
	t.inode = ino
	// Enter only another namespace than the collector's own: root_path in
	// a container with hostNetwork, or netns naming our own, need no
	// thread and no CAP_SYS_ADMIN.
	if own, err := Inode(""); err != nil || own != ino {
		t.enter = t.path
	}
	return t, nil
}

// OpenNet opens the named tables of the namespace's /proc/net: below
// root_path directly (the host's procfs is readable without a capability),
// in a netns by entering it once (CAP_SYS_ADMIN). A table that does not
// exist (snmp6 without IPv6) is nil with an error wrapping os.ErrNotExist;
// the caller decides whether that is fatal. The files stay bound to the
// namespace and may be read (pread from 0 for fresh values) anywhere.
func (t *Target) OpenNet(names ...string) ([]*os.File, []error, error) {
	var files []*os.File
	var errs []error
	open := func() error {
		files, errs = OpenFiles(t.netDir, names...)
		return nil
	}
	var err error
	if t.byRoot {
		err = open()
	} else {
		err = Do(t.enter, open)
	}
	return files, errs, err
}

// EnterPath is the path to setns into for work inside the namespace
// (sockets of its own), "" when the collector already is there.
func (t *Target) EnterPath() string { return t.enter }

// Label is the netns.path attribute: the configured path or OwnNamespace.
func (t *Target) Label() string { return t.label }

// Inode identifies the namespace as it was when opened (netns.inode); 0
// for root_path when PID 1's namespace link is not readable.
func (t *Target) Inode() uint64 { return t.inode }

// NetDir is the directory of the namespace's /proc/net tables. For a netns
// target it is /proc/thread-self/net and must be opened inside Do; for
// root_path it is <root_path>/1/net and may be opened anywhere.
func (t *Target) NetDir() string { return t.netDir }

// Do runs fn inside the namespace, on one thread kept for the target (its
// first call starts it), or directly for the collector's own namespace.
func (t *Target) Do(fn func() error) error {
	if t.enter == "" {
		return fn()
	}
	if t.thread == nil {
		th, err := NewThread(t.enter)
		if err != nil {
			return err
		}
		t.thread = th
	}
	return t.thread.Do(fn)
}

// Changed tells whether the path now names another namespace than when
// opened (deleted and recreated, or a PID reused), or none (an error
// wrapping os.ErrNotExist). The caller opens a new Target then.
func (t *Target) Changed() (bool, error) {
	if t.inode == 0 {
		return false, nil // root_path without access to PID 1's link
	}
	ino, err := Inode(t.path)
	if err != nil {
		return true, err
	}
	return ino != t.inode, nil
}

// Close ends the target's thread, if one was started.
func (t *Target) Close() {
	if t.thread != nil {
		t.thread.Close()
		t.thread = nil
	}
}
