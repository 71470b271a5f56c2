package engine

// Key identifies a target among all of a receiver's targets: its name and
// host. Two targets with the same key would report the same series, so the
// receiver refuses the second, and the engine keys its targets by it.
func Key(name, host string) string { return name + "\x00" + host }

// Key is the target's Key.
func (t Target) Key() string { return Key(t.Name, t.Host) }
