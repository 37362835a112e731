package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// DatabasesResponse is the answer of GET /v1/databases.
type DatabasesResponse struct {
	Databases []DatabaseInfo `json:"databases"`
}

// DatabaseInfo is one database the caller has at least one action on.
type DatabaseInfo struct {
	// Name is the logical name to use in paths.
	Name string `json:"name"`
	// Actions lists the actions the caller's token is allowed.
	Actions []spangate.Action `json:"actions"`
}

func (s *Server) databases(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authenticate(r.Context(), r, c); err != nil {
		return err
	}
	resp := DatabasesResponse{Databases: []DatabaseInfo{}}
	for _, name := range slices.Sorted(maps.Keys(s.cfg.Databases)) {
		var acts []spangate.Action
		for _, a := range spangate.Actions() {
			if s.policy.Decide(*c.principal, name, a).Allow {
				acts = append(acts, a)
			}
		}
		if len(acts) > 0 {
			resp.Databases = append(resp.Databases, DatabaseInfo{Name: name, Actions: acts})
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// MigrationsRequest is the body of the plan and apply endpoints: the
// migration files, each with its base name (<version>_<description>.sql)
// and content.
type MigrationsRequest struct {
	Migrations []MigrationFile `json:"migrations"`
	// Version is the baseline endpoint's version; 0 reads it from the
	// other tool's history table.
	Version int64 `json:"version,omitempty"`
}

// BaselineResponse is the answer of the baseline endpoint.
type BaselineResponse struct {
	Database string `json:"database"`
	// Version is the last version recorded as applied; Source says where
	// it came from.
	Version int64  `json:"version"`
	Source  string `json:"source"`
	// Recorded lists the versions this call recorded (none when the
	// history already had them).
	Recorded []int64 `json:"recorded"`
	// Findings hold the live schema's differences when it was refused.
	Findings []migration.Finding `json:"findings,omitempty"`
}

// MigrationFile is one migration file of a MigrationsRequest. A file
// already applied may be sent by Checksum alone, without Content: the
// gateway then takes its statements from the content the history
// recorded. A file the history does not show applied with that checksum
// must be sent whole.
type MigrationFile struct {
	Name     string `json:"name"`
	Content  string `json:"content,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// ProtoDescriptors is the serialized FileDescriptorSet the file's
	// proto bundle statements send (base64 in JSON); its checksum covers it.
	ProtoDescriptors []byte `json:"proto_descriptors,omitempty"`
}

// PlanResponse is the answer of the plan endpoint: the plan (the same JSON
// as `spangate migrate plan --format json`) and, when the plan is blocked,
// Error with code "invalid" (bad files, exit 2) or "blocked" (exit 4). The
// status is 200 either way, so the plan can be shown with its findings.
type PlanResponse struct {
	migration.View
	Error *ErrorBody `json:"error,omitempty"`
}

// StatusResponse is the answer of GET /v1/databases/{db}/migrations.
// Migrations is the status of every migration in the history; pending and
// modified files are the client's to find, by giving History and its own
// files to migration.Statuses.
type StatusResponse struct {
	Database   string                 `json:"database"`
	Migrations []migration.FileStatus `json:"migrations"`
	History    []HistoryRecord        `json:"history"`
}

// HistoryRecord is one row of the migration history as JSON.
type HistoryRecord struct {
	Version           int64  `json:"version"`
	Name              string `json:"name"`
	Checksum          string `json:"checksum"`
	State             string `json:"state"`
	StatementsApplied int    `json:"statements_applied"`
	StatementsTotal   int    `json:"statements_total"`
	PrefixChecksum    string `json:"prefix_checksum,omitempty"`
	// Operation, OpStart and OpCount name the schema operation still in
	// flight with statements OpStart+1…OpStart+OpCount of the file.
	Operation  string     `json:"operation,omitempty"`
	OpStart    int        `json:"op_start,omitempty"`
	OpCount    int        `json:"op_count,omitempty"`
	Failures   int        `json:"failures,omitempty"`
	AppliedBy  string     `json:"applied_by,omitempty"`
	Commit     string     `json:"commit,omitempty"`
	Pipeline   string     `json:"pipeline,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Record returns the history row as the migration package's Record.
func (h HistoryRecord) Record() migration.Record {
	r := migration.Record{
		Version: h.Version, Name: h.Name, Checksum: h.Checksum, State: migration.State(h.State),
		StatementsApplied: h.StatementsApplied, StatementsTotal: h.StatementsTotal, PrefixChecksum: h.PrefixChecksum,
		OperationName: h.Operation, OpStart: h.OpStart, OpCount: h.OpCount, Failures: h.Failures,
		AppliedBy: h.AppliedBy, Commit: h.Commit, Pipeline: h.Pipeline, Error: h.Error,
	}
	if h.StartedAt != nil {
		r.StartedAt = *h.StartedAt
	}
	if h.FinishedAt != nil {
		r.FinishedAt = *h.FinishedAt
	}
	return r
}

func historyRecord(r migration.Record) HistoryRecord {
	h := HistoryRecord{
		Version: r.Version, Name: r.Name, Checksum: r.Checksum, State: string(r.State),
		StatementsApplied: r.StatementsApplied, StatementsTotal: r.StatementsTotal, PrefixChecksum: r.PrefixChecksum,
		Failures:  r.Failures,
		AppliedBy: r.AppliedBy, Commit: r.Commit, Pipeline: r.Pipeline, Error: r.Error,
	}
	if r.Unsettled() {
		h.Operation, h.OpStart, h.OpCount = r.OperationName, r.OpStart, r.OpCount
	}
	if !r.StartedAt.IsZero() {
		t := r.StartedAt
		h.StartedAt = &t
	}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt
		h.FinishedAt = &t
	}
	return h
}

// status is GET /v1/databases/{db}/migrations; it needs plan or migrate.
func (s *Server) status(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	if err := s.authenticate(ctx, r, c); err != nil {
		return err
	}
	db, err := s.openDatabase(ctx, c, r.PathValue("db"))
	if err != nil {
		return err
	}
	d := s.policy.Decide(*c.principal, c.database, spangate.ActionPlan)
	if !d.Allow {
		if dm := s.policy.Decide(*c.principal, c.database, spangate.ActionMigrate); dm.Allow {
			d = dm
		}
	}
	if err := s.authorize(ctx, db, c, spangate.ActionPlan, d, ""); err != nil {
		return err
	}
	// The history as the next apply will find it: schema operations that
	// earlier runs left are looked up (not waited for), so a finished one
	// shows as applied and a running one as in flight.
	hist, _, err := s.engine(db, c, db).SettledHistory(ctx, nil)
	if err != nil {
		return err
	}
	resp := StatusResponse{Database: c.database, Migrations: migration.Statuses(&migration.Set{}, hist), History: []HistoryRecord{}}
	if resp.Migrations == nil {
		resp.Migrations = []migration.FileStatus{}
	}
	for _, h := range hist {
		resp.History = append(resp.History, historyRecord(h))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// readMigrations decodes a MigrationsRequest body into a migration set.
func (s *Server) readMigrations(ctx context.Context, w http.ResponseWriter, r *http.Request) (*migration.Set, error) {
	set, _, err := s.readMigrationsRequest(ctx, w, r)
	return set, err
}

// readMigrationsRequest is readMigrations that also returns the request.
func (s *Server) readMigrationsRequest(ctx context.Context, w http.ResponseWriter, r *http.Request) (*migration.Set, *MigrationsRequest, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	var req MigrationsRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, nil, err
	}
	srcs, size, err := s.sources(&req)
	if err != nil {
		return nil, nil, err
	}
	var set *migration.Set
	err = s.parsing(ctx, size, func() error {
		set = migration.Parse(srcs)
		return nil
	})
	return set, &req, err
}

// sources checks the request's files and returns them as sources, with
// the bytes of SQL they hold.
func (s *Server) sources(req *MigrationsRequest) ([]migration.Source, int, error) {
	if len(req.Migrations) == 0 {
		return nil, 0, spangate.Errorf(spangate.Invalid, "no migrations in the request").
			WithHint(`send {"migrations":[{"name":"0001_create.sql","content":"…"}]}`)
	}
	srcs := make([]migration.Source, len(req.Migrations))
	size := 0
	for i, m := range req.Migrations {
		if m.Name == "" || strings.ContainsAny(m.Name, "/\\") {
			return nil, 0, spangate.Errorf(spangate.Invalid, "migrations[%d]: name %q must be a file's base name such as 0001_create_orders.sql", i, m.Name)
		}
		if m.Checksum != "" {
			if m.Content != "" {
				return nil, 0, spangate.Errorf(spangate.Invalid, "migrations[%d] (%s): send either content or checksum, not both", i, m.Name)
			}
			if len(m.Checksum) != 64 || strings.Trim(m.Checksum, "0123456789abcdef") != "" {
				return nil, 0, spangate.Errorf(spangate.Invalid, "migrations[%d] (%s): checksum must be a lower-case hex SHA-256", i, m.Name)
			}
			srcs[i] = migration.Source{Name: m.Name, Checksum: m.Checksum}
			continue
		}
		// Measured before it is parsed: the parser cannot be interrupted.
		if err := s.checkSQL("migrations["+strconv.Itoa(i)+"] "+m.Name, m.Content); err != nil {
			return nil, 0, err
		}
		srcs[i] = migration.Source{Name: m.Name, Content: []byte(m.Content), ProtoDescriptors: m.ProtoDescriptors}
		size += len(m.Content)
	}
	return srcs, size, nil
}

// baseline is POST /v1/databases/{db}/migrations:baseline; it needs
// migrate. It records the files up to the version (the request's, else the
// one in another tool's history table) as applied, once the live schema
// matches them, in the history and the audit trail.
func (s *Server) baseline(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	db, err := s.authorizedDatabase(ctx, r, c, spangate.ActionMigrate)
	if err != nil {
		return err
	}
	set, req, err := s.readMigrationsRequest(ctx, w, r)
	if err != nil {
		return err
	}
	actor := s.entry(c, spangate.ActionMigrate)
	e := s.engine(db, c, db.WithAudit(actor, set.Files...))
	fr, _ := db.(migration.ForeignReader)
	res, err := e.Baseline(ctx, set, req.Version, fr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, BaselineResponse{Database: c.database, Version: res.Version, Source: res.Source,
		Recorded: append([]int64{}, res.Recorded...), Findings: res.Findings})
	return nil
}

// decodeJSON decodes one JSON object strictly: unknown fields and trailing
// data are errors.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return spangate.Errorf(spangate.Invalid, "malformed JSON body: %w", err)
	}
	if dec.More() {
		return spangate.Errorf(spangate.Invalid, "malformed JSON body: more than one value")
	}
	return nil
}

// engine returns the migration engine for db, acting for the request's
// principal.
func (s *Server) engine(db Database, c *call, history migration.HistoryStore) *migration.Engine {
	e := &migration.Engine{
		Locks: db, History: history, Schema: db, Partitioned: db,
		Holder: c.principal.String(),
		Run:    c.run,
		Logger: s.log.With("database", c.database),
		Now:    s.now,
	}
	// A database that can show its live schema gets drift findings and
	// lint against the live schema in plans.
	if ls, ok := db.(migration.LiveSchema); ok {
		e.LiveSchema = ls
	}
	return e
}

// plan is POST /v1/databases/{db}/migrations:plan; it needs plan.
func (s *Server) plan(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	db, err := s.authorizedDatabase(ctx, r, c, spangate.ActionPlan)
	if err != nil {
		return err
	}
	set, err := s.readMigrations(ctx, w, r)
	if err != nil {
		return err
	}
	p, err := s.engine(db, c, db).Plan(ctx, set)
	if err != nil {
		return err
	}
	resp := PlanResponse{View: p.View(c.database)}
	if perr := p.Err(); perr != nil {
		b := s.publicBody(perr, c.id)
		resp.Error = &b
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// authorizeMigration decides whether the caller may apply plan: migrate,
// and destructive when a statement it would run is destructive (classified
// against the schema it meets). A denial is audited.
func (s *Server) authorizeMigration(ctx context.Context, db Auditor, c *call, p *migration.Plan) error {
	pending := p.PendingStatements()
	d := s.policy.DecideMigration(*c.principal, c.database, pending)
	if d.Allow {
		return nil
	}
	c.what = migrationNeeds(pending)
	return s.authorize(ctx, db, c, spangate.ActionDestructive, d, joinStatements(pending))
}

// ApplyResult is the last line of a successful apply stream: the same
// fields as `spangate migrate apply --format json`, with Type "result",
// and the audit chain's head after the apply (SEQ:HASH, an anchor for
// audit verify --anchor).
type ApplyResult struct {
	Type             string  `json:"type"`
	Database         string  `json:"database"`
	Applied          []int64 `json:"applied"`
	SchemaOperations int     `json:"schema_operations"`
	Statements       int     `json:"statements"`
	DurationMS       int64   `json:"duration_ms"`
	AuditHead        string  `json:"audit_head,omitempty"`
}

// ApplyError is the last line of a failed apply stream, with Type "error".
type ApplyError struct {
	Type  string    `json:"type"`
	Error ErrorBody `json:"error"`
}

// Apply stream line types. Progress lines are migration.Event values, whose
// type is one of the engine's event types ("lock", "step", …).
const (
	LineResult = "result"
	LineError  = "error"
)

// apply is POST /v1/databases/{db}/migrations:apply; it needs migrate, and
// destructive as well when a pending statement is destructive. Refusals
// before the apply starts are ordinary JSON errors. Once it starts the
// answer is 200 with Content-Type application/x-ndjson: one JSON object a
// line, flushed as it happens — progress events, then an ApplyResult or an
// ApplyError.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.stopping.Load() {
		return spangate.Errorf(spangate.Unavailable, "the gateway is shutting down").WithHint("retry; another replica will take it")
	}
	s.applies.Add(1)
	defer s.applies.Done()
	pre, cancelPre := s.withTimeout(r.Context())
	defer cancelPre()
	db, err := s.authorizedDatabase(pre, r, c, spangate.ActionMigrate)
	if err != nil {
		return err
	}
	set, err := s.readMigrations(pre, w, r)
	if err != nil {
		return err
	}
	p, err := s.engine(db, c, db).Plan(pre, set)
	if err != nil {
		return err
	}
	if err := p.Err(); err != nil {
		return err
	}
	// An early answer from a plan made without the lock; the decision
	// that counts is made again under it, on the plan that runs.
	if err := s.authorizeMigration(pre, db, c, p); err != nil {
		return err
	}

	// A client that goes away (Ctrl-C, a cancelled pipeline) stops the
	// apply at the next step boundary, as an interrupt does in direct
	// mode: the step under way is not cut off (a half-sent batch is worse
	// than a finished one), then the lock is released and the history
	// says where to resume. Shutdown's grace ending or the apply timeout
	// passing interrupts the step itself, leaving resumable state.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.Limits.ApplyTimeout)
	defer cancel()
	stop := context.AfterFunc(s.hardStop, cancel)
	defer stop()
	clientGone := make(chan struct{})
	watch := context.AfterFunc(r.Context(), func() {
		s.log.Warn("apply: the client went away; stopping at the next step boundary", "database", c.database, "principal", c.principal.String())
		close(clientGone)
	})
	defer watch()

	stream := newNDJSON(w)
	actor := s.entry(c, spangate.ActionMigrate)
	e := s.engine(db, c, db.WithAudit(actor, set.Files...))
	e.Authorize = func(ctx context.Context, p *migration.Plan) error { return s.authorizeMigration(ctx, db, c, p) }
	e.Reporter = stream
	e.Stop = clientGone
	res, err := e.Apply(ctx, set)
	if res != nil {
		s.metrics.schemaOps.WithLabelValues(c.database).Add(float64(res.SchemaOperations))
	}
	if err != nil {
		stream.close(ApplyError{Type: LineError, Error: s.publicBody(err, c.id)})
		return err
	}
	c.auditHead = s.auditHead(ctx, db)
	stream.close(ApplyResult{
		Type: LineResult, Database: c.database, Applied: append([]int64{}, res.Applied...),
		SchemaOperations: res.SchemaOperations, Statements: res.Statements, DurationMS: res.Duration.Milliseconds(),
		AuditHead: c.auditHead,
	})
	return nil
}

// UnlockResponse is the answer of the unlock endpoint: the migration lock
// as it was found, and whether it was broken.
type UnlockResponse struct {
	Database string `json:"database"`
	migration.LockState
}

// unlock is POST /v1/databases/{db}/migrations:unlock; it needs migrate.
// With ?force=true it breaks a migration lock whose holder is gone (its
// lease no longer renewed), audited; without, it reports the lock. A lease
// still being renewed is refused (409): its apply is alive.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	db, err := s.authorizedDatabase(ctx, r, c, spangate.ActionMigrate)
	if err != nil {
		return err
	}
	force := false
	switch v := r.URL.Query().Get("force"); v {
	case "", "false":
	case "true":
		force = true
	default:
		return spangate.Errorf(spangate.Invalid, "force=%q is not true or false", v)
	}
	st, err := db.BreakLock(ctx, s.entry(c, spangate.ActionMigrate), force)
	if err != nil {
		return err
	}
	if st.Broken {
		s.log.Warn("migration lock broken", "database", c.database, "principal", c.principal.String(), "holder", st.Holder, "fence", st.Fence)
	}
	writeJSON(w, http.StatusOK, UnlockResponse{Database: c.database, LockState: st})
	return nil
}

// auditHead returns the newest entry of db's audit chain as SEQ:HASH, or
// "" when it cannot be read (the answer does not wait on it).
func (s *Server) auditHead(ctx context.Context, db Auditor) string {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.SpannerTimeout)
	defer cancel()
	entries, err := db.ListAudit(ctx, audit.Filter{Limit: 1})
	if err != nil || len(entries) == 0 {
		return ""
	}
	return audit.Anchor{Seq: entries[0].Seq, Hash: entries[0].Hash}.String()
}

func joinStatements(stmts []sqlstmt.Statement) string {
	parts := make([]string, len(stmts))
	for i, st := range stmts {
		parts[i] = st.SQL
	}
	return strings.Join(parts, ";\n")
}

// ndjson streams apply progress. Report never blocks the engine: events are
// queued to a writer goroutine, and dropped if the client reads too slowly
// for the queue.
type ndjson struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	events chan any
	done   chan struct{}
	once   sync.Once
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	n := &ndjson{w: w, rc: http.NewResponseController(w), events: make(chan any, 1024), done: make(chan struct{})}
	_ = n.rc.Flush()
	go n.run()
	return n
}

func (n *ndjson) run() {
	defer close(n.done)
	enc := json.NewEncoder(n.w)
	for v := range n.events {
		if enc.Encode(v) == nil {
			_ = n.rc.Flush()
		}
	}
}

// Report queues a progress event.
func (n *ndjson) Report(e migration.Event) {
	select {
	case n.events <- e:
	default:
	}
}

// close writes the last line and waits for every line to be written.
func (n *ndjson) close(last any) {
	n.once.Do(func() {
		n.events <- last
		close(n.events)
		<-n.done
	})
}
