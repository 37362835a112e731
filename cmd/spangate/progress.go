package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/spangate/spangate/internal/migration"
)

// progress renders apply events on stderr: one rewritten line on a
// terminal, plain lines otherwise (CI logs).
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	live bool
	open bool
}

func newProgress(w io.Writer, live bool) *progress { return &progress{w: w, live: live} }

// Report implements migration.Reporter.
func (p *progress) Report(ev migration.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := ev.Message
	if ev.Steps > 0 {
		line = fmt.Sprintf("[%d/%d] %s", ev.Step, ev.Steps, ev.Message)
	}
	if p.live && ev.Type == "step" {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.open = true
		return
	}
	if p.open {
		fmt.Fprint(p.w, "\n")
		p.open = false
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\n")
		p.open = false
	}
}
