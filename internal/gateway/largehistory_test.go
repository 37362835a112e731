package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/migration"
)

// TestLargeHistoryThroughGateway (issue 13.11): a history of 5,000 files,
// 4,999 applied and holding more than the gateway's 4 MiB request limit,
// plans and applies through the gateway: applied files travel as version
// and checksum only, the pending one whole, and the gateway models the
// applied ones from the content its history recorded (no false drift).
func TestLargeHistoryThroughGateway(t *testing.T) {
	const ddl = "CREATE TABLE T (Id INT64 NOT NULL, Pad STRING(MAX)) PRIMARY KEY (Id)"
	st := newStack(t, ddl)
	pad := strings.Repeat("x", 1000)
	srcs := []migration.Source{{Name: "migrations/0001_t.sql", Content: []byte(ddl + ";\n")}}
	total := len(srcs[0].Content)
	for v := 2; v <= 5000; v++ {
		c := []byte(fmt.Sprintf("INSERT INTO T (Id, Pad) VALUES (%d, '%s');\n", v, pad))
		srcs = append(srcs, migration.Source{Name: fmt.Sprintf("migrations/%04d_row%d.sql", v, v), Content: c})
		total += len(c)
	}
	if total <= 4<<20 {
		t.Fatalf("the history holds %d bytes; the test needs more than 4 MiB", total)
	}

	// The database's history already shows the first 4,999 applied.
	ctx := t.Context()
	db := st.direct
	if err := db.Init(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := db.Acquire(ctx, "seed", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	applied := migration.Parse(srcs[:4999])
	for i := 0; i < len(applied.Files); i += 1000 {
		var recs []migration.Record
		for _, f := range applied.Files[i:min(i+1000, len(applied.Files))] {
			n := len(f.Statements)
			recs = append(recs, migration.Record{Version: f.Version, Name: f.Name, Checksum: f.Checksum, State: migration.StateApplied,
				StatementsApplied: n, StatementsTotal: n, PrefixChecksum: migration.PrefixChecksum(f, n), AppliedBy: "seed",
				FinishedAt: time.Now(), Content: f.Content})
		}
		if err := db.Save(ctx, lease, recs...); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}

	s := st.server(t, st.config(t, nil), nil)
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	var status gateway.StatusResponse
	r := c.get("/v1/databases/" + testDB + "/migrations")
	wantStatus(t, "status", r, 200)
	r.decode(t, &status)
	body := gateway.MigrationsRequest{Migrations: gatewayclient.FilesAgainst(srcs, &status)}
	raw, _ := json.Marshal(body)
	if len(raw) >= 1<<20 {
		t.Errorf("the request holds %d bytes; applied files must travel as checksums", len(raw))
	}
	whole := 0
	for _, m := range body.Migrations {
		if m.Content != "" {
			whole++
		}
	}
	if whole != 1 {
		t.Errorf("%d files sent whole, want only the pending one", whole)
	}

	r = c.post("/v1/databases/"+testDB+"/migrations:plan", body)
	wantStatus(t, "plan", r, 200)
	var plan gateway.PlanResponse
	r.decode(t, &plan)
	if len(plan.Applied) != 4999 || len(plan.Pending) != 1 || plan.Pending[0].Version != 5000 || plan.Blocked {
		t.Fatalf("plan: %d applied, pending %+v, blocked %v, findings %+v", len(plan.Applied), plan.Pending, plan.Blocked, plan.Findings)
	}
	for _, f := range plan.Findings {
		if f.Rule == migration.RuleDrift || f.Severity == migration.SeverityError {
			t.Errorf("finding %+v", f)
		}
	}
	r, lines := applyLines(t, c, map[string]any{"migrations": body.Migrations})
	wantStatus(t, "apply", r, 200)
	if last := lines[len(lines)-1]; last["type"] != gateway.LineResult || fmt.Sprint(last["applied"]) != "[5000]" {
		t.Fatalf("apply: %v", last)
	}

	// A file sent by checksum that the history does not show applied is
	// refused with a hint to send it whole.
	body.Migrations[len(body.Migrations)-1] = gateway.MigrationFile{Name: "5001_next.sql", Checksum: strings.Repeat("a", 64)}
	r = c.post("/v1/databases/"+testDB+"/migrations:plan", body)
	r.decode(t, &plan)
	if !plan.Blocked || !strings.Contains(string(r.body), "send the file whole") {
		t.Errorf("plan with an unknown checksum-only file: %s", r.body)
	}
}

// TestBaselineThroughGateway: the baseline endpoint needs migrate, reads
// wrench's table and records the baseline with the caller as principal.
func TestBaselineThroughGateway(t *testing.T) {
	const createA = "CREATE TABLE A (Id INT64 NOT NULL) PRIMARY KEY (Id)"
	st := newStack(t, createA, "CREATE TABLE SchemaMigrations (Version INT64 NOT NULL, Dirty BOOL NOT NULL) PRIMARY KEY (Version)")
	if _, err := st.direct.Client().Apply(t.Context(), []*spanner.Mutation{
		spanner.Insert("SchemaMigrations", []string{"Version", "Dirty"}, []any{int64(1), false})}); err != nil {
		t.Fatal(err)
	}
	s := st.server(t, st.config(t, nil), nil)
	body := map[string]any{"migrations": []map[string]string{{"name": "000001.sql", "content": createA + ";"}, {"name": "000002.sql", "content": "CREATE TABLE B (Id INT64 NOT NULL) PRIMARY KEY (Id);"}}}
	planner := login(t, s.Handler(), st.iss.mint(t, repoPlanner, nil))
	wantStatus(t, "baseline as a planner", planner.post("/v1/databases/"+testDB+"/migrations:baseline", body), 403)

	c := login(t, s.Handler(), st.iss.mint(t, repoMigrate, nil))
	r := c.post("/v1/databases/"+testDB+"/migrations:baseline", body)
	wantStatus(t, "baseline", r, 200)
	var res gateway.BaselineResponse
	r.decode(t, &res)
	if res.Version != 1 || fmt.Sprint(res.Recorded) != "[1]" || !strings.Contains(res.Source, "SchemaMigrations") {
		t.Fatalf("baseline: %s", r.body)
	}
	es, err := st.direct.ListAudit(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || e.Action == "migrate" && strings.Contains(e.Reason, "baseline") && strings.Contains(e.Principal, repoMigrate)
	}
	if !found {
		t.Errorf("no baseline entry with the caller's principal in %+v", es)
	}
}

// TestProtoDescriptorsThroughGateway: the descriptors the CLI sends with a
// pending file reach Spanner with its proto bundle statement, and count in
// the file's checksum on the gateway as they do locally.
func TestProtoDescriptorsThroughGateway(t *testing.T) {
	st := newStack(t)
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name: proto.String("shop.proto"), Package: proto.String("examples.shop"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Item")}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	content := "-- spangate:proto-descriptors shop.pb\nCREATE PROTO BUNDLE (examples.shop.Item);\nCREATE TABLE P (Id INT64 NOT NULL, I examples.shop.Item) PRIMARY KEY (Id);"
	srcs := []migration.Source{{Name: "m/0001_protos.sql", Content: []byte(content), ProtoDescriptors: b}}
	s := st.server(t, st.config(t, nil), nil)
	c := login(t, s.Handler(), st.iss.mint(t, repoAdmin, nil))
	r, lines := applyLines(t, c, map[string]any{"migrations": gatewayclient.FilesAgainst(srcs, nil)})
	wantStatus(t, "apply", r, 200)
	if last := lines[len(lines)-1]; last["type"] != gateway.LineResult {
		t.Fatalf("apply: %s", r.body)
	}
	hist, err := st.direct.History(t.Context())
	if err != nil || len(hist) != 1 || hist[0].Checksum != migration.FileChecksum([]byte(content), b) {
		t.Errorf("history %+v %v; want the checksum over content and descriptors", hist, err)
	}
	var status gateway.StatusResponse
	c.get("/v1/databases/"+testDB+"/migrations").decode(t, &status)
	if fs := gatewayclient.FilesAgainst(srcs, &status); fs[0].Content != "" {
		t.Errorf("the applied file with descriptors was not sent by checksum: %+v", fs[0])
	}
}
