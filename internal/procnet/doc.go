// Package procnet parses the tables the kernel prints under /proc/net.
//
// The parsers take the raw bytes of one read of a file, never allocate per
// field, never panic on malformed input, and report what they could not
// parse with the file's line number while still delivering every field they
// could. CounterSet follows the counters of repeated reads as a scraper
// needs them: one slot per name, 32-bit wraps continued, resets reported.
// They know nothing of OpenTelemetry.
package procnet
