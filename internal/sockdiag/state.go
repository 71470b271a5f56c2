package sockdiag

// State is a kernel socket state (include/net/tcp_states.h). UDP and RAW
// sockets use two of them: Established when connected, Close otherwise
// (ss prints the latter as UNCONN).
type State uint8

// Kernel socket states, numbered as in include/net/tcp_states.h.
const (
	Established State = 1 + iota
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv // a request socket; inet_diag reports it as SynRecv

	// NumStates bounds the State values; a StateCounts array is indexed by State.
	NumStates = NewSynRecv + 1
)

// AllStates is the request bitmask selecting every state.
const AllStates uint32 = 1<<NumStates - 2

// Mask returns the request bitmask selecting s.
func (s State) Mask() uint32 { return 1 << s }

var stateNames = [NumStates]string{
	Established: "established",
	SynSent:     "syn_sent",
	SynRecv:     "syn_received",
	FinWait1:    "fin_wait_1",
	FinWait2:    "fin_wait_2",
	TimeWait:    "time_wait",
	Close:       "closed",
	CloseWait:   "close_wait",
	LastAck:     "last_ack",
	Listen:      "listen",
	Closing:     "closing",
	NewSynRecv:  "syn_received",
}

// String returns the OpenTelemetry semantic-convention name of the state
// (network.connection.state), or "" for a value outside the kernel's range.
func (s State) String() string {
	if s >= NumStates {
		return ""
	}
	return stateNames[s]
}

// StateCounts holds a count per State; index 0 is unused.
type StateCounts [NumStates]uint64

// Total returns the sum over all states.
func (c *StateCounts) Total() uint64 {
	var t uint64
	for _, v := range c {
		t += v
	}
	return t
}

// selected reports whether a socket reported in state st matches the
// request mask. The kernel filters already, except for RAW sockets; request
// sockets match either SynRecv or NewSynRecv.
func selected(mask uint32, st State) bool {
	if st == SynRecv {
		return mask&(SynRecv.Mask()|NewSynRecv.Mask()) != 0
	}
	return mask&st.Mask() != 0
}
