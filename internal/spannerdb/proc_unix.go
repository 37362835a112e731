//go:build unix

package spannerdb

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with pid runs on this host
// (signal 0 checks without signalling). A process of another user counts
// as alive.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || !errors.Is(err, syscall.ESRCH)
}
