package emulator_test

import (
	"testing"

	"cloud.google.com/go/spanner"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
)

func TestAdmin(t *testing.T) {
	ctx := t.Context()
	host := emulatortest.Host()
	if err := emulator.CreateInstance(ctx, host, emulatortest.Project, emulatortest.Instance); err != nil {
		t.Fatalf("CreateInstance again (idempotent) = %v", err)
	}
	db := emulatortest.InstancePath + "/databases/admin-test"
	if err := emulator.CreateDatabase(ctx, host, db, []string{"CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)"}); err != nil {
		t.Fatal(err)
	}
	err := emulator.CreateDatabase(ctx, host, db, nil)
	if spangate.KindOf(err) != spangate.Conflict {
		t.Errorf("CreateDatabase of an existing database = %v; want conflict", err)
	}
	client, err := spanner.NewClient(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Apply(ctx, []*spanner.Mutation{spanner.Insert("T", []string{"Id"}, []any{int64(1)})}); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if err := emulator.DropDatabase(ctx, host, db); err != nil {
		t.Fatal(err)
	}
	if err := emulator.DropDatabase(ctx, host, "not/a/path"); spangate.KindOf(err) != spangate.Invalid {
		t.Errorf("DropDatabase of a bad path = %v; want invalid", err)
	}
	err = emulator.CreateDatabase(ctx, host, "projects/p/instances/missing/databases/d", nil)
	if spangate.KindOf(err) != spangate.NotFound {
		t.Errorf("CreateDatabase in a missing instance = %v; want not found", err)
	}
}
