//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "benchcmd: the tcpflow probe needs Linux")
	os.Exit(1)
}
