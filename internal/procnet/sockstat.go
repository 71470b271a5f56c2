package procnet

import (
	"errors"
	"fmt"
)

// ParseSockstat parses /proc/net/sockstat and /proc/net/sockstat6, lines of
// a prefix and name/value pairs:
//
//	sockets: used 290
//	TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1
//	UDP6: inuse 1
//
// fn receives each pair with Section set to the prefix ("sockets", "TCP",
// "UDP6") and Name to the field ("inuse", "mem"). Units are the kernel's:
// mem is in pages, FRAG memory in bytes.
func (p *Parser) ParseSockstat(data []byte, fn CounterFunc) error {
	var errs []error
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		if f, _ := nextField(line); f == nil {
			continue
		}
		prefix, rest, ok := cutPrefix(line)
		if !ok {
			errs = append(errs, &LineError{lineNo, "no \"Prefix:\" at the start"})
			continue
		}
		p.c.Section = prefix
		for {
			var name, val []byte
			name, rest = nextField(rest)
			if name == nil {
				break
			}
			val, rest = nextField(rest)
			if val == nil {
				errs = append(errs, &LineError{lineNo, fmt.Sprintf("%s %s: no value", prefix, name)})
				break
			}
			if err := p.deliver(name, val, fn); err != nil {
				errs = append(errs, &LineError{lineNo, fmt.Sprintf("%s %s", prefix, err)})
			}
		}
	}
	p.c.Section = nil
	return errors.Join(errs...)
}
