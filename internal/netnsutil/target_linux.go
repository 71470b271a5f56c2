package netnsutil

import "fmt"

// Target is a resolved network namespace: what a component reads or works
// in, opened once at start.
type Target struct {
	label  string
	path   string // what names the namespace ("" for the collector's own)
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
		t.netDir = dir
		t.path = t.label // <root>/1/ns/net, for work that must be inside
	}
	ino, err := Inode(t.path)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", t.label, err)
	}
	t.inode = ino
	// Enter only another namespace than the collector's own: root_path in
	// a container with hostNetwork, or netns naming our own, need no
	// thread and no CAP_SYS_ADMIN.
	if own, err := Inode(""); t.path != "" && (err != nil || own != ino) {
		t.enter = t.path
	}
	return t, nil
}

// Label is the netns.path attribute: the configured path or OwnNamespace.
func (t *Target) Label() string { return t.label }

// Inode identifies the namespace as it was when opened (netns.inode).
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
	ino, err := Inode(t.path)
	if err != nil {
		return true, fmt.Errorf("netns %s: %w", t.label, err)
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
