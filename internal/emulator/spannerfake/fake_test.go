package spannerfake_test

import (
	"context"
	"testing"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/spannerfake"
)

func TestFakeSurvivesPanics(t *testing.T) {
	ctx := t.Context()
	f, err := spannerfake.Start(ctx, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	host := f.Addr()
	db := "projects/p/instances/i/databases/d"

	// CreateDatabase panics inside spannertest; the interceptor must turn it
	// into an error and keep serving.
	err = emulator.CreateDatabase(ctx, host, db, nil)
	if status.Code(err) != codes.Internal {
		t.Fatalf("CreateDatabase on the fake = %v; want an Internal gRPC error", err)
	}
	if err := emulator.DropDatabase(ctx, host, db); status.Code(err) != codes.Internal {
		t.Errorf("DropDatabase on the fake = %v; want an Internal gRPC error", err)
	}

	admin, err := database.NewDatabaseAdminClient(ctx, emulator.ClientOptions(host)...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	op, err := admin.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{
		Database:   db,
		Statements: []string{"CREATE TABLE T (Id INT64 NOT NULL, V STRING(MAX)) PRIMARY KEY (Id)"},
	})
	if err != nil {
		t.Fatalf("UpdateDatabaseDdl after a recovered panic: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	t.Setenv("SPANNER_EMULATOR_HOST", host)
	client, err := spanner.NewClient(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Apply(ctx, []*spanner.Mutation{spanner.Insert("T", []string{"Id", "V"}, []any{int64(1), "one"})}); err != nil {
		t.Fatal(err)
	}
	row, err := client.Single().ReadRow(ctx, "T", spanner.Key{int64(1)}, []string{"V"})
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := row.Columns(&v); err != nil || v != "one" {
		t.Errorf("read back %q, %v; want one", v, err)
	}
	if len(spannerfake.Limitations()) == 0 {
		t.Error("FakeLimitations is empty")
	}
}
