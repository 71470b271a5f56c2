package connprobereceiver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/netstack-otel/netstack/receiver/connprobereceiver/internal/metadata"
)

// TestReloadLogsABadFileOncePerChange: a connmonitor file that stops parsing
// is logged once, not at every check interval; a new bad content, and a
// file that disappears, are logged once each too.
func TestReloadLogsABadFileOncePerChange(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	cfg := createDefaultConfig().(*Config)
	cfg.ConnmonitorFile = filepath.Join(t.TempDir(), "c.conf")
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	s.logger = zap.New(core)
	write := func(content string) { require.NoError(t, os.WriteFile(cfg.ConnmonitorFile, []byte(content), 0o600)) }

	write("127.0.0.3 ping=1 ping=2\n")
	for range 3 {
		s.reload()
	}
	require.Equal(t, 1, logs.Len(), "one error for one bad content: %v", logs.All())

	write("127.0.0.4 hops=0\n")
	for range 3 {
		s.reload()
	}
	require.Equal(t, 2, logs.Len(), "one more for a new bad content")

	require.NoError(t, os.Remove(cfg.ConnmonitorFile))
	for range 3 {
		s.reload()
	}
	require.Equal(t, 3, logs.Len(), "one more for the missing file")
	require.Contains(t, logs.All()[2].ContextMap()["error"], "no such file")
}
