package engine

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("send: %w", unix.EMSGSIZE):                           "other",
		fmt.Errorf("socket: %w", unix.EPERM):                            "permission_denied",
		fmt.Errorf("socket: %w", unix.EACCES):                           "permission_denied",
		fmt.Errorf("send: %w", unix.ENETUNREACH):                        "unreachable",
		fmt.Errorf("send: %w", unix.EHOSTUNREACH):                       "unreachable",
		&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}: "resolve",
		resolveError{errors.New("resolving x: timeout")}:                "resolve",
		errNoAddress: "other",
	} {
		assert.Equal(t, want, ErrorType(err), "%v", err)
	}
	assert.Empty(t, ErrorType(nil))
}
