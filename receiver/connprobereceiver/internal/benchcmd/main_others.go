//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "benchcmd: connprobe's engine is Linux only")
	os.Exit(1)
}
