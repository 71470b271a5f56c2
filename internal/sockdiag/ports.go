package sockdiag

// PortCounts counts sockets per state for a small set of local ports with
// one table lookup per socket.
type PortCounts struct {
	slot   [1 << 16]uint8 // port -> 1 + index into Counts; 0 = not tracked
	Ports  []uint16
	Counts []StateCounts
}

// NewPortCounts tracks up to 255 distinct ports; extra and duplicate ports
// are ignored.
func NewPortCounts(ports []uint16) *PortCounts {
	p := &PortCounts{}
	for _, port := range ports {
		if p.slot[port] != 0 || len(p.Ports) == 255 {
			continue
		}
		p.Ports = append(p.Ports, port)
		p.slot[port] = uint8(len(p.Ports))
	}
	p.Counts = make([]StateCounts, len(p.Ports))
	return p
}

// Of returns the counts of port, or nil when the port is not tracked.
func (p *PortCounts) Of(port uint16) *StateCounts {
	if p == nil || p.slot[port] == 0 {
		return nil
	}
	return &p.Counts[p.slot[port]-1]
}

// Reset zeroes every count.
func (p *PortCounts) Reset() {
	if p != nil {
		clear(p.Counts)
	}
}
