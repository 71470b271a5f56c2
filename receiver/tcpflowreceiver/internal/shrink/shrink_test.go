package shrink

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReuseReleasesAfterBurst(t *testing.T) {
	var tr Tracker
	buf := make([]int, 0, 16)
	buf = append(buf, make([]int, 100000)...) // one burst
	peak := cap(buf)
	buf = Reuse(&tr, buf)
	require.Equal(t, peak, cap(buf), "the round of the burst keeps its buffer")
	for i := 1; i < Window; i++ {
		buf = Reuse(&tr, append(buf, 1, 2, 3))
		require.Equal(t, peak, cap(buf), "round %d: the burst is still within the window", i)
	}
	buf = Reuse(&tr, append(buf, 1, 2, 3))
	require.Equal(t, 3, cap(buf), "the burst left the window: released down to the recent use")
	require.Empty(t, buf)
}

func TestReuseKeepsSteadyAndSmall(t *testing.T) {
	var tr Tracker
	buf := make([]int, 0, Min)
	for range 3 * Window {
		buf = Reuse(&tr, buf[:0])
		require.Equal(t, Min, cap(buf), "at most Min elements are always kept")
	}
	buf = make([]int, 0, 8*Min)
	for range 3 * Window {
		buf = Reuse(&tr, append(buf, make([]int, 2*Min+1)...))
		require.Equal(t, 8*Min, cap(buf), "capacity within Factor of the use is kept")
	}
}
