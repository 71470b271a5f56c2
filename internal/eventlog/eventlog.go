// Package eventlog builds and reads the OTLP log records the receivers send
// as events in a logs pipeline (tcpflow's samples and flow closes,
// connprobe's bursts, traces, port probes and route changes).
package eventlog // import "github.com/netstack-otel/netstack/internal/eventlog"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	conventions "go.opentelemetry.io/otel/semconv/v1.38.0"
)

// NewBatch starts an empty plog.Logs with one resource (a copy of res,
// with the schema URL of the semantic conventions every receiver's
// metadata.yaml declares, as its metrics carry) and one scope; records are
// appended to the returned slice.
func NewBatch(res pcommon.Resource, scopeName, version string) (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	return ld, Append(ld, res, scopeName, version)
}

// Append adds a resource (a copy of res) with one scope to ld, for a batch
// that spans several resources, and returns the scope's records to fill.
func Append(ld plog.Logs, res pcommon.Resource, scopeName, version string) plog.LogRecordSlice {
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl(conventions.SchemaURL)
	res.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	sl.Scope().SetVersion(version)
	return sl.LogRecords()
}

// Records returns the records named event in lds, in order (for tests
// that read a logs pipeline back).
func Records(lds []plog.Logs, event string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range lds {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if lr := lrs.At(k); lr.EventName() == event {
						out = append(out, lr)
					}
				}
			}
		}
	}
	return out
}
