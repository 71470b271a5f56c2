//go:build !linux

package tcpflowreceiver // import "github.com/netstack-otel/netstack/receiver/tcpflowreceiver"

import (
	"errors"

	"github.com/netstack-otel/netstack/receiver/tcpflowreceiver/internal/probe"
)

func openDiagSource(string, probe.Config) (flowSource, error) {
	return nil, errors.New("tcpflow: the sockdiag fallback needs Linux")
}
