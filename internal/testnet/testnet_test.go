package testnet

import (
	"net"
	"strings"
	"testing"
)

func TestLinkAndDo(t *testing.T) {
	RequireRoot(t)
	a, b := New(t), New(t)
	Link(t, a, b, "10.200.0.1/24", "10.200.0.2/24")

	var ln net.Listener
	b.Do(t, func() error {
		var err error
		ln, err = net.Listen("tcp4", "10.200.0.2:0")
		return err
	})
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	a.Do(t, func() error {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	// The listener lives in b, not in the test's own namespace.
	out := b.Exec(t, "ss", "-Htln")
	if !strings.Contains(out, ln.Addr().String()) {
		t.Fatalf("listener %s not seen by ss in %s:\n%s", ln.Addr(), b, out)
	}
}
