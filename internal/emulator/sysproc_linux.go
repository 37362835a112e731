package emulator

import "syscall"

// sysProcAttr puts the emulator in its own process group, so Stop can signal
// everything it started, and asks the kernel to kill it when the thread
// that started it dies, so it never outlives a crashed spangate.
//
// Pdeathsig fires when the starting OS thread exits, not only the process.
// The Go runtime keeps threads alive unless a goroutine locked to one with
// runtime.LockOSThread returns without unlocking; Start must not be called
// from such a goroutine.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
