package netnsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Do runs fn inside the network namespace at nsPath (for example
// /run/netns/NAME or /proc/PID/ns/net). With an empty nsPath fn runs in the
// caller's namespace, on the caller's goroutine.
func Do(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fn()
	}
	nsFile, err := openNS(nsPath)
	if err != nil {
		return err
	}
	defer nsFile.Close()

	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends the
		// thread, which may sit in a foreign namespace.
		runtime.LockOSThread()
		// CLONE_FS is shared with the other threads of the process; setns
		// of a network namespace does not need to unshare it.
		if err := unix.Setns(int(nsFile.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- setnsError(nsPath, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Thread is an OS thread that entered a network namespace once and runs
// functions there on request: for work repeated in one namespace on every
// scrape, which then pays for a thread and setns once instead of each time
// (Do costs about 0.3 ms natively). With an empty path it runs functions
// in the caller's namespace directly. Close ends the thread, which is never
// handed back to the scheduler.
type Thread struct {
	reqs chan func()
	done chan struct{}
}

// openNS opens a namespace file to enter. Without CAP_DAC_OVERRIDE the
// plain file `ip netns add` creates (mode 0) before mounting the namespace
// over it, or `ip netns del` leaves behind, cannot be opened: that is a
// namespace that does not exist (yet, or any more), not a permission
// problem.
func openNS(nsPath string) (*os.File, error) {
	f, err := os.Open(nsPath)
	if err == nil {
		return f, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		if _, serr := BoundInode(nsPath); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("opening network namespace %s: %w", nsPath, serr)
		}
	}
	return nil, fmt.Errorf("opening network namespace %s: %w", nsPath, err)
}

// NewThread starts a thread in the network namespace at nsPath.
func NewThread(nsPath string) (*Thread, error) {
	if nsPath == "" {
		return &Thread{}, nil
	}
	nsFile, err := openNS(nsPath)
	if err != nil {
		return nil, err
	}
	defer nsFile.Close()
	t := &Thread{reqs: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(t.done)
		runtime.LockOSThread() // never unlocked: see Do
		if err := unix.Setns(int(nsFile.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- setnsError(nsPath, err)
			return
		}
		errc <- nil
		for fn := range t.reqs {
			fn()
		}
	}()
	if err := <-errc; err != nil {
		<-t.done
		return nil, err
	}
	return t, nil
}

// Do runs fn on the thread, in its namespace, and returns fn's error.
func (t *Thread) Do(fn func() error) error {
	if t.reqs == nil {
		return fn()
	}
	errc := make(chan error, 1)
	t.reqs <- func() { errc <- fn() }
	return <-errc
}

// Close ends the thread; Do must not be called after it.
func (t *Thread) Close() {
	if t.reqs != nil {
		close(t.reqs)
		<-t.done
		t.reqs = nil
	}
}

// setnsError explains a failed setns. EINVAL means the file is not (any
// more) a network namespace, as when `ip netns del` unmounts it while we
// read: that is reported as os.ErrNotExist, like a path that is gone.
func setnsError(nsPath string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("entering network namespace %s: %w (needs CAP_SYS_ADMIN)", nsPath, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("entering network namespace %s: not a network namespace (deleted?): %w: %w", nsPath, err, os.ErrNotExist)
	default:
		return fmt.Errorf("entering network namespace %s: %w", nsPath, err)
	}
}

// Inode returns the inode number that identifies the network namespace at
// nsPath, as `lsns` and `ip netns identify` show it. An empty nsPath means
// the caller's own namespace.
func Inode(nsPath string) (uint64, error) {
	if nsPath == "" {
		nsPath = "/proc/thread-self/ns/net"
	}
	ino, err := statIno(nsPath)
	if err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", nsPath, err)
	}
	return ino, nil
}

// BoundInode is Inode for a name a namespace is bound to (/run/netns/NAME),
// which must be a namespace now: `ip netns add` creates the file (mode 0)
// before it bind-mounts the namespace over it, and `ip netns del` leaves
// it unmounted, so a listing can meet the plain file; that reads as a
// namespace that does not exist (os.ErrNotExist).
func BoundInode(path string) (uint64, error) {
	var st, own unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	if err := unix.Stat("/proc/thread-self/ns/net", &own); err != nil {
		return 0, fmt.Errorf("stat own network namespace: %w", err)
	}
	if st.Dev != own.Dev { // every namespace file is on the one nsfs
		return 0, fmt.Errorf("%s is not a network namespace (being created or deleted?): %w", path, os.ErrNotExist)
	}
	return st.Ino, nil
}

func statIno(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ProcNetDir returns the directory holding the /proc/net tables to read.
//
// With an empty rootPath it is /proc/thread-self/net: the namespace of the
// calling thread, which inside Do is the entered namespace. Otherwise
// rootPath is a host procfs mount; /proc/net there is the mount's "self",
// which is the agent's own namespace, so the host's tables are read through
// PID 1 at <rootPath>/1/net. A rootPath that is a host filesystem root
// (with proc below it, as hostmetrics' root_path) is accepted too.
func ProcNetDir(rootPath string) (string, error) {
	if rootPath == "" {
		return "/proc/thread-self/net", nil
	}
	for _, dir := range []string{filepath.Join(rootPath, "1", "net"), filepath.Join(rootPath, "proc", "1", "net")} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("root_path %s: neither %s/1/net nor %s/proc/1/net is a directory (is the host's /proc mounted there?)", rootPath, rootPath, rootPath)
}

// Members walks procDir (/proc, or a host procfs mount) once and returns
// every network namespace that has a process in it, by inode, with its
// member PIDs in ascending order. Processes that exit during the walk are
// left out. So are those whose namespace link cannot be read (another
// user's, without CAP_SYS_PTRACE): then the map is still returned, with an
// error wrapping fs.ErrPermission that says how many were left out and why.
// Failing to list procDir is an error with no map.
func Members(procDir string) (map[uint64][]int, error) {
	d, err := os.Open(procDir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", procDir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", procDir, err)
	}
	out := map[uint64][]int{}
	var st unix.Stat_t
	denied, procs := 0, 0
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		procs++
		if err := unix.Stat(procDir+"/"+name+"/ns/net", &st); err != nil {
			if err == unix.EACCES || err == unix.EPERM {
				denied++
			}
			continue
		}
		out[st.Ino] = append(out[st.Ino], pid)
	}
	for _, pids := range out {
		slices.Sort(pids)
	}
	if denied > 0 {
		return out, fmt.Errorf("%d of %d processes under %s left out: their network namespace link is not readable (another user's /proc/PID/ns/net needs CAP_SYS_PTRACE): %w", denied, procs, procDir, fs.ErrPermission)
	}
	return out, nil
}

// The main goroutine keeps the main thread. A goroutine that enters another
// namespace (Do, Thread) locks its OS thread and never unlocks it; if the
// scheduler had given it the main thread, the runtime could not end that
// thread, and the process would show in the other namespace from then on
// (/proc/PID/ns/net is the main thread's): all_netns would count the
// collector as a member of a pod's namespace. Locking the main goroutine
// to the main thread at start means no other goroutine ever runs there.
func init() { runtime.LockOSThread() }
