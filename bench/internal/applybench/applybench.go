// Package applybench applies migration histories with spangate and with
// wrench on fresh databases of one Spanner emulator, side by side, and
// measures each apply: its wall time and the schema operations a gRPC
// proxy in front of the emulator saw (not either tool's own report).
// bench/migrate and bench/all use it.
package applybench

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spangate/spangate/internal/emulator"
)

// The emulator project and instance the databases are made in, and the
// wrench version compared with.
const (
	Project  = "bench"
	Instance = "bench"
	WrenchV  = "github.com/cloudspannerecosystem/wrench@v1.14.0"
)

// Tools are the two programs compared.
type Tools struct {
	// Spangate is the spangate binary built from this checkout.
	Spangate string
	// Wrench is the wrench binary; empty when WrenchErr says why it could
	// not be installed.
	Wrench    string
	WrenchErr error
}

// Build builds spangate from the checkout in the working directory and
// installs wrench v1.14.0 with `go install` into tmp. A wrench that cannot
// be installed (no module proxy, say) is reported in Tools.WrenchErr, not
// as an error.
func Build(ctx context.Context, tmp string) (Tools, error) {
	var t Tools
	t.Spangate = filepath.Join(tmp, "spangate")
	if err := Command(ctx, nil, "go", "build", "-o", t.Spangate, "./cmd/spangate"); err != nil {
		return t, fmt.Errorf("build spangate (run from the repository root): %w", err)
	}
	gobin := filepath.Join(tmp, "bin")
	if err := Command(ctx, []string{"GOBIN=" + gobin}, "go", "install", WrenchV); err != nil {
		t.WrenchErr = fmt.Errorf("install %s: %w", WrenchV, err)
		return t, nil
	}
	t.Wrench = filepath.Join(gobin, "wrench")
	return t, nil
}

// Emulator is a Spanner emulator with the bench instance and a counting
// proxy in front of it.
type Emulator struct {
	proc  *emulator.Process
	proxy *countingProxy
	// Host is the emulator's own address.
	Host string
}

// StartEmulator starts the emulator at path (found like spangate dev does
// when empty), creates the instance and starts the proxy.
func StartEmulator(ctx context.Context, path string) (*Emulator, error) {
	path, err := emulator.Find(path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	proc, err := emulator.Start(ctx, emulator.Options{Path: path, Addr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	e := &Emulator{proc: proc, Host: proc.Addr()}
	if err := emulator.CreateInstance(ctx, e.Host, Project, Instance); err != nil {
		e.Stop(ctx)
		return nil, err
	}
	if e.proxy, err = startProxy(e.Host); err != nil {
		e.Stop(ctx)
		return nil, err
	}
	return e, nil
}

// Stop stops the proxy and the emulator.
func (e *Emulator) Stop(ctx context.Context) {
	if e.proxy != nil {
		e.proxy.stop()
	}
	e.proc.Stop(context.WithoutCancel(ctx))
}

// DatabasePath is the full path of database id on the emulator.
func DatabasePath(id string) string {
	return fmt.Sprintf("projects/%s/instances/%s/databases/%s", Project, Instance, id)
}

// Sample is one apply.
type Sample struct {
	Wall time.Duration
	Ops  int // schema operations (UpdateDatabaseDdl batches)
}

// Apply creates database id, applies the history in dir/migrations to it
// with tool ("spangate" or "wrench", binary bin) through the proxy, and
// drops it again.
func (e *Emulator) Apply(ctx context.Context, tool, bin, dir, id string) (Sample, error) {
	dbPath := DatabasePath(id)
	if err := emulator.CreateDatabase(ctx, e.Host, dbPath, nil); err != nil {
		return Sample{}, err
	}
	defer emulator.DropDatabase(context.WithoutCancel(ctx), e.Host, dbPath)
	var cmd *exec.Cmd
	switch tool {
	case "spangate":
		cmd = exec.CommandContext(ctx, bin, "migrate", "apply", "--dir", filepath.Join(dir, "migrations"), "--database", dbPath, "--format", "json")
	case "wrench":
		cmd = exec.CommandContext(ctx, bin, "migrate", "up", "--directory", dir)
	default:
		return Sample{}, fmt.Errorf("unknown tool %q", tool)
	}
	cmd.Env = append(os.Environ(), "SPANNER_EMULATOR_HOST="+e.proxy.addr, "SPANNER_PROJECT_ID="+Project,
		"SPANNER_INSTANCE_ID="+Instance, "SPANNER_DATABASE_ID="+id, "CI=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return Sample{}, fmt.Errorf("%s apply: %w\n%s", tool, err, out.String())
	}
	return Sample{Wall: time.Since(start), Ops: e.proxy.count(dbPath)}, nil
}

// Compare applies the history in dir runs times with each tool, the tools
// taking turns (and swapping who goes first each run) so that a drift of
// the machine's speed hits both alike. name prefixes the database ids.
func (e *Emulator) Compare(ctx context.Context, t Tools, dir, name string, runs int) (sg, wr []Sample, err error) {
	if t.Wrench == "" {
		return nil, nil, errors.New("wrench is not installed")
	}
	for i := range runs {
		order := []string{"spangate", "wrench"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, tool := range order {
			bin := t.Spangate
			if tool == "wrench" {
				bin = t.Wrench
			}
			s, err := e.Apply(ctx, tool, bin, dir, fmt.Sprintf("%s%s%d", name, tool[:2], i))
			if err != nil {
				return nil, nil, err
			}
			if tool == "spangate" {
				sg = append(sg, s)
			} else {
				wr = append(wr, s)
			}
		}
	}
	return sg, wr, nil
}

// WriteDDLHistory writes the 40-file history of issue 2 into
// dir/migrations: 30 CREATE TABLE files, then 10 CREATE INDEX files, one
// statement per file.
func WriteDDLHistory(dir string) error {
	mdir := filepath.Join(dir, "migrations")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	v := 0
	for i := 1; i <= 30; i++ {
		v++
		sql := fmt.Sprintf("CREATE TABLE T%02d (\n  Id INT64 NOT NULL,\n  Name STRING(MAX),\n  Amount INT64,\n) PRIMARY KEY (Id);\n", i)
		if err := os.WriteFile(filepath.Join(mdir, fmt.Sprintf("%06d_create_t%02d.sql", v, i)), []byte(sql), 0o644); err != nil {
			return err
		}
	}
	for i := 1; i <= 10; i++ {
		v++
		sql := fmt.Sprintf("CREATE INDEX T%02dByName ON T%02d (Name);\n", i, i)
		if err := os.WriteFile(filepath.Join(mdir, fmt.Sprintf("%06d_index_t%02d.sql", v, i)), []byte(sql), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteDMLHistory writes a DML-heavy history into dir/migrations: one
// CREATE TABLE file, then files files of rows INSERTs each (wrench wants
// DDL and DML in separate files; so does this history).
func WriteDMLHistory(dir string, files, rows int) error {
	mdir := filepath.Join(dir, "migrations")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	ddl := "CREATE TABLE Items (\n  Id INT64 NOT NULL,\n  Name STRING(MAX),\n  Amount INT64,\n) PRIMARY KEY (Id);\n"
	if err := os.WriteFile(filepath.Join(mdir, "000001_create_items.sql"), []byte(ddl), 0o644); err != nil {
		return err
	}
	for f := 1; f <= files; f++ {
		var sb strings.Builder
		for r := 1; r <= rows; r++ {
			id := f*1000 + r
			fmt.Fprintf(&sb, "INSERT INTO Items (Id, Name, Amount) VALUES (%d, 'item %d', %d);\n", id, id, r)
		}
		if err := os.WriteFile(filepath.Join(mdir, fmt.Sprintf("%06d_seed_%02d.sql", f+1, f)), []byte(sb.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Median returns the median wall time and schema operations of ss.
func Median(ss []Sample) Sample {
	w := make([]time.Duration, len(ss))
	o := make([]int, len(ss))
	for i, s := range ss {
		w[i], o[i] = s.Wall, s.Ops
	}
	slices.Sort(w)
	slices.Sort(o)
	return Sample{Wall: w[len(w)/2], Ops: o[len(o)/2]}
}

// Walls lists the wall times in milliseconds.
func Walls(ss []Sample) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = s.Wall.Milliseconds()
	}
	return out
}

// Command runs name with args and env added to the environment, and
// returns its output with the error when it fails.
func Command(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
