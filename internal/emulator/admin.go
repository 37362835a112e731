package emulator

import (
	"context"
	"fmt"
	"strings"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/spangate/spangate"
)

// ClientOptions returns the options that connect a Google Cloud client to
// the emulator or fake at host: the endpoint, no authentication and no TLS.
// They are given explicitly so nothing depends on SPANNER_EMULATOR_HOST
// being set in the process environment.
func ClientOptions(host string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(host),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// CreateInstance creates projects/<project>/instances/<instance> on the
// emulator at host, with the emulator's instance configuration. An instance
// that already exists is fine.
func CreateInstance(ctx context.Context, host, project, instanceID string) error {
	c, err := instance.NewInstanceAdminClient(ctx, ClientOptions(host)...)
	if err != nil {
		return adminError(err, "connect to the instance admin API at %s", host)
	}
	defer c.Close()
	op, err := c.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent:     "projects/" + project,
		InstanceId: instanceID,
		Instance: &instancepb.Instance{
			Config:      "projects/" + project + "/instanceConfigs/emulator-config",
			DisplayName: instanceID,
			NodeCount:   1,
		},
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	if err != nil {
		return adminError(err, "create instance projects/%s/instances/%s on %s", project, instanceID, host)
	}
	return nil
}

// CreateDatabase creates the database dbPath
// (projects/P/instances/I/databases/D) on the emulator at host and applies
// ddl, statements without trailing semicolons, in the same operation.
func CreateDatabase(ctx context.Context, host, dbPath string, ddl []string) error {
	parent, id, err := splitDatabasePath(dbPath)
	if err != nil {
		return err
	}
	c, err := database.NewDatabaseAdminClient(ctx, ClientOptions(host)...)
	if err != nil {
		return adminError(err, "connect to the database admin API at %s", host)
	}
	defer c.Close()
	op, err := c.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{
		Parent:          parent,
		CreateStatement: "CREATE DATABASE `" + id + "`",
		ExtraStatements: ddl,
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		return adminError(err, "create database %s on %s", dbPath, host)
	}
	return nil
}

// DropDatabase drops the database dbPath on the emulator at host.
func DropDatabase(ctx context.Context, host, dbPath string) error {
	if _, _, err := splitDatabasePath(dbPath); err != nil {
		return err
	}
	c, err := database.NewDatabaseAdminClient(ctx, ClientOptions(host)...)
	if err != nil {
		return adminError(err, "connect to the database admin API at %s", host)
	}
	defer c.Close()
	if err := c.DropDatabase(ctx, &databasepb.DropDatabaseRequest{Database: dbPath}); err != nil {
		return adminError(err, "drop database %s on %s", dbPath, host)
	}
	return nil
}

// splitDatabasePath splits projects/P/instances/I/databases/D into the
// instance path and D.
func splitDatabasePath(dbPath string) (parent, id string, err error) {
	parts := strings.Split(dbPath, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "instances" || parts[4] != "databases" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return "", "", spangate.Errorf(spangate.Invalid, "database path %q is not projects/P/instances/I/databases/D", dbPath).
			WithHint("give the full path, for example projects/my-project/instances/my-instance/databases/my-db")
	}
	return strings.Join(parts[:4], "/"), parts[5], nil
}

// adminError wraps a gRPC error from an admin call as a *spangate.Error of
// the matching kind.
func adminError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	kind := spangate.Internal
	hint := ""
	switch status.Code(err) {
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		kind = spangate.Conflict
	case codes.NotFound:
		kind = spangate.NotFound
		hint = "create the instance first (CreateInstance)"
	case codes.InvalidArgument, codes.OutOfRange:
		kind = spangate.Invalid
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		kind = spangate.Unavailable
		hint = "check that the emulator is running and SPANNER_EMULATOR_HOST points at it"
	case codes.Canceled:
		kind = spangate.Canceled
	}
	e := spangate.Errorf(kind, "%s: %w", msg, err)
	if hint != "" {
		return e.WithHint(hint)
	}
	return e
}
