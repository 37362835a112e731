package migration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/schema"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// State is the state of a migration in the history table.
type State string

// The states a history row can hold.
const (
	// StateApplying means a run started the file and has not finished it:
	// it is running now, or it was interrupted and the next apply resumes.
	StateApplying State = "applying"
	// StateApplied means every statement of the file was applied.
	StateApplied State = "applied"
	// StateFailed means a statement of the file failed; the next apply
	// resumes at the first statement not applied.
	StateFailed State = "failed"
)

// Record is one row of the migration history (SpangateMigrations).
type Record struct {
	Version           int64
	Name              string
	Checksum          string
	State             State
	StatementsApplied int
	StatementsTotal   int
	// PrefixChecksum hashes the SQL of the statements applied so far, so a
	// failed file may be fixed after its failure point but not before.
	PrefixChecksum string
	// OperationName is the schema operation that holds (or held) the
	// file's statements from OpStart, OpCount of them.
	OperationName string
	OpStart       int
	OpCount       int
	// Failures counts failed attempts; it makes the next operation ID new.
	Failures   int
	AppliedBy  string
	Commit     string
	Pipeline   string
	StartedAt  time.Time
	FinishedAt time.Time
	Error      string
	// Content is the file's content as applied. It is written with the
	// row and not read back by History (see ContentStore).
	Content []byte
	// PartitionedRows is what Spanner reported for the Partitioned DML
	// statement this save records as applied: a lower bound of the rows
	// it changed. It is for the audit entry of that save and is not
	// stored in the history.
	PartitionedRows int64
}

// MaxHeavyPerBatch is Spanner's limit on statements that need validation or
// an index backfill in one schema update batch.
const MaxHeavyPerBatch = 10

// StepKind is how a step of a plan runs.
type StepKind string

// The step kinds.
const (
	// StepDDL is one UpdateDatabaseDdl call: one schema operation.
	StepDDL StepKind = "ddl"
	// StepDML is one read-write transaction holding a run of DML of a file
	// together with the file's history row.
	StepDML StepKind = "dml"
	// StepPartitioned is one Partitioned DML statement.
	StepPartitioned StepKind = "partitioned_dml"
)

// Part is a run of statements [From, To) of one file inside a step.
type Part struct {
	File     *File
	From, To int
}

// Step is one unit of work of an apply.
type Step struct {
	Kind  StepKind
	Parts []Part
	// Heavy counts statements of a DDL step that need validation or an
	// index backfill.
	Heavy int
	// ProtoDescriptors is the FileDescriptorSet a DDL step sends: that of
	// the file whose proto bundle statement it holds. A step never holds
	// proto bundle statements of files with different descriptors.
	ProtoDescriptors []byte
}

// Statements returns the SQL of the step's statements in order.
func (s *Step) Statements() []string {
	var out []string
	for _, p := range s.Parts {
		for i := p.From; i < p.To; i++ {
			out = append(out, p.File.Statements[i].SQL)
		}
	}
	return out
}

// Len returns how many statements the step holds.
func (s *Step) Len() int {
	n := 0
	for _, p := range s.Parts {
		n += p.To - p.From
	}
	return n
}

// Pending describes a file that apply would run.
type Pending struct {
	Version    int64           `json:"version"`
	Name       string          `json:"name"`
	Statements int             `json:"statements"`
	Kinds      []StatementKind `json:"kinds"`
	// ResumeAt is the first statement not yet applied (0 for a new file).
	ResumeAt int `json:"resume_at,omitempty"`
	// InFlight names the schema operation an earlier run sent with the
	// statements before ResumeAt and did not see end; apply re-attaches to
	// it first.
	InFlight string `json:"in_flight,omitempty"`
	File     *File  `json:"-"`
}

// Plan is what apply would do, and what blocks it.
type Plan struct {
	Applied          []int64
	Pending          []Pending
	Findings         []Finding
	Steps            []Step
	SchemaOperations int
	Statements       int
	// Before is the schema the pending statements meet: the live schema
	// when it was read (and shown in full), else the schema the applied
	// migrations build.
	Before *schema.Schema
	// After is Before with the pending statements applied, or nil when
	// one of them would be refused.
	After *schema.Schema
	// SchemaChanges summarises Before → After, or is nil.
	SchemaChanges *schema.Summary

	// keys holds, per pending DML statement, the primary key of its
	// table in the schema the statement meets (set by lint).
	keys map[*sqlstmt.Statement][]string
}

// keyColumns records the primary key of the table st writes, as the
// schema the statement meets has it.
func (p *Plan) keyColumns(st *sqlstmt.Statement, t *schema.Table) {
	if p.keys == nil {
		p.keys = map[*sqlstmt.Statement][]string{}
	}
	p.keys[st] = keyNames(t)
}

// PendingStatements returns the statements apply would still run, in file
// order, each classified against the schema it meets: an UPDATE or DELETE
// whose WHERE fixes or ranges its table's primary key (as the applied and
// pending migrations, or the live schema, define it) is not destructive
// (sqlstmt.Statement.WithKeys); one whose table the plan does not know
// stays destructive. These are the statements to authorize.
func (p *Plan) PendingStatements() []sqlstmt.Statement {
	var out []sqlstmt.Statement
	for _, pd := range p.Pending {
		if pd.File == nil {
			continue
		}
		for i := pd.ResumeAt; i < len(pd.File.Statements); i++ {
			st := &pd.File.Statements[i]
			c := *st
			if keys, ok := p.keys[st]; ok {
				c = c.WithKeys(keys, nil)
			}
			out = append(out, c)
		}
	}
	return out
}

// Blocked reports whether an error finding stops apply.
func (p *Plan) Blocked() bool {
	for _, f := range p.Findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Err returns nil when the plan may be applied, or an error of the kind of
// its most serious finding: Invalid for bad files (exit 2), Blocked for an
// edited applied file and the like (exit 4).
func (p *Plan) Err() error {
	var first *Finding
	n := 0
	for i := range p.Findings {
		f := &p.Findings[i]
		if f.Severity != SeverityError {
			continue
		}
		n++
		if first == nil || rank(f.Blocks) < rank(first.Blocks) {
			first = f
		}
	}
	if first == nil {
		return nil
	}
	msg := fmt.Sprintf("%s:%d: %s", first.File, first.Line, first.Message)
	if n > 1 {
		msg += fmt.Sprintf(" (and %d more problems; run spangate migrate plan to list them)", n-1)
	}
	kind := first.Blocks
	if kind != spangate.Invalid && kind != spangate.Denied {
		kind = spangate.Blocked
	}
	return &spangate.Error{Kind: kind, Message: msg}
}

// rank orders the kinds of error findings, most serious first: a refused
// statement (Denied), bad input (Invalid), then what blocks the plan.
func rank(k spangate.Kind) int {
	switch k {
	case spangate.Denied:
		return 0
	case spangate.Invalid:
		return 1
	}
	return 2
}

// PrefixChecksum hashes the SQL of the first n statements of f.
func PrefixChecksum(f *File, n int) string {
	h := sha256.New()
	for i := 0; i < n && i < len(f.Statements); i++ {
		h.Write([]byte(f.Statements[i].SQL))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// NewPlan compares the files of set with the history and plans the apply.
// The pending statements are linted against the schema the applied
// migrations build.
func NewPlan(set *Set, history []Record) *Plan {
	return NewCheckedPlan(set, history, CheckOptions{})
}

// NewCheckedPlan is NewPlan that also compares the applied migrations with
// the live schema in opts (drift) and lints against the live schema.
func NewCheckedPlan(set *Set, history []Record, opts CheckOptions) *Plan {
	p := &Plan{Findings: append([]Finding(nil), set.Findings...)}
	byVersion := make(map[int64]Record, len(history))
	var maxApplied int64
	for _, r := range history {
		byVersion[r.Version] = r
		if r.State == StateApplied && r.Version > maxApplied {
			maxApplied = r.Version
		}
	}
	files := make(map[int64]bool, len(set.Files))
	for _, f := range set.Files {
		files[f.Version] = true
		r, seen := byVersion[f.Version]
		switch {
		case !seen && f.ChecksumOnly:
			p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleChecksumOnly, File: f.Path, Line: 1, Blocks: spangate.Invalid,
				Message: fmt.Sprintf("migration %d was sent by checksum only, but the database history does not have it; send the file whole", f.Version)})
		case !seen:
			if f.Version < maxApplied {
				p.Findings = append(p.Findings, Finding{Severity: SeverityWarning, Rule: RuleOutOfOrder, File: f.Path, Line: 1,
					Message: fmt.Sprintf("version %d is older than the newest applied version %d; it will be applied now, out of order", f.Version, maxApplied)})
			}
			p.addPending(f, 0)
		case r.State == StateApplied:
			if r.Checksum != f.Checksum {
				p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleModified, File: f.Path, Line: 1, Blocks: spangate.Blocked,
					Message: fmt.Sprintf("applied migration %d was edited after it was applied (checksum %s, applied %s); revert the file and put the change in a new migration", f.Version, short(f.Checksum), short(r.Checksum))})
			}
			// Applied either way: the schema model takes its statements
			// from the recorded content when the file was edited.
			p.Applied = append(p.Applied, f.Version)
		case f.ChecksumOnly:
			p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleChecksumOnly, File: f.Path, Line: 1, Blocks: spangate.Invalid,
				Message: fmt.Sprintf("migration %d was sent by checksum only, but the database history does not show it applied (%s); send the file whole", f.Version, orNone(r.State))})
		case r.Unsettled():
			if f.Checksum != r.Checksum {
				p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleModified, File: f.Path, Line: 1, Blocks: spangate.Blocked,
					Message: fmt.Sprintf("migration %d was edited while schema operation %s, which holds statements %d-%d of it, has not been seen to end; restore the file until apply has re-attached to the operation", f.Version, r.OperationName, r.OpStart+1, r.OpStart+r.OpCount)})
				continue
			}
			p.addPending(f, min(r.OpStart+r.OpCount, len(f.Statements)))
			p.Pending[len(p.Pending)-1].InFlight = r.OperationName
		default: // applying or failed: resume
			resume := r.StatementsApplied
			if r.Checksum != f.Checksum && resume > 0 && PrefixChecksum(f, resume) != r.PrefixChecksum {
				p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleModified, File: f.Path, Line: 1, Blocks: spangate.Blocked,
					Message: fmt.Sprintf("migration %d stopped after %d of its statements were applied, and those statements were edited since; restore them (only the statements after them may change)", f.Version, resume)})
				continue
			}
			if resume > len(f.Statements) {
				p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleModified, File: f.Path, Line: 1, Blocks: spangate.Blocked,
					Message: fmt.Sprintf("migration %d has %d statements applied but the file now holds only %d; restore the file", f.Version, resume, len(f.Statements))})
				continue
			}
			p.addPending(f, resume)
		}
	}
	for _, r := range history {
		if !files[r.Version] {
			p.Findings = append(p.Findings, Finding{Severity: SeverityWarning, Rule: RuleMissingFile, File: recordFileName(r), Line: 1,
				Message: fmt.Sprintf("migration %d (%s) is in the database history (%s) but not in the directory", r.Version, r.Name, r.State)})
		}
	}
	p.buildSteps()
	p.checkSchema(set, opts)
	sortFindings(p.Findings)
	return p
}

func orNone(s State) string {
	if s == "" {
		return "no row"
	}
	return "state " + string(s)
}

// recordFileName is the file name a history row stands for.
func recordFileName(r Record) string {
	if r.Name == "" {
		return fmt.Sprintf("%d.sql", r.Version)
	}
	return fmt.Sprintf("%d_%s.sql", r.Version, r.Name)
}

func (p *Plan) addPending(f *File, resume int) {
	if len(f.ProtoDescriptors) == 0 {
		for i := resume; i < len(f.Statements); i++ {
			if st := &f.Statements[i]; needsDescriptors(st) {
				p.Findings = append(p.Findings, Finding{Severity: SeverityError, Rule: RuleProtoDescriptor, File: f.Path, Line: st.Line, Blocks: spangate.Invalid,
					Message: fmt.Sprintf("%s needs the proto descriptors it names: write -- spangate:proto-descriptors PATH (a serialized FileDescriptorSet, relative to the migrations directory) above it, or pass migrate apply --proto-descriptors FILE", st.Verb)})
				break
			}
		}
	}
	p.Pending = append(p.Pending, Pending{Version: f.Version, Name: f.Name, Statements: len(f.Statements), Kinds: f.Kinds(), ResumeAt: resume, File: f})
}

// buildSteps groups the pending statements into steps: consecutive DDL,
// across files, into as few batches as Spanner allows; each run of DML of a
// file into one transaction; each partitioned statement on its own.
func (p *Plan) buildSteps() {
	var (
		cur     *Step // the open DDL batch, if any
		created = map[string]bool{}
	)
	closeBatch := func() {
		cur = nil
		clear(created)
	}
	for _, pend := range p.Pending {
		f := pend.File
		for i := pend.ResumeAt; i < len(f.Statements); i++ {
			p.Statements++
			switch f.KindOf(i) {
			case KindDDL:
				st := &f.Statements[i]
				heavy := needsValidation(st, created)
				proto := needsDescriptors(st)
				if cur == nil || (heavy && cur.Heavy >= MaxHeavyPerBatch) ||
					(proto && cur.ProtoDescriptors != nil && !bytes.Equal(cur.ProtoDescriptors, f.ProtoDescriptors)) {
					p.Steps = append(p.Steps, Step{Kind: StepDDL})
					cur = &p.Steps[len(p.Steps)-1]
					clear(created)
				}
				if proto {
					cur.ProtoDescriptors = f.ProtoDescriptors
				}
				if heavy {
					cur.Heavy++
				}
				if _, ok := st.Node.(*ast.CreateTable); ok {
					created[normName(st.Table)] = true
				}
				appendPart(cur, f, i)
			case KindDML:
				closeBatch()
				last := len(p.Steps) - 1
				if last >= 0 && p.Steps[last].Kind == StepDML && p.Steps[last].Parts[0].File == f && p.Steps[last].Parts[0].To == i {
					p.Steps[last].Parts[0].To++
				} else {
					p.Steps = append(p.Steps, Step{Kind: StepDML, Parts: []Part{{File: f, From: i, To: i + 1}}})
				}
			case KindPartitionedDML:
				closeBatch()
				p.Steps = append(p.Steps, Step{Kind: StepPartitioned, Parts: []Part{{File: f, From: i, To: i + 1}}})
			}
		}
	}
	for _, s := range p.Steps {
		if s.Kind == StepDDL {
			p.SchemaOperations++
		}
	}
}

func appendPart(s *Step, f *File, i int) {
	if n := len(s.Parts); n > 0 && s.Parts[n-1].File == f && s.Parts[n-1].To == i {
		s.Parts[n-1].To++
		return
	}
	s.Parts = append(s.Parts, Part{File: f, From: i, To: i + 1})
}

// needsValidation reports whether a DDL statement makes Spanner validate
// data or backfill an index, which it allows at most ten times per batch.
// Statements on a table created earlier in the same batch need neither.
func needsValidation(st *sqlstmt.Statement, createdInBatch map[string]bool) bool {
	fresh := st.Table != "" && createdInBatch[normName(st.Table)]
	switch n := st.Node.(type) {
	case *ast.CreateIndex, *ast.CreateSearchIndex, *ast.CreateVectorIndex:
		return !fresh
	case *ast.CreateTable:
		for _, c := range n.TableConstraints {
			if _, fk := c.Constraint.(*ast.ForeignKey); fk {
				return true
			}
		}
		return false
	case *ast.AlterTable:
		if fresh {
			return false
		}
		switch a := n.TableAlteration.(type) {
		case *ast.AddColumn:
			if a.Column.NotNull {
				return true
			}
			if g, ok := a.Column.DefaultSemantics.(*ast.GeneratedColumnExpr); ok && !g.Stored.Invalid() {
				return true
			}
			return false
		case *ast.DropColumn, *ast.DropConstraint, *ast.AddRowDeletionPolicy, *ast.DropRowDeletionPolicy,
			*ast.ReplaceRowDeletionPolicy, *ast.SetOnDelete, *ast.AddSynonym, *ast.DropSynonym, *ast.RenameTo:
			return false
		default: // ALTER COLUMN, ADD CONSTRAINT (FK, CHECK), SET OPTIONS…
			return true
		}
	}
	return false
}

// normName folds a table name for comparison: Spanner names are
// case-insensitive.
func normName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
