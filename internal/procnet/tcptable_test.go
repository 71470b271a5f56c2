package procnet

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

type stateCount map[uint8]int

func scanAll(t *testing.T, r io.Reader) (stateCount, map[uint16]int, error) {
	t.Helper()
	var s SocketTableScanner
	states, ports := stateCount{}, map[uint16]int{}
	err := s.Scan(r, func(e *SocketEntry) {
		states[e.State]++
		ports[e.LocalPort]++
	})
	return states, ports, err
}

func TestSocketTableFixtures(t *testing.T) {
	// Captured on Linux 6.18 from a namespace holding the kernel test's
	// population (see receiver/sockstatereceiver kernel test).
	for file, want := range map[string]stateCount{
		"tcp":  {0x01: 47, 0x02: 1, 0x03: 1, 0x05: 3, 0x06: 5, 0x08: 3, 0x0A: 3},
		"tcp6": {0x01: 47, 0x02: 1, 0x03: 1, 0x05: 3, 0x06: 5, 0x08: 3, 0x0A: 3},
		"udp":  {0x01: 1, 0x07: 1},
		"udp6": {0x01: 1, 0x07: 1},
	} {
		f, err := os.Open("testdata/linux-6.18/" + file)
		require.NoError(t, err)
		got, _, err := scanAll(t, f)
		f.Close()
		require.NoError(t, err, file)
		require.Equal(t, want, got, file)
	}
}

const sampleTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 616 1 00000000ded16a25 100 0 0 10 0
   1: 0100007F:9C40 0100007F:07E8 01 00000010:00000000 00:00000000 00000000     0        0 617 1 00000000ded16a25 20 4 30 10 -1
`

func TestSocketTableScanSmallReads(t *testing.T) {
	// One byte per read forces every carry-over path.
	var s SocketTableScanner
	var got []SocketEntry
	err := s.Scan(iotest.OneByteReader(strings.NewReader(sampleTCP)), func(e *SocketEntry) { got = append(got, *e) })
	require.NoError(t, err)
	require.Equal(t, []SocketEntry{
		{State: 0x0A, LocalPort: 2024, TxQueue: 0, RxQueue: 3},
		{State: 0x01, LocalPort: 40000, TxQueue: 16, RxQueue: 0},
	}, got)
	// Without the trailing newline the last row still counts.
	got = got[:0]
	require.NoError(t, s.ParseSocketTable([]byte(strings.TrimSuffix(sampleTCP, "\n")), func(e *SocketEntry) { got = append(got, *e) }))
	require.Len(t, got, 2)
}

func TestSocketTableErrors(t *testing.T) {
	bad := sampleTCP + "   2: 0100007F 0100007F:07E8 01 00000000:00000000\n" +
		"   3: 0100007F:07E8 0100007F:07E8 1FF 00000000:00000000\n" +
		"   4: 0100007F:07E8 0100007F:07E8 01\n" +
		"   5 0100007F:07E8 0100007F:07E8 01 00000000:00000000\n" +
		"   6: 0100007F:07E8 0100007F:07E8 01 0000000000:00000000\n"
	got, _, err := scanAll(t, strings.NewReader(bad))
	require.Equal(t, stateCount{0x0A: 1, 0x01: 1}, got, "good rows are still delivered")
	for _, want := range []string{"line 4: local_address", "line 5: state", "line 6: fewer than 5", "line 7: row number", "line 8: queues"} {
		require.ErrorContains(t, err, want)
	}
	long := "  sl\n   0: " + strings.Repeat("A", socketTableChunk) + "\n"
	_, _, err = scanAll(t, strings.NewReader(long))
	require.ErrorContains(t, err, "line 2: line longer than")
	_, _, err = scanAll(t, iotest.ErrReader(io.ErrUnexpectedEOF))
	require.ErrorContains(t, err, "reading socket table")
}

func TestSocketTableZeroAllocs(t *testing.T) {
	data := []byte(sampleTCP + strings.Repeat("   1: 0100007F:9C40 0100007F:07E8 01 00000010:00000000 00:00000000 00000000     0        0 617 1\n", 5000))
	var s SocketTableScanner
	r := bytes.NewReader(nil)
	n := 0
	require.NoError(t, s.ParseSocketTable(data, func(*SocketEntry) { n++ }))
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(data)
		_ = s.Scan(r, func(*SocketEntry) {})
	})
	require.Zero(t, allocs)
	require.Equal(t, 5002, n)
}

func FuzzSocketTable(f *testing.F) {
	f.Add([]byte(sampleTCP))
	f.Add([]byte("  sl\n   0: :: 01 :\n"))
	if b, err := os.ReadFile("testdata/linux-6.18/tcp6"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SocketTableScanner
		var n1, n2 int
		err1 := s.ParseSocketTable(b, func(*SocketEntry) { n1++ })
		err2 := s.Scan(iotest.HalfReader(strings.NewReader(string(b))), func(*SocketEntry) { n2++ })
		if n1 != n2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("in-memory parse found %d rows (err %v), streaming %d (err %v)", n1, err1, n2, err2)
		}
	})
}
