package netnsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A path that is not a namespace (what /run/netns/NAME becomes when it is
// unmounted by `ip netns del`) reads as a namespace that no longer exists.
func TestDoOnANonNamespaceIsNotExist(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: setns is only attempted with CAP_SYS_ADMIN")
	}
	plain := filepath.Join(t.TempDir(), "gone")
	assert.NoError(t, os.WriteFile(plain, nil, 0o644))
	err := Do(plain, func() error { return nil })
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	assert.ErrorContains(t, err, "not a network namespace (deleted?)")
	assert.NotContains(t, err.Error(), "CAP_SYS_ADMIN")

	err = Do(filepath.Join(t.TempDir(), "missing"), func() error { return nil })
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}
