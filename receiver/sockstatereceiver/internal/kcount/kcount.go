package kcount

// NStates bounds the state index of the count arrays (kernel TCP states).
const NStates = 16

// MaxPorts is how many local ports can be counted separately.
const MaxPorts = 64

// Transport indexes: 0 TCP, 1 UDP. Family indexes: 0 IPv4, 1 IPv6.
type (
	// Counts is sockets per transport, family and state.
	Counts = [2][2][NStates]uint64
	// PortCounts is sockets per transport, tracked port slot and state.
	PortCounts = [2][MaxPorts][NStates]uint64
	// Mini is, of the TCP counts, the timewait sockets (by substate) and
	// request sockets (as SYN_RECV), per family and state.
	Mini = [2][NStates]uint64
	// Deltas are signed per-family, per-state changes of a namespace's TCP
	// socket counts since the programs were attached ([0] IPv4, [1] IPv6).
	Deltas = [2][NStates]int64
)
