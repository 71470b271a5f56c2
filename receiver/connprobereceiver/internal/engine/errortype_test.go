package engine

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("send: %w", syscall.EMSGSIZE):                        "other",
		fmt.Errorf("socket: %w", syscall.EPERM):                         "permission_denied",
		fmt.Errorf("socket: %w", syscall.EACCES):                        "permission_denied",
		fmt.Errorf("send: %w", syscall.ENETUNREACH):                     "unreachable",
		fmt.Errorf("send: %w", syscall.EHOSTUNREACH):                    "unreachable",
		&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}: "resolve",
		resolveError{errors.New("resolving x: timeout")}:                "resolve",
		errNoAddress: "other",
	} {
		assert.Equal(t, want, ErrorType(err), "%v", err)
	}
	assert.Empty(t, ErrorType(nil))
}

func TestRTTStats(t *testing.T) {
	var s RTTStats
	assert.Zero(t, s.Stddev())
	for _, us := range []int{300, 100, 200, 400} {
		s.Add(time.Duration(us) * time.Microsecond)
	}
	assert.Equal(t, 4, s.N)
	assert.InDelta(t, 100e-6, s.Min, 1e-12)
	assert.InDelta(t, 400e-6, s.Max, 1e-12)
	assert.InDelta(t, 250e-6, s.Mean, 1e-12)
	assert.InDelta(t, 111.80339887e-6, s.Stddev(), 1e-12) // sqrt(12500) µs
}
