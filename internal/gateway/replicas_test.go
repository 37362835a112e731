package gateway_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/spangate/spangate/internal/audit"
)

// TestTwoGateways runs two Server instances (two handlers, one database,
// the same session key) with 8 concurrent clients writing through both,
// each client's session used on both replicas. Afterwards the chain
// verifies, and every change has exactly one entry: no entry is lost or
// duplicated.
func TestTwoGateways(t *testing.T) {
	st := newStack(t, "CREATE TABLE Items (Id INT64 NOT NULL, Client INT64, N INT64) PRIMARY KEY (Id)")
	cfg := st.config(t, nil)
	replicas := []http.Handler{st.server(t, cfg, nil).Handler(), st.server(t, cfg, nil).Handler()}
	const clients, perClient = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient*2)
	for i := range clients {
		tok := login(t, replicas[i%2], st.iss.mint(t, repoAdmin, nil)).token
		wg.Go(func() {
			for j := range perClient {
				c := &client{t: t, h: replicas[(i+j)%2], token: tok}
				id := i*1000 + j
				r := exec(c, "INSERT INTO Items (Id, Client, N) VALUES (@id, @c, 0)", map[string]any{"id": id, "c": i})
				if r.status != 200 {
					errs <- fmt.Errorf("insert %d: %d %s", id, r.status, r.body)
					continue
				}
				c = &client{t: t, h: replicas[(i+j+1)%2], token: tok}
				r = exec(c, "UPDATE Items SET N = N + 1 WHERE Id = @id", map[string]any{"id": id})
				if r.status != 200 {
					errs <- fmt.Errorf("update %d: %d %s", id, r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Every update ran exactly once, whatever was retried or grouped.
	rows, err := st.direct.Query(t.Context(), "SELECT COUNT(*) AS n FROM Items WHERE N = 1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := rows[0]["n"].(int64); n != clients*perClient {
		t.Errorf("%d rows updated once, want %d", n, clients*perClient)
	}

	admin := login(t, replicas[0], st.iss.mint(t, repoAdmin, nil))
	r := admin.get("/v1/databases/" + testDB + "/audit:verify")
	var vr audit.VerifyResult
	r.decode(t, &vr)
	if !vr.OK {
		t.Fatalf("chain does not verify: %s", r.body)
	}
	// Exactly one write entry per change, and no other entries.
	if want := int64(clients * perClient * 2); vr.Entries != want {
		t.Errorf("chain has %d entries, want %d (one per change)", vr.Entries, want)
	}
	seqs := map[int64]bool{}
	for i := range clients {
		for j := range perClient {
			id := i*1000 + j
			r := admin.get(fmt.Sprintf("/v1/databases/%s/audit?table=Items&key=%d", testDB, id))
			var al struct {
				Entries []audit.Entry `json:"entries"`
			}
			r.decode(t, &al)
			if len(al.Entries) != 2 || al.Entries[0].Rows != 1 || al.Entries[1].Rows != 1 {
				t.Errorf("row %d has %d entries, want 2 (insert, update): %s", id, len(al.Entries), r.body)
			}
			for _, e := range al.Entries {
				if seqs[e.Seq] {
					t.Errorf("seq %d recorded twice", e.Seq)
				}
				seqs[e.Seq] = true
			}
		}
	}
}
