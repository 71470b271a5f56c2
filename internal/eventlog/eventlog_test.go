package eventlog

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestBatchAndRecords(t *testing.T) {
	res := pcommon.NewResource()
	res.Attributes().PutStr("netns.path", "/proc/self/ns/net")
	var lds []plog.Logs
	for b := 0; b < 2; b++ {
		ld, recs := NewBatch(res, "scope", "v1")
		for _, name := range []string{"a", "b", "a"} {
			lr := recs.AppendEmpty()
			lr.SetEventName(name)
			lr.Attributes().PutInt("batch", int64(b))
		}
		lds = append(lds, ld)
	}
	rl := lds[0].ResourceLogs().At(0)
	require.Equal(t, "https://opentelemetry.io/schemas/1.38.0", rl.SchemaUrl())
	v, _ := rl.Resource().Attributes().Get("netns.path")
	require.Equal(t, "/proc/self/ns/net", v.Str())
	require.Equal(t, "scope", rl.ScopeLogs().At(0).Scope().Name())
	require.Equal(t, "v1", rl.ScopeLogs().At(0).Scope().Version())
	a := Records(lds, "a")
	require.Len(t, a, 4)
	b, _ := a[3].Attributes().Get("batch")
	require.Equal(t, int64(1), b.Int())
	require.Empty(t, Records(lds, "c"))
	require.Empty(t, Records(nil, "a"))
}
