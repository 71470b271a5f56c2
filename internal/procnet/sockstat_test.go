package procnet

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func sockstatMap(t *testing.T, data []byte) (map[string]uint64, error) {
	t.Helper()
	var p Parser
	m := map[string]uint64{}
	err := p.ParseSockstat(data, func(c *Counter) { m[string(c.Section)+"."+string(c.Name)] = c.Value })
	return m, err
}

func TestParseSockstatFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/linux-6.18/sockstat")
	require.NoError(t, err)
	m, err := sockstatMap(t, b)
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{
		"sockets.used": 122,
		"TCP.inuse":    57, "TCP.orphan": 6, "TCP.tw": 10, "TCP.alloc": 125, "TCP.mem": 160,
		"UDP.inuse": 2, "UDP.mem": 0, "UDPLITE.inuse": 1, "RAW.inuse": 1,
		"FRAG.inuse": 0, "FRAG.memory": 0,
	}, m)
	b, err = os.ReadFile("testdata/linux-6.18/sockstat6")
	require.NoError(t, err)
	m, err = sockstatMap(t, b)
	require.NoError(t, err)
	require.Len(t, m, 6)
	require.Contains(t, m, "TCP6.inuse")
}

func TestParseSockstatErrors(t *testing.T) {
	m, err := sockstatMap(t, []byte("TCP: inuse 5 orphan\nnoprefix 1\nUDP: inuse x\nRAW: inuse 2\n"))
	require.ErrorContains(t, err, "line 1: TCP orphan: no value")
	require.ErrorContains(t, err, `line 2: no "Prefix:"`)
	require.ErrorContains(t, err, `line 3: UDP inuse: value "x" is not an integer`)
	require.Equal(t, map[string]uint64{"TCP.inuse": 5, "RAW.inuse": 2}, m)
}

func FuzzParseSockstat(f *testing.F) {
	for _, n := range []string{"testdata/linux-6.18/sockstat", "testdata/linux-6.18/sockstat6"} {
		if b, err := os.ReadFile(n); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("TCP: inuse -1 mem 99999999999999999999999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parser
		_ = p.ParseSockstat(b, func(c *Counter) {
			if len(c.Section) == 0 || len(c.Name) == 0 {
				t.Fatalf("empty section or name from %q", b)
			}
		})
	})
}
