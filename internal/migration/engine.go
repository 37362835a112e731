package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spangate/spangate"
)

// Lease is a held migration lock. Fence grows by one with every
// acquisition, so a writer that lost its lease cannot write history.
type Lease struct {
	Holder  string
	Fence   int64
	Expires time.Time
}

// LockHeldError says who holds the lock. Acquire returns it when the lock
// is taken.
type LockHeldError struct {
	Holder  string
	Since   time.Time
	Expires time.Time
	// Host and Pid name the holder's process, when the lock row records
	// them; HolderGone says that it ran on this host and is gone.
	Host       string
	Pid        int
	HolderGone bool
}

func (e *LockHeldError) Error() string {
	msg := fmt.Sprintf("migration lock is held by %s since %s (lease expires %s unless renewed)",
		e.Holder, e.Since.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
	if e.HolderGone {
		msg += fmt.Sprintf("; its process (pid %d on this host, %s) is gone, so nothing renews the lease: "+
			"wait for it to expire, or break the lock now with spangate migrate unlock --force", e.Pid, e.Host)
	}
	return msg
}

// LockState is the migration lock as a lock breaker (spangate migrate
// unlock) found it.
type LockState struct {
	// Held is false when nobody held the lock (or its lease had expired).
	Held       bool      `json:"held"`
	Holder     string    `json:"holder,omitempty"`
	Host       string    `json:"host,omitempty"`
	Pid        int64     `json:"pid,omitempty"`
	Fence      int64     `json:"fence"`
	AcquiredAt time.Time `json:"acquired_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RenewedAt  time.Time `json:"renewed_at,omitzero"`
	// HolderGone says that the holder ran on this host and its process is
	// gone.
	HolderGone bool `json:"holder_gone"`
	// Stale says that the lease missed its renewals.
	Stale bool `json:"stale"`
	// Broken says that BreakLock freed it.
	Broken bool `json:"broken"`
}

// Locker takes and keeps the per-database migration lock.
type Locker interface {
	// Acquire takes the lock for ttl, or returns a *LockHeldError.
	Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, error)
	// Renew extends a held lease; it fails when the lease was lost.
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release gives the lock up.
	Release(ctx context.Context, l Lease) error
}

// HistoryStore reads and writes the migration history. Every write checks,
// in its transaction, that the lease is still held with its fence number.
type HistoryStore interface {
	// Init creates spangate's tables if they do not exist.
	Init(ctx context.Context) error
	// History returns every history row.
	History(ctx context.Context) ([]Record, error)
	// Save writes rows in one transaction.
	Save(ctx context.Context, l Lease, recs ...Record) error
	// ApplyDML runs stmts and writes rec in one read-write transaction, if
	// the stored row still has fromApplied statements applied; it returns
	// the rows each statement touched.
	ApplyDML(ctx context.Context, l Lease, stmts []string, rec Record, fromApplied int) ([]int64, error)
}

// ErrNotStarted marks the error of a schema batch that Spanner refused
// before it started an operation for it: nothing of it was applied, and
// nothing says which statement was at fault.
var ErrNotStarted = errors.New("the schema update never started")

// StatementError says which statement of a DML run failed: Index counts
// from the first statement passed to ApplyDML. A HistoryStore returns it
// (wrapped) when it can tell.
type StatementError struct {
	Index int
	Err   error
}

func (e *StatementError) Error() string { return e.Err.Error() }

// Unwrap returns the statement's error.
func (e *StatementError) Unwrap() error { return e.Err }

// SchemaUpdater sends schema update batches.
type SchemaUpdater interface {
	// UpdateSchema sends stmts as one batch under opID and waits for it.
	// It returns how many statements were applied: all of them on
	// success, the count committed before a failure, or -1 when that
	// cannot be known. A batch already sent under opID is re-attached, not
	// sent again.
	UpdateSchema(ctx context.Context, opID string, stmts []string) (applied int, err error)
	// AwaitOperation waits for the batch sent under opID and returns how
	// many statements it applied, as UpdateSchema does. It returns an error
	// of kind NotFound when no such batch was ever received.
	AwaitOperation(ctx context.Context, opID string) (applied int, err error)
}

// ProtoSchemaUpdater sends schema update batches with the proto
// descriptors their proto bundle statements need. A SchemaUpdater that
// implements it can apply proto bundles.
type ProtoSchemaUpdater interface {
	// UpdateSchemaProto is UpdateSchema with descriptors, a serialized
	// FileDescriptorSet.
	UpdateSchemaProto(ctx context.Context, opID string, stmts []string, descriptors []byte) (applied int, err error)
}

// PartitionedRunner runs Partitioned DML.
type PartitionedRunner interface {
	PartitionedUpdate(ctx context.Context, stmt string) (int64, error)
}

// ContentStore reads the content recorded with applied history rows. A
// HistoryStore that implements it lets plans model edited applied files,
// and files sent by checksum only, as they were applied.
type ContentStore interface {
	AppliedContent(ctx context.Context, versions []int64) (map[int64][]byte, error)
}

// recordedFiles returns the applied files whose recorded content the
// schema model needs: those edited since they were applied, and those
// sent by checksum only.
func (e *Engine) recordedFiles(ctx context.Context, set *Set, hist []Record) (map[int64]*File, error) {
	cs, ok := e.History.(ContentStore)
	if !ok {
		return nil, nil
	}
	byVersion := make(map[int64]*Record, len(hist))
	for i := range hist {
		byVersion[hist[i].Version] = &hist[i]
	}
	var versions []int64
	paths := map[int64]string{}
	for _, f := range set.Files {
		r := byVersion[f.Version]
		if r != nil && r.State == StateApplied && (f.ChecksumOnly || r.Checksum != f.Checksum) {
			versions = append(versions, f.Version)
			paths[f.Version] = f.Path
		}
	}
	if len(versions) == 0 {
		return nil, nil
	}
	contents, err := cs.AppliedContent(ctx, versions)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*File, len(contents))
	for v, c := range contents {
		if f, _ := parseFile(Source{Name: paths[v], Content: c}); f != nil {
			out[v] = f
		}
	}
	return out, nil
}

// LiveSchema reads the live schema as DDL statements (GetDatabaseDdl).
type LiveSchema interface {
	Schema(ctx context.Context) ([]string, error)
}

// checkOptions reads the live schema, when the engine has a reader.
func (e *Engine) checkOptions(ctx context.Context) (CheckOptions, error) {
	opts := CheckOptions{FailOnDrift: e.FailOnDrift}
	if e.LiveSchema == nil {
		return opts, nil
	}
	live, err := e.LiveSchema.Schema(ctx)
	if err != nil {
		return opts, err
	}
	opts.Live, opts.HaveLive = live, true
	return opts, nil
}

// Event is one progress report of an apply.
type Event struct {
	// Type is "lock", "recover", "step", "statement_done", "file_done" or
	// "info".
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
	Step    int       `json:"step,omitempty"`
	Steps   int       `json:"steps,omitempty"`
	Version int64     `json:"version,omitempty"`
	Done    int       `json:"done,omitempty"`
	Total   int       `json:"total,omitempty"`
}

// Reporter receives progress events. Report must not block for long.
type Reporter interface {
	Report(Event)
}

// Result is what an apply did.
type Result struct {
	Applied          []int64
	SchemaOperations int
	Statements       int
	Duration         time.Duration
}

// Engine applies migration sets to one database.
type Engine struct {
	Locks       Locker
	History     HistoryStore
	Schema      SchemaUpdater
	Partitioned PartitionedRunner
	// LiveSchema, when set, reads the live schema: plan and apply then
	// report drift from the applied migrations and lint against it.
	LiveSchema LiveSchema
	// FailOnDrift makes drift block plan and apply (exit 4).
	FailOnDrift bool
	// Authorize, when set, decides whether the plan may run. Apply calls
	// it under the lock, with the plan it built there from the history
	// it read there — the plan that actually runs — before any step runs;
	// an error refuses the apply and is returned as is. A decision made
	// on a plan built before the lock is only an early answer: the
	// history may change until the lock is held.
	Authorize func(ctx context.Context, p *Plan) error

	// Holder identifies this run in the lock and the history.
	Holder string
	// Run is what the CI reports about this run, recorded in the history.
	Run spangate.RunMetadata
	// LockTTL is the lease length (default 30s); it is renewed every third
	// of it while the apply runs.
	LockTTL time.Duration
	// LockTimeout bounds the wait for a held lock (default 2m).
	LockTimeout time.Duration
	Reporter    Reporter
	Logger      *slog.Logger
	Now         func() time.Time
	// Stop, when set and closed, stops the apply at the next step
	// boundary: the step under way finishes and is recorded, then Apply
	// releases the lock and returns an error of kind Canceled. (The
	// gateway closes it when its client goes away; cancelling ctx instead
	// interrupts the step under way.)
	Stop <-chan struct{}
}

func (e *Engine) defaults() {
	if e.LockTTL <= 0 {
		e.LockTTL = 30 * time.Second
	}
	if e.LockTimeout <= 0 {
		e.LockTimeout = 2 * time.Minute
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
}

func (e *Engine) report(ev Event) {
	if e.Reporter != nil {
		ev.Time = e.Now()
		e.Reporter.Report(ev)
	}
}

// Plan reads the history and plans set against it, without locking.
func (e *Engine) Plan(ctx context.Context, set *Set) (*Plan, error) {
	e.defaults()
	if err := e.History.Init(ctx); err != nil {
		return nil, err
	}
	hist, err := e.History.History(ctx)
	if err != nil {
		return nil, err
	}
	// The live schema is read before the operations are looked up: an
	// operation found unfinished had not changed it yet.
	opts, err := e.checkOptions(ctx)
	if err != nil {
		return nil, err
	}
	settled, notes, err := e.settleView(ctx, hist, set.Files)
	if err != nil {
		return nil, err
	}
	if opts.HaveLive {
		opts.Live = withInFlight(opts.Live, hist, settled, set)
	}
	if opts.Recorded, err = e.recordedFiles(ctx, set, settled); err != nil {
		return nil, err
	}
	p := NewCheckedPlan(set, settled, opts)
	if len(notes) > 0 {
		p.Findings = append(p.Findings, notes...)
		sortFindings(p.Findings)
	}
	return p, nil
}

// Apply applies every pending statement of set under the migration lock.
// It stops at the first failure; the history then says where, and the next
// Apply resumes at the first statement not applied.
func (e *Engine) Apply(ctx context.Context, set *Set) (*Result, error) {
	e.defaults()
	start := e.Now()
	res := &Result{}
	if errs := set.Errors(); len(errs) > 0 {
		return res, (&Plan{Findings: errs}).Err()
	}
	if err := e.History.Init(ctx); err != nil {
		return res, err
	}
	lease, err := e.acquire(ctx)
	if err != nil {
		return res, err
	}
	e.report(Event{Type: "lock", Message: fmt.Sprintf("lock acquired (fence %d)", lease.Fence)})

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewDone := make(chan struct{})
	leaseCh := make(chan Lease, 1)
	leaseCh <- lease
	go e.keepLease(runCtx, cancel, leaseCh, renewDone)

	err = e.applyLocked(runCtx, set, leaseCh, res)
	cancel(nil)
	<-renewDone
	if cause := context.Cause(runCtx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	final := <-leaseCh
	relCtx, relCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer relCancel()
	if rerr := e.Locks.Release(relCtx, final); rerr != nil {
		e.Logger.Warn("release migration lock", "err", rerr)
	}
	res.Duration = e.Now().Sub(start)
	return res, err
}

// current returns the latest lease without taking it from the channel.
func current(ch chan Lease) Lease {
	l := <-ch
	ch <- l
	return l
}

// keepLease renews the lease every third of its TTL. It cancels the run only
// when renewal shows that another holder took the lock. A renewal that merely
// fails (Spanner slow or unreachable; the emulator blocks transactions while
// it applies a schema change) is retried at the next tick: every history
// write checks the fencing number in its transaction, so a run whose lease
// was taken over cannot record anything and stops at its next write.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelCauseFunc, ch chan Lease, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(e.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l := current(ch)
		nl, err := e.Locks.Renew(ctx, l, e.LockTTL)
		if err == nil {
			<-ch
			ch <- nl
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var lost *LockHeldError
		if errors.As(err, &lost) {
			cancel(spangate.Errorf(spangate.Blocked, "migration lock lost while applying: %w", err).
				WithHint("another run took the lock after this one could not renew it in time; re-run apply to resume"))
			return
		}
		e.Logger.Warn("renew migration lock; retrying", "err", err)
	}
}

// acquire waits for the lock until LockTimeout.
func (e *Engine) acquire(ctx context.Context) (Lease, error) {
	deadline := e.Now().Add(e.LockTimeout)
	wait := 100 * time.Millisecond
	reported := false
	for {
		l, err := e.Locks.Acquire(ctx, e.Holder, e.LockTTL)
		if err == nil {
			return l, nil
		}
		var held *LockHeldError
		if !errors.As(err, &held) {
			return Lease{}, err
		}
		if !reported {
			e.report(Event{Type: "lock", Message: "waiting: " + held.Error()})
			reported = true
		}
		if !e.Now().Before(deadline) {
			return Lease{}, spangate.Errorf(spangate.Blocked, "lock not acquired within %s: %w", e.LockTimeout, held).
				WithHint("wait for that run to finish, or raise --lock-timeout; a crashed holder's lease expires by itself")
		}
		sleep := wait + rand.N(wait/2+1)
		if rem := deadline.Sub(e.Now()); sleep > rem {
			sleep = rem
		}
		select {
		case <-ctx.Done():
			return Lease{}, ctx.Err()
		case <-time.After(sleep):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func (e *Engine) applyLocked(ctx context.Context, set *Set, leaseCh chan Lease, res *Result) error {
	hist, err := e.History.History(ctx)
	if err != nil {
		return err
	}
	recs := make(map[int64]*Record, len(hist))
	for i := range hist {
		recs[hist[i].Version] = &hist[i]
	}
	if err := e.recover(ctx, set, current(leaseCh), recs); err != nil {
		return err
	}
	// recs points into hist: build the settled history in a new slice.
	settled := make([]Record, 0, len(recs))
	for _, r := range recs {
		settled = append(settled, *r)
	}
	opts, err := e.checkOptions(ctx)
	if err != nil {
		return err
	}
	if opts.Recorded, err = e.recordedFiles(ctx, set, settled); err != nil {
		return err
	}
	plan := NewCheckedPlan(set, settled, opts)
	if err := plan.Err(); err != nil {
		return err
	}
	if e.Authorize != nil {
		if err := e.Authorize(ctx, plan); err != nil {
			return err
		}
	}
	total := len(plan.Steps)
	for i := range plan.Steps {
		if err := ctx.Err(); err != nil {
			return spangate.Errorf(spangate.Canceled, "apply interrupted before step %d of %d; progress is recorded, re-run apply to resume: %w", i+1, total, err)
		}
		select {
		case <-e.Stop:
			return spangate.Errorf(spangate.Canceled, "apply stopped before step %d of %d at the caller's request; the steps before it are applied and recorded", i+1, total).
				WithHint("re-run apply to resume at this step")
		default:
		}
		step := &plan.Steps[i]
		e.report(Event{Type: "step", Step: i + 1, Steps: total, Total: step.Len(),
			Message: describeStep(step)})
		var err error
		switch step.Kind {
		case StepDDL:
			err = e.runDDL(ctx, current(leaseCh), step, recs, res)
		case StepDML:
			err = e.runDML(ctx, current(leaseCh), step, recs, res)
		case StepPartitioned:
			err = e.runPartitioned(ctx, current(leaseCh), step, recs, res)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func describeStep(s *Step) string {
	var files []string
	for _, p := range s.Parts {
		files = append(files, p.File.Base())
	}
	switch s.Kind {
	case StepDDL:
		return fmt.Sprintf("schema update of %d statements (%d need validation or backfill) from %s", s.Len(), s.Heavy, strings.Join(files, ", "))
	case StepDML:
		return fmt.Sprintf("%d DML statements in one transaction from %s", s.Len(), strings.Join(files, ", "))
	default:
		return fmt.Sprintf("Partitioned DML from %s", strings.Join(files, ", "))
	}
}

// record returns the history row of f, creating it for a new file.
func (e *Engine) record(recs map[int64]*Record, f *File) *Record {
	r, ok := recs[f.Version]
	if !ok {
		r = &Record{Version: f.Version, Name: f.Name, StartedAt: e.Now()}
		recs[f.Version] = r
	}
	r.Name = f.Name
	r.Checksum = f.Checksum
	r.Content = f.Content
	r.StatementsTotal = len(f.Statements)
	r.AppliedBy = e.Holder
	r.Commit = e.Run.Commit
	r.Pipeline = e.Run.PipelineRef()
	if r.State != StateApplying {
		r.State = StateApplying
		r.StartedAt = e.Now()
	}
	return r
}

// advance records that f now has n statements applied.
func (e *Engine) advance(r *Record, f *File, n int, res *Result) {
	if e.setProgress(r, f, n) {
		res.Applied = append(res.Applied, f.Version)
		e.report(Event{Type: "file_done", Version: f.Version, Done: n, Total: len(f.Statements),
			Message: fmt.Sprintf("applied %s (%d statements)", f.Base(), n)})
	}
}

func (e *Engine) fail(r *Record, err error) {
	r.State = StateFailed
	r.Failures++
	r.Error = err.Error()
	r.OpCount = 0
}

// saveCtx gives history writes that record what already happened a
// context that survives the run's cancellation, bounded in time.
func saveCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// operationID derives the schema operation's ID from what it holds, so a
// run that lost the call can find the operation again. It matches
// Spanner's [a-z][a-z0-9_]* and is unique per batch content and attempt.
func operationID(step *Step, recs map[int64]*Record) string {
	h := sha256.New()
	for _, p := range step.Parts {
		fmt.Fprintf(h, "%d:%d:%d:%d\x00", p.File.Version, p.From, p.To, recs[p.File.Version].Failures)
		for i := p.From; i < p.To; i++ {
			h.Write([]byte(p.File.Statements[i].SQL))
			h.Write([]byte{0})
		}
	}
	return "spangate_" + hex.EncodeToString(h.Sum(nil))[:40]
}

func (e *Engine) runDDL(ctx context.Context, l Lease, step *Step, recs map[int64]*Record, res *Result) error {
	var touched []*Record
	for _, p := range step.Parts {
		r := e.record(recs, p.File)
		touched = append(touched, r)
	}
	opID := operationID(step, recs)
	saves := make([]Record, 0, len(step.Parts))
	for i, p := range step.Parts {
		r := touched[i]
		r.OperationName, r.OpStart, r.OpCount = opID, p.From, p.To-p.From
		saves = append(saves, *r)
	}
	if err := e.History.Save(ctx, l, saves...); err != nil {
		return fmt.Errorf("record schema operation %s before sending it: %w", opID, err)
	}
	res.SchemaOperations++
	var (
		applied int
		err     error
	)
	if step.ProtoDescriptors != nil {
		pu, ok := e.Schema.(ProtoSchemaUpdater)
		if !ok {
			return spangate.Errorf(spangate.Internal, "this Spanner adapter cannot send proto descriptors")
		}
		applied, err = pu.UpdateSchemaProto(ctx, opID, step.Statements(), step.ProtoDescriptors)
	} else {
		applied, err = e.Schema.UpdateSchema(ctx, opID, step.Statements())
	}
	res.Statements += max(applied, 0)
	sctx, cancel := saveCtx(ctx)
	defer cancel()
	if err != nil && applied == 0 && step.Len() > 1 && errors.Is(err, ErrNotStarted) {
		return e.bisectDDL(ctx, sctx, l, step, touched, recs, res, err)
	}
	if applied < 0 {
		// The outcome is unknown (the call was lost or interrupted). Leave
		// the rows in state applying with the operation recorded: the next
		// apply re-attaches to it.
		return spangate.Errorf(spangate.KindOf(err), "schema operation %s: outcome unknown, re-run apply to re-attach and resume: %w", opID, err)
	}
	e.settle(step.Parts, touched, applied, err, res)
	saves = saves[:0]
	for _, r := range touched {
		saves = append(saves, *r)
	}
	if serr := e.History.Save(sctx, l, saves...); serr != nil {
		return errors.Join(err, fmt.Errorf("record progress of schema operation %s: %w", opID, serr))
	}
	if err != nil {
		return ddlError(step, applied, err)
	}
	return nil
}

// bisectDDL handles a batch that Spanner refused before it started, which
// says neither which statement nor which file is at fault. Nothing of it
// was applied, so it is sent again in two halves, each a batch of its own,
// recursively: the statements before the faulty one apply (their files
// count as applied), and the error names the statement Spanner refused,
// with its file and line. It costs extra schema operations only on this
// failure path.
func (e *Engine) bisectDDL(ctx, sctx context.Context, l Lease, step *Step, touched []*Record, recs map[int64]*Record, res *Result, cause error) error {
	res.SchemaOperations-- // the refused batch never became an operation
	saves := make([]Record, 0, len(touched))
	for _, r := range touched {
		r.OpCount = 0
		saves = append(saves, *r)
	}
	if err := e.History.Save(sctx, l, saves...); err != nil {
		return errors.Join(cause, err)
	}
	first, second := splitStep(step)
	e.report(Event{Type: "info", Message: fmt.Sprintf("Spanner refused a batch of %d statements before it started; sending it as two batches of %d and %d to find the statement at fault",
		step.Len(), first.Len(), second.Len())})
	if err := e.runDDL(ctx, l, &first, recs, res); err != nil {
		return err
	}
	return e.runDDL(ctx, l, &second, recs, res)
}

// splitStep cuts a DDL step into two halves by statement count.
func splitStep(s *Step) (Step, Step) {
	half := s.Len() / 2
	a, b := Step{Kind: s.Kind, ProtoDescriptors: s.ProtoDescriptors}, Step{Kind: s.Kind, ProtoDescriptors: s.ProtoDescriptors}
	for _, p := range s.Parts {
		n := p.To - p.From
		switch {
		case half >= n:
			a.Parts = append(a.Parts, p)
			half -= n
		case half > 0:
			a.Parts = append(a.Parts, Part{File: p.File, From: p.From, To: p.From + half})
			b.Parts = append(b.Parts, Part{File: p.File, From: p.From + half, To: p.To})
			half = 0
		default:
			b.Parts = append(b.Parts, p)
		}
	}
	return a, b
}

// settle spreads the applied count of a batch over its parts.
func (e *Engine) settle(parts []Part, touched []*Record, applied int, err error, res *Result) {
	left := applied
	for i, p := range parts {
		r := touched[i]
		n := min(left, p.To-p.From)
		left -= n
		r.OpCount = 0
		e.advance(r, p.File, p.From+n, res)
		if err != nil && p.From+n < p.To && r.State != StateFailed {
			e.fail(r, err)
			err = nil // only the file that holds the failing statement failed
		}
	}
	// Files after the failing one keep state applying with their progress
	// unchanged; status shows them as pending (or failed, if part of them
	// ran before) and the next apply resumes them.
}

// ddlError names the statement that failed in a batch.
func ddlError(step *Step, applied int, err error) error {
	n := applied
	for _, p := range step.Parts {
		if n < p.To-p.From {
			st := &p.File.Statements[p.From+n]
			return spangate.Errorf(spangate.KindOf(err), "%s:%d: statement %d of migration %d failed; %d earlier statements of this batch are applied and recorded: %w",
				p.File.Path, st.Line, p.From+n+1, p.File.Version, applied, err).
				WithHint("fix the statement (statements before it must stay as they are) and re-run apply; it resumes at this statement")
		}
		n -= p.To - p.From
	}
	return err
}

func (e *Engine) runDML(ctx context.Context, l Lease, step *Step, recs map[int64]*Record, res *Result) error {
	p := step.Parts[0]
	return e.runDMLRange(ctx, l, p.File, p.From, p.To, recs, res)
}

// runDMLRange runs statements [from, to) of f in one transaction with the
// file's history row. When Spanner refuses the commit for holding too many
// mutations, the run is split in two halves, each committed with its
// progress, as often as needed: the file's DML then commits in as few
// transactions as the mutation limit allows.
func (e *Engine) runDMLRange(ctx context.Context, l Lease, f *File, from, to int, recs map[int64]*Record, res *Result) error {
	r := e.record(recs, f)
	next := *r
	next.OperationName, next.OpCount = "", 0
	e.setProgress(&next, f, to)
	stmts := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		stmts = append(stmts, f.Statements[i].SQL)
	}
	_, err := e.History.ApplyDML(ctx, l, stmts, next, r.StatementsApplied)
	if err != nil && to-from > 1 && tooManyMutations(err) && !errors.Is(err, spangate.ErrOutcomeUnknown) {
		mid := from + (to-from)/2
		e.report(Event{Type: "info", Version: f.Version, Message: fmt.Sprintf("%s: statements %d to %d exceed Spanner's mutation limit in one transaction; committing them in two parts", f.Base(), from+1, to)})
		if err := e.runDMLRange(ctx, l, f, from, mid, recs, res); err != nil {
			return err
		}
		return e.runDMLRange(ctx, l, f, mid, to, recs, res)
	}
	if err != nil {
		// Whether the DML may have committed is a property of its own
		// error, not of the failure record saved below.
		unknown := errors.Is(err, spangate.ErrOutcomeUnknown)
		sctx, cancel := saveCtx(ctx)
		defer cancel()
		if spangate.KindOf(err) != spangate.Canceled {
			e.fail(r, err)
			if serr := e.History.Save(sctx, l, *r); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		failed := from
		var se *StatementError
		if errors.As(err, &se) && se.Index >= 0 && from+se.Index < to {
			failed = from + se.Index
		}
		st := &f.Statements[failed]
		if unknown {
			// The history row commits with the DML, so the next apply
			// knows whether it ran; the failure saved above never sets
			// the stored progress back.
			return spangate.Errorf(spangate.KindOf(err), "%s:%d: DML of migration %d may or may not have been applied: %w", f.Path, f.Statements[from].Line, f.Version, err).
				WithHint("re-run apply: the history row is written in the same transaction as the DML, so apply knows whether it ran and never runs it twice")
		}
		return spangate.Errorf(spangate.KindOf(err), "%s:%d: statement %d of migration %d failed; the DML of statements %d to %d was rolled back: %w",
			f.Path, st.Line, failed+1, f.Version, from+1, to, err).
			WithHint(dmlHint(err))
	}
	res.Statements += to - from
	e.advance(r, f, to, res)
	return nil
}

// tooManyMutations reports Spanner's refusal of a commit that holds more
// mutations than one transaction may.
func tooManyMutations(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "too many mutations") || strings.Contains(msg, "mutation limit")
}

// setProgress sets the progress fields of r to n statements of f applied,
// and reports whether that completes the file.
func (e *Engine) setProgress(r *Record, f *File, n int) bool {
	r.StatementsApplied = n
	r.PrefixChecksum = PrefixChecksum(f, n)
	r.Error = ""
	if n < len(f.Statements) {
		return false
	}
	r.State = StateApplied
	r.FinishedAt = e.Now()
	return true
}

func dmlHint(err error) string {
	switch {
	case tooManyMutations(err):
		return "one transaction holds at most 80,000 mutations; split the statement, or mark an UPDATE/DELETE with -- spangate:partitioned if it is idempotent"
	case spangate.KindOf(err) == spangate.Unavailable || spangate.KindOf(err) == spangate.Canceled:
		return "re-run apply once Spanner answers again; nothing of this DML run was committed"
	}
	return "fix the statement and re-run apply; nothing of this DML run was committed"
}

func (e *Engine) runPartitioned(ctx context.Context, l Lease, step *Step, recs map[int64]*Record, res *Result) error {
	p := step.Parts[0]
	r := e.record(recs, p.File)
	r.OperationName, r.OpCount = "", 0
	if err := e.History.Save(ctx, l, *r); err != nil {
		return err
	}
	st := &p.File.Statements[p.From]
	n, err := e.Partitioned.PartitionedUpdate(ctx, st.SQL)
	sctx, cancel := saveCtx(ctx)
	defer cancel()
	if err != nil {
		e.fail(r, err)
		if serr := e.History.Save(sctx, l, *r); serr != nil {
			err = errors.Join(err, serr)
		}
		return spangate.Errorf(spangate.KindOf(err), "%s:%d: Partitioned DML of migration %d failed (it may have changed some rows; it is re-run in full on resume, so it must be idempotent): %w",
			p.File.Path, st.Line, p.File.Version, err)
	}
	res.Statements++
	e.report(Event{Type: "statement_done", Version: p.File.Version, Done: p.To, Total: len(p.File.Statements),
		Message: fmt.Sprintf("Partitioned DML changed at least %d rows", n)})
	e.advance(r, p.File, p.To, res)
	saved := *r
	saved.PartitionedRows = n
	return e.History.Save(sctx, l, saved)
}

// recover settles schema operations that an earlier run sent but did not
// record the end of (it crashed, lost the connection, or was interrupted):
// it waits for each, then records what it applied. It runs under the lock,
// before anything is planned.
func (e *Engine) recover(ctx context.Context, set *Set, l Lease, recs map[int64]*Record) error {
	files := make(map[int64]*File, len(set.Files))
	for _, f := range set.Files {
		files[f.Version] = f
	}
	all := make([]*Record, 0, len(recs))
	for _, r := range recs {
		all = append(all, r)
	}
	names, byOp := unsettledOps(all)
	for _, opID := range names {
		rs := byOp[opID]
		e.report(Event{Type: "recover", Message: fmt.Sprintf("re-attaching to schema operation %s (%s) left by an earlier run", opID, describeRows(rs))})
		applied, err := e.Schema.AwaitOperation(ctx, opID)
		if err != nil && spangate.KindOf(err) == spangate.NotFound {
			// Spanner does not know the batch: it never arrived (or, on
			// the emulator, it is still running). Nothing of it is
			// recorded as applied; the plan below holds its statements
			// again, decided and linted like any other, and sends them
			// under the same deterministic ID, which re-attaches to the
			// operation should it exist after all.
			applied, err = 0, nil
		}
		if applied < 0 {
			if spangate.KindOf(err) == spangate.Canceled || spangate.KindOf(err) == spangate.Unavailable {
				return spangate.Errorf(spangate.KindOf(err), "re-attach to schema operation %s left by an earlier run: %w", opID, err).
					WithHint("re-run apply: it re-attaches to the operation again; nothing is sent twice")
			}
			return spangate.Errorf(spangate.Internal, "cannot tell how much of schema operation %s was applied: %w", opID, err).
				WithHint("compare the live schema (gcloud spanner databases ddl describe) with the migrations and fix the history row")
		}
		e.settleOp(rs, files, applied, err, &Result{})
		saves := make([]Record, len(rs))
		for i, r := range rs {
			saves[i] = *r
		}
		if err := e.History.Save(ctx, l, saves...); err != nil {
			return err
		}
	}
	return nil
}
