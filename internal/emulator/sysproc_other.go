//go:build unix && !linux

package emulator

import "syscall"

// sysProcAttr puts the emulator in its own process group, so Stop can signal
// everything it started. Outside Linux there is no parent-death signal: a
// crashed spangate can leave the emulator running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
