package emulatortest_test

import (
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
)

func TestMain(m *testing.M) { emulatortest.Main(m) }

var databaseIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*[a-z0-9]$`)

// exists reports whether the database db is on the emulator at host.
func exists(t *testing.T, host, db string) bool {
	t.Helper()
	c, err := database.NewDatabaseAdminClient(t.Context(), emulator.ClientOptions(host)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.GetDatabase(t.Context(), &databasepb.GetDatabaseRequest{Name: db})
	switch status.Code(err) {
	case codes.OK:
		return true
	case codes.NotFound:
		return false
	}
	t.Fatalf("GetDatabase(%s) on %s: %v", db, host, err)
	return false
}

func TestDatabaseID(t *testing.T) {
	for _, name := range []string{
		"TestX",
		"TestAVeryLongTestNameThatGoesOnAndOn/with_a_sub_test",
		"Test/ünïcode and spaces",
		"123",
		"",
		"_",
	} {
		id := emulatortest.DatabaseID(name)
		if len(id) > 30 || len(id) < 2 || !databaseIDPattern.MatchString(id) {
			t.Errorf("DatabaseID(%q) = %q; want 2-30 chars matching %s", name, id, databaseIDPattern)
		}
		if other := emulatortest.DatabaseID(name); other == id {
			t.Errorf("DatabaseID(%q) returned %q twice", name, id)
		}
	}
}

// roundTrip writes and reads a row of table T in db with the real client.
func roundTrip(t *testing.T, db string) {
	t.Helper()
	ctx := t.Context()
	client, err := spanner.NewClient(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Apply(ctx, []*spanner.Mutation{spanner.Insert("T", []string{"Id"}, []any{int64(7)})}); err != nil {
		t.Fatal(err)
	}
	row, err := client.Single().ReadRow(ctx, "T", spanner.Key{int64(7)}, []string{"Id"})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := row.Columns(&id); err != nil || id != 7 {
		t.Fatalf("read back %d, %v", id, err)
	}
}

func TestNewDatabase(t *testing.T) {
	var first string
	t.Run("create", func(t *testing.T) {
		first = emulatortest.NewDatabase(t, "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)")
		if !strings.HasPrefix(first, emulatortest.InstancePath+"/databases/") {
			t.Errorf("path %q not in %s", first, emulatortest.InstancePath)
		}
		roundTrip(t, first)
		// A second database in the same test is separate.
		second := emulatortest.NewDatabase(t, "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)")
		if second == first {
			t.Fatal("two databases with one name")
		}
		roundTrip(t, second)
	})
	// The subtest's cleanup dropped its database.
	if exists(t, emulatortest.Host(), first) {
		t.Errorf("database %s still exists after its test ended", first)
	}
}

func TestManyDatabasesAreDropped(t *testing.T) {
	// More than the emulator's 100-database limit per instance: only works
	// because each subtest drops its own.
	for i := 0; i < 110; i++ {
		t.Run("db", func(t *testing.T) { emulatortest.NewDatabase(t) })
	}
}

func TestStartDedicated(t *testing.T) {
	shared := emulatortest.Host()
	host := emulatortest.StartDedicated(t, "--abort_current_transaction_probability=10")
	if host == shared || emulatortest.Host() != host {
		t.Fatalf("dedicated host %q, shared %q, Host() %q", host, shared, emulatortest.Host())
	}
	db := emulatortest.NewDatabaseOn(t, host, "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	roundTrip(t, db)

	// The shared emulator does not have it.
	if !exists(t, host, db) {
		t.Errorf("database %s is not on the dedicated emulator", db)
	}
	if exists(t, shared, db) {
		t.Errorf("database %s made on the dedicated emulator exists on the shared one", db)
	}
}
