package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/spangate/spangate/internal/emulator"
)

// cancelOn is a writer that cancels when what it was written contains
// marker.
type cancelOn struct {
	mu     sync.Mutex
	b      bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.b.Write(p)
	if strings.Contains(c.b.String(), c.marker) {
		c.cancel()
	}
	return n, err
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// TestCtrlCThroughGatewayExits130 is issue 13.12 from the CLI's side: an
// apply through the gateway interrupted (SIGINT cancels run's context)
// exits 130 and says that the gateway stops at the next step boundary and
// releases the lock; the next apply resumes and finishes.
func TestCtrlCThroughGatewayExits130(t *testing.T) {
	d := startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find, "--addr", "127.0.0.1:0", "--spanner-addr", "127.0.0.1:0")
	url := "http://" + d.httpAddr
	tok, stderr, code := cli(t, map[string]string{}, "dev", "token", "--gateway", url, "--provider", "github")
	if code != 0 {
		t.Fatalf("dev token: %d %s", code, stderr)
	}
	files := map[string]string{"0001_t.sql": "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id);"}
	for v := 2; v <= 12; v++ {
		files[fmt.Sprintf("%04d_row.sql", v)] = fmt.Sprintf("INSERT INTO T (Id) VALUES (%d);", v)
	}
	dir := writeMigrations(t, files)
	env := map[string]string{"SPANGATE_URL": url, "SPANGATE_DATABASE": "dev", "SPANGATE_ID_TOKEN": strings.TrimSpace(tok), "CI": "true"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errb := &cancelOn{marker: "[2/", cancel: cancel} // Ctrl-C as step 2 starts
	var out bytes.Buffer
	err := run(ctx, []string{"migrate", "apply", "--dir", dir}, lookup, strings.NewReader(""), &out, errb)
	var report bytes.Buffer
	if code := reportError(&report, err); code != exitInterrupted {
		t.Fatalf("interrupted apply: exit %d, want 130\n%s%s", code, errb.String(), report.String())
	}
	if !strings.Contains(report.String(), "next step boundary") || !strings.Contains(report.String(), "hint:") {
		t.Errorf("the CLI does not say what happens on the gateway:\n%s", report.String())
	}
	// The gateway releases the lock itself; the next apply waits for it if
	// need be, then resumes and finishes.
	_, stderr, code = cli(t, env, "migrate", "apply", "--dir", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("apply after the interrupt: exit %d\n%s", code, stderr)
	}
	outs, _, code := cli(t, env, "migrate", "status", "--dir", dir, "--format", "json")
	if code != 0 || strings.Count(outs, `"state": "applied"`) != 12 {
		t.Fatalf("status after resuming: exit %d\n%s", code, outs)
	}
}
