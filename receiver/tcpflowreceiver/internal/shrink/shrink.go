// Package shrink decides when a buffer reused from one scrape to the next
// gives its memory back, so that one burst does not pin its peak capacity
// for the life of the process.
//
// The rule: a Tracker remembers how many elements the buffer held in each of
// the last Window rounds (scrapes). When its capacity is above Min and more
// than Factor times the largest of those, it is released and reallocated at
// that largest use; otherwise it is kept (emptied) as it is.
package shrink // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/shrink"

const (
	// Window is how many rounds of use a Tracker remembers.
	Window = 8
	// Factor is how far a capacity may exceed the recent use.
	Factor = 4
	// Min is the capacity (elements) kept whatever the use.
	Min = 1024
)

// Tracker remembers a buffer's recent use. The zero value is ready.
type Tracker struct {
	used [Window]int
	next int
}

// Note records that n elements were used this round and reports whether a
// buffer of capacity c should be released.
func (t *Tracker) Note(n, c int) bool {
	t.used[t.next] = n
	t.next = (t.next + 1) % Window
	return c > Min && c > Factor*t.Max()
}

// Max is the largest use of the last Window rounds.
func (t *Tracker) Max() int {
	m := 0
	for _, n := range t.used {
		m = max(m, n)
	}
	return m
}

// Reuse notes len(s) as this round's use and returns s emptied for the next
// round, or a new empty slice with capacity Max when s's capacity is too
// large.
func Reuse[S ~[]E, E any](t *Tracker, s S) S {
	if t.Note(len(s), cap(s)) {
		return make(S, 0, t.Max())
	}
	return s[:0]
}
