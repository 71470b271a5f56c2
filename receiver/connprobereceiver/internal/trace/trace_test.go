package trace

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func pathOf(reached bool, hops ...string) Path {
	p := Path{Reached: reached}
	for i, h := range hops {
		hop := Hop{TTL: i + 1, Sent: 1}
		if h != "*" {
			hop.Addr = netip.MustParseAddr(h)
			hop.Answered = 1
		}
		p.Hops = append(p.Hops, hop)
	}
	return p
}

func TestTracker(t *testing.T) {
	var tr Tracker
	ch, _ := tr.Update(pathOf(true, "10.0.0.1", "*", "10.0.2.2"))
	assert.False(t, ch, "first path is not a change")
	id := tr.ID()
	for _, p := range []Path{
		pathOf(true, "*", "*", "10.0.2.2"),                    // silent hops
		pathOf(false, "10.0.0.1", "*", "*", "*", "*"),         // destination silent
		pathOf(true, "*", "*", "*", "*", "10.0.2.2"),          // rate-limited destination seen late
		pathOf(true, "10.0.0.1", "10.0.1.1", "10.0.2.2"),      // learns hop 2
		pathOf(false, "*", "*", "*", "*", "*", "*", "*", "*"), // all silent
	} {
		ch, _ := tr.Update(p)
		assert.False(t, ch, "%+v", p)
	}
	assert.NotEqual(t, id, tr.ID(), "learning a hop refines the id")
	assert.Equal(t, "[10.0.0.1 10.0.1.1 10.0.2.2]", addrs(tr.Hops()))
	id = tr.ID()
	ch, c := tr.Update(pathOf(true, "10.0.9.1", "10.0.1.1", "10.0.2.2"))
	assert.True(t, ch)
	assert.Equal(t, id, c.OldID)
	assert.Equal(t, tr.ID(), c.NewID)
	ch, _ = tr.Update(pathOf(true, "10.0.9.1", "10.0.2.2"))
	assert.True(t, ch, "shorter with an answering hop dropped")
	ch, _ = tr.Update(pathOf(true, "10.0.9.1", "10.0.5.5", "10.0.2.2"))
	assert.True(t, ch, "longer with a new answering hop")
	assert.Equal(t, uint64(3), tr.Changes())
	assert.Less(t, tr.ID(), uint64(1)<<63)
}

func addrs(a []netip.Addr) string {
	s := "["
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x.String()
	}
	return s + "]"
}
