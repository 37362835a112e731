package gateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/migration"
)

// holdDML is a gateway database whose DML step of migration version waits
// for release before it runs.
type holdDML struct {
	*adapterDB
	version int64
	release func()
}

func (h *holdDML) WithAudit(actor audit.Entry, files ...*migration.File) migration.HistoryStore {
	return &heldHistory{HistoryStore: h.adapterDB.WithAudit(actor, files...), h: h}
}

type heldHistory struct {
	migration.HistoryStore
	h *holdDML
}

func (s *heldHistory) ApplyDML(ctx context.Context, l migration.Lease, stmts []string, rec migration.Record, from int) ([]int64, error) {
	if rec.Version == s.h.version {
		s.h.release()
	}
	return s.HistoryStore.ApplyDML(ctx, l, stmts, rec, from)
}

// TestInterruptedClientStopsGatewayApply is issue 13.12: the CLI's apply
// through the gateway is interrupted (Ctrl-C cancels its context) during a
// step. The client says so with kind Canceled (exit 130); the gateway
// notices its client went away, lets the step under way finish, stops at
// the next step boundary and releases the lock, as direct mode does. The
// next apply resumes where it stopped.
func TestInterruptedClientStopsGatewayApply(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, nil)
	files := []gateway.MigrationFile{{Name: "0001_c.sql", Content: "CREATE TABLE C (Id INT64 NOT NULL, N INT64 NOT NULL) PRIMARY KEY (Id)"}}
	for v := 2; v <= 8; v++ {
		files = append(files, gateway.MigrationFile{Name: fmt.Sprintf("%04d_row.sql", v), Content: fmt.Sprintf("INSERT INTO C (Id, N) VALUES (%d, 0)", v)})
	}
	deps := st.deps(t, cfg, nil)
	// The DML of 0002 runs only once the gateway has seen its client go:
	// the stop is then due at the boundary after it, whatever the timing.
	waitGone := func() {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a gateway that never notices fails below
		defer cancel()
		for !strings.Contains(st.logs.String(), "the client went away") {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	deps.Databases = &wrapOpener{inner: st.databases(t, deps.Logger), wrap: func(db *adapterDB) gateway.Database {
		return &holdDML{adapterDB: db, version: 2, release: waitGone}
	}}
	s, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := gatewayclient.New(srv.URL, srv.Client(), spangate.RunMetadata{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exchange(t.Context(), st.iss.mint(t, repoAdmin, nil)); err != nil {
		t.Fatal(err)
	}

	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	_, err = c.Apply(ctx, testDB, files, func(ev migration.Event) {
		if ev.Type == "step" && ev.Step == 2 {
			interrupt() // Ctrl-C while 0002's step runs
		}
	})
	if spangate.KindOf(err) != spangate.Canceled || !strings.Contains(err.Error(), "next step boundary") || spangate.HintOf(err) == "" {
		t.Fatalf("interrupted apply: kind %v, %v (hint %q); want canceled, saying what the gateway does", spangate.KindOf(err), err, spangate.HintOf(err))
	}

	// The gateway releases the lock once it has stopped.
	for {
		l, err := st.direct.Acquire(t.Context(), "probe", time.Second)
		if err == nil {
			if err := st.direct.Release(t.Context(), l); err != nil {
				t.Fatal(err)
			}
			break
		}
		if t.Context().Err() != nil {
			t.Fatalf("the lock was never released: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	hist, err := st.direct.History(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, r := range hist {
		states = append(states, fmt.Sprintf("%d:%s", r.Version, r.State))
	}
	if got := strings.Join(states, " "); got != "1:applied 2:applied" {
		t.Errorf("history after the interrupt = %s; want 0001 and 0002 applied (the step under way finished) and nothing after", got)
	}

	res, err := c.Apply(t.Context(), testDB, files, nil)
	if err != nil || fmt.Sprint(res.Applied) != "[3 4 5 6 7 8]" {
		t.Fatalf("resume: %+v, %v; want [3 4 5 6 7 8]", res, err)
	}
}
