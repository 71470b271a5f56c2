//go:build !linux

package netnsutil

import (
	"strings"
	"testing"
)

// Every component opens its namespace first at start, so this is the error
// a component gives off Linux.
func TestOpenIsLinuxOnly(t *testing.T) {
	for _, c := range []Config{{}, {NetNS: "/run/netns/a"}, {RootPath: "/host/proc"}} {
		if _, err := c.Open(); err == nil || !strings.Contains(err.Error(), "Linux only") {
			t.Errorf("%+v: Open() error %v, want one saying Linux only", c, err)
		}
	}
}
