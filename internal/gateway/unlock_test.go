package gateway_test

import (
	"net/http"
	"os"
	osexec "os/exec"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/spannerdb"
)

// TestUnlockThroughGateway: a pipeline with only the gateway breaks the
// lock a killed run left (migrate action), never a live one's.
func TestUnlockThroughGateway(t *testing.T) {
	st := newStack(t)
	s := st.server(t, st.config(t, nil), nil)
	c := login(t, s.Handler(), st.iss.mint(t, repoMigrate, nil))
	unlock := func(q string) response { return c.do("POST", "/v1/databases/"+testDB+"/migrations:unlock"+q, nil, "") }

	var free gateway.UnlockResponse
	r := unlock("")
	wantStatus(t, "unlock of a free lock", r, http.StatusOK)
	if r.decode(t, &free); free.Held {
		t.Fatalf("free lock reported held: %s", r.body)
	}
	if _, err := st.direct.Acquire(t.Context(), "killed run", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "force while renewed", unlock("?force=true"), http.StatusConflict)

	dead := osexec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if _, err := st.direct.Client().Apply(t.Context(), []*spanner.Mutation{spanner.Update(spannerdb.LocksTable,
		[]string{"Name", "HolderHost", "HolderPid"}, []any{"migrations", host, int64(dead.Process.Pid)})}); err != nil {
		t.Fatal(err)
	}
	var broken gateway.UnlockResponse
	r = unlock("?force=true")
	wantStatus(t, "force of a gone holder", r, http.StatusOK)
	if r.decode(t, &broken); !broken.Broken || !broken.HolderGone || broken.Holder != "killed run" {
		t.Fatalf("unlock = %s", r.body)
	}
	planner := login(t, s.Handler(), st.iss.mint(t, repoPlanner, nil))
	wantStatus(t, "unlock without migrate", planner.do("POST", "/v1/databases/"+testDB+"/migrations:unlock?force=true", nil, ""), http.StatusForbidden)
}
