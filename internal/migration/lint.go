package migration

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"
	"github.com/cloudspannerecosystem/memefish/token"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/schema"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// Lint and drift rule identifiers. Error rules block plan and apply
// unless the statement carries `-- spangate:allow <rule>`; see
// docs/schema.md for what each means and how to do it safely.
const (
	RuleSchemaError       = "schema-error"
	RuleDropTable         = "drop-table"
	RuleDropColumn        = "drop-column"
	RuleDropIndex         = "drop-index"
	RuleLossyTypeChange   = "lossy-type-change"
	RuleDMLWithoutWhere   = "dml-without-where"
	RulePartitionedNotIdm = "partitioned-not-idempotent"
	RuleIndexBackfill     = "index-backfill"
	RuleIndexBackfillMany = "index-backfill-many"
	RuleAddNotNull        = "add-not-null"
	RuleShrinkLength      = "shrink-length"
	RuleAddCheck          = "add-check"
	RuleAddForeignKey     = "add-foreign-key"
	RuleValidationBatches = "validation-batches"
	RuleLargeDML          = "large-dml"
	RuleAnonymous         = "anonymous-constraint"
	RuleNameTooLong       = "name-too-long"
	RuleReservedWord      = "reserved-word"
	RuleDrift             = "drift"
	RuleDriftPartial      = "drift-partial"
)

// MaxMutations is Spanner's limit on mutations in one commit.
const MaxMutations = 80000

// maxNameLength is Spanner's limit on the length of a name.
const maxNameLength = 128

// CheckOptions are what a plan is checked against besides the files and
// the history.
type CheckOptions struct {
	// Live is the live schema as GetDatabaseDdl returns it, when HaveLive.
	Live     []string
	HaveLive bool
	// FailOnDrift makes drift findings errors that block (exit 4).
	FailOnDrift bool
	// Recorded holds, by version, applied files as the history recorded
	// them, for the applied files that were edited since or sent by
	// checksum only: the schema model uses these instead.
	Recorded map[int64]*File
}

// checkSchema builds the schema model of the applied migrations, compares
// it with the live schema (drift), lints the pending statements against
// the schema they will meet, and records the schema changes.
func (p *Plan) checkSchema(set *Set, opts CheckOptions) {
	applied := p.appliedModel(set, opts.Recorded)
	base := applied
	if opts.HaveLive {
		if live := p.checkDrift(applied, opts); live != nil {
			base = live
		}
	}
	p.Before = base
	p.lint(base)
}

// appliedModel applies, in version order, the statements the history says
// are applied: every statement of an applied file and the applied prefix
// of a resumed one.
func (p *Plan) appliedModel(set *Set, recorded map[int64]*File) *schema.Schema {
	s := schema.New()
	applied := make(map[int64]bool, len(p.Applied))
	for _, v := range p.Applied {
		applied[v] = true
	}
	resume := map[int64]int{}
	for _, pd := range p.Pending {
		resume[pd.Version] = pd.ResumeAt
	}
	for _, f := range set.Files {
		n := 0
		if rf := recorded[f.Version]; rf != nil && applied[f.Version] {
			f = rf
		}
		switch {
		case applied[f.Version]:
			n = len(f.Statements)
		default:
			n = resume[f.Version]
		}
		for i := 0; i < n; i++ {
			// A statement Spanner accepted but the model refuses is a gap
			// in the model; carry on with the rest.
			_ = s.Apply(f.Path, &f.Statements[i])
		}
	}
	return s
}

// checkDrift compares the applied model with the live schema and returns
// the live model to lint against, or nil when the live schema is shown
// only in part (then the applied model is the better base).
func (p *Plan) checkDrift(applied *schema.Schema, opts CheckOptions) *schema.Schema {
	raw, err := schema.FromDDL("live schema", withoutForeignTables(opts.Live, applied))
	if err != nil {
		p.Findings = append(p.Findings, Finding{Severity: SeverityWarning, Rule: RuleDrift, File: "live schema", Line: 1,
			Message: fmt.Sprintf("the live schema could not be modelled, so drift was not checked: %v", err)})
		return nil
	}
	live := raw.WithoutInternal()
	faithful := liveShowsOptions(raw)
	want, got := applied, live
	if !faithful {
		want, got = applied.Partial(), live.Partial()
		p.Findings = append(p.Findings, Finding{Severity: SeverityInfo, Rule: RuleDriftPartial, File: "live schema", Line: 1,
			Message: "this Spanner backend's GetDatabaseDdl omits indexes, INTERLEAVE and OPTIONS (the in-process fake of spangate dev): " +
				"drift was checked only for tables, columns, their types, NOT NULL and primary keys"})
	}
	res := schema.Diff(want, got)
	sev, blocks := SeverityWarning, spangate.Kind(0)
	if opts.FailOnDrift {
		sev, blocks = SeverityError, spangate.Blocked
	}
	add := func(msg string) {
		p.Findings = append(p.Findings, Finding{Severity: sev, Rule: RuleDrift, File: "live schema", Line: 1, Blocks: blocks, Message: msg})
	}
	for _, c := range res.Changes {
		switch c.Action {
		case "add":
			add(fmt.Sprintf("%s exists in the live database but no applied migration creates it (%s)", c.Object, c.SQL))
		case "drop":
			if c.Detail != "" {
				add(fmt.Sprintf("%s differs between the applied migrations and the live database (%s)", c.Object, c.Detail))
				continue
			}
			add(fmt.Sprintf("%s is created by the applied migrations but missing from the live database", c.Object))
		default:
			add(fmt.Sprintf("%s differs: the live database has %s (to match the migrations, the live schema would need the reverse of: %s)", c.Object, orWhat(c.Detail), c.SQL))
		}
	}
	for _, r := range res.Refused {
		add(fmt.Sprintf("%s differs between the applied migrations and the live database: %s", r.Object, r.Reason))
	}
	if !faithful {
		return nil
	}
	return live
}

// ForeignTables are the history tables of the tools spangate takes over
// from (wrench, golang-migrate, Liquibase). Drift ignores them unless a
// migration creates them.
var ForeignTables = []string{"SchemaMigrations", "schema_migrations", "DATABASECHANGELOG", "DATABASECHANGELOGLOCK"}

// withoutForeignTables drops the live DDL of other tools' history tables
// (and their indexes) that no applied migration creates.
func withoutForeignTables(live []string, applied *schema.Schema) []string {
	var out []string
	for _, ddl := range live {
		if table := foreignTableOf(ddl); table != "" && applied.Table(table) == nil {
			continue
		}
		out = append(out, ddl)
	}
	return out
}

// foreignTableOf returns the foreign history table a CREATE TABLE or
// CREATE INDEX statement is on, or "".
func foreignTableOf(ddl string) string {
	lower := strings.ToLower(ddl)
	hit := false
	for _, t := range ForeignTables {
		hit = hit || strings.Contains(lower, strings.ToLower(t))
	}
	if !hit {
		return ""
	}
	st, err := sqlstmt.ParseOne(ddl)
	if err != nil {
		return ""
	}
	switch st.Node.(type) {
	case *ast.CreateTable, *ast.CreateIndex:
	default:
		return ""
	}
	for _, t := range ForeignTables {
		if strings.EqualFold(st.Table, t) {
			return t
		}
	}
	return ""
}

func orWhat(s string) string {
	if s == "" {
		return "another definition"
	}
	return s
}

// liveShowsOptions reports whether GetDatabaseDdl shows column OPTIONS:
// spangate's own SpangateMigrations.UpdatedAt is created with
// allow_commit_timestamp, so its absence there means the backend omits
// OPTIONS (and, with them, indexes and INTERLEAVE: the in-process fake).
// Without that table the answer is yes.
func liveShowsOptions(raw *schema.Schema) bool {
	t := raw.Table("SpangateMigrations")
	if t == nil {
		return true
	}
	c := t.Column("UpdatedAt")
	return c == nil || c.AllowCommitTimestamp()
}

// linter walks the pending statements in apply order.
type linter struct {
	p       *Plan
	model   *schema.Schema
	base    *schema.Schema
	created map[string]int // table → step that created it
	dropped map[string]bool
	// droppedCols holds "table.column" of columns dropped so far.
	droppedCols map[string]bool
	backfill    int
}

// lint applies the pending statements to the base schema, reports what
// Spanner would refuse and what is risky, and records the resulting
// schema.
func (p *Plan) lint(base *schema.Schema) {
	l := &linter{p: p, model: base.Clone(), base: base, created: map[string]int{}, dropped: map[string]bool{}, droppedCols: map[string]bool{}}
	broken := false
	for si := range p.Steps {
		step := &p.Steps[si]
		for _, part := range step.Parts {
			for i := part.From; i < part.To; i++ {
				st := &part.File.Statements[i]
				l.statement(si, part.File, st, &broken)
			}
		}
	}
	if l.backfill > 3 {
		p.Findings = append(p.Findings, Finding{Severity: SeverityWarning, Rule: RuleIndexBackfillMany, File: p.Pending[0].File.Path, Line: 1,
			Message: fmt.Sprintf("%d indexes on existing tables need a backfill in this plan; Google advises at most 3 a day: each backfill reads the whole table and competes with traffic. Spread them over several deploys", l.backfill)})
	}
	heavy := 0
	for _, s := range p.Steps {
		heavy += s.Heavy
	}
	if heavy > MaxHeavyPerBatch {
		p.Findings = append(p.Findings, Finding{Severity: SeverityWarning, Rule: RuleValidationBatches, File: p.Pending[0].File.Path, Line: 1,
			Message: fmt.Sprintf("%d statements need validation or an index backfill; Spanner allows 10 per schema operation, so apply will issue %d schema operations, each of which may take minutes to hours. Consider spreading them over several deploys", heavy, p.SchemaOperations)})
	}
	if !broken {
		sum := schema.Summarize(base, l.model)
		p.SchemaChanges = &sum
		p.After = l.model
	}
}

func (l *linter) add(f *File, st *sqlstmt.Statement, sev Severity, rule, msg string) {
	fd := Finding{Severity: sev, Rule: rule, File: f.Path, Line: st.Line, Message: msg}
	if sev == SeverityError {
		fd.Blocks = spangate.Blocked
		if allowed(st, rule) {
			fd.Severity, fd.Blocks = SeverityInfo, 0
			fd.Message += fmt.Sprintf(" (allowed by -- spangate:allow %s)", rule)
		}
	}
	l.p.Findings = append(l.p.Findings, fd)
}

// allowed reports whether the statement carries `-- spangate:allow rule`.
func allowed(st *sqlstmt.Statement, rule string) bool {
	for _, d := range st.Directives {
		if d.Name == "allow" && slices.Contains(d.Args, rule) {
			return true
		}
	}
	return false
}

// existing reports whether table existed before the step: in the base
// schema or created by an earlier step.
func (l *linter) existing(table string, step int) bool {
	k := strings.ToLower(table)
	if s, ok := l.created[k]; ok {
		return s < step
	}
	return l.base.Table(table) != nil && !l.dropped[k]
}

// preexisting reports whether table holds rows from before this plan: it
// is in the base schema and no pending statement (re)created it.
func (l *linter) preexisting(table string) bool {
	k := strings.ToLower(table)
	_, created := l.created[k]
	return l.base.Table(table) != nil && !created && !l.dropped[k]
}

func (l *linter) statement(step int, f *File, st *sqlstmt.Statement, broken *bool) {
	switch n := st.Node.(type) {
	case ast.DML:
		l.dml(step, f, st, n)
		return
	case ast.DDL:
		l.ddl(step, f, st, n)
		// Apply leaves the model unchanged when it refuses a statement.
		if err := l.model.Apply(f.Path, st); err != nil {
			msg := err.Error()
			if ae, ok := schema.AsApplyError(err); ok {
				msg = ae.Message
			}
			l.add(f, st, SeverityError, RuleSchemaError, "Spanner will refuse this statement: "+msg+
				"; the schema operation stops there, and the statements before it in the same operation stay applied")
			*broken = true
			return
		}
		l.track(step, n)
	}
}

func (l *linter) track(step int, n ast.DDL) {
	switch n := n.(type) {
	case *ast.CreateTable:
		k := strings.ToLower(sqlstmt.Name(n.Name))
		if _, ok := l.created[k]; !ok {
			l.created[k] = step
		}
	case *ast.DropTable:
		k := strings.ToLower(sqlstmt.Name(n.Name))
		l.dropped[k] = true
		delete(l.created, k)
	}
}

func (l *linter) ddl(step int, f *File, st *sqlstmt.Statement, n ast.DDL) {
	l.names(f, st, n)
	switch n := n.(type) {
	case *ast.DropTable:
		l.add(f, st, SeverityError, RuleDropTable, fmt.Sprintf("DROP TABLE %s deletes the table and every row in it, irreversibly (and its interleaved children must be dropped first). "+
			"Safely: stop every reader and writer first, take a backup or export, drop in a migration of its own, and mark it -- spangate:allow %s", sqlstmt.Name(n.Name), RuleDropTable))
	case *ast.DropIndex, *ast.DropSearchIndex, *ast.DropVectorIndex:
		l.add(f, st, SeverityError, RuleDropIndex, "DROP INDEX removes the index at once; queries that name it (FORCE_INDEX) fail and others may become full scans, and re-creating it means a long backfill. "+
			"Safely: check no query uses it (query stats), then mark the statement -- spangate:allow "+RuleDropIndex)
	case *ast.CreateIndex:
		l.createIndex(step, f, st, sqlstmt.Name(n.TableName))
	case *ast.CreateSearchIndex:
		l.createIndex(step, f, st, sqlstmt.Name(n.TableName))
	case *ast.CreateVectorIndex:
		l.createIndex(step, f, st, n.TableName.Name)
	case *ast.CreateTable:
		name := sqlstmt.Name(n.Name)
		if l.dropped[strings.ToLower(name)] {
			l.add(f, st, SeverityError, RuleLossyTypeChange, fmt.Sprintf("table %s is dropped and created again in this plan: every row is lost. "+
				"Change it in place (ALTER TABLE) or create a new table, copy the data, and drop the old one later", name))
		}
		for _, tc := range n.TableConstraints {
			l.constraint(f, st, tc, name, false, step)
		}
	case *ast.AlterTable:
		l.alterTable(step, f, st, n)
	}
}

func (l *linter) createIndex(step int, f *File, st *sqlstmt.Statement, table string) {
	if !l.existing(table, step) {
		return
	}
	l.backfill++
	l.add(f, st, SeverityWarning, RuleIndexBackfill, fmt.Sprintf("CREATE INDEX on existing table %s: Spanner backfills the index from every row, which takes minutes to hours on a large table and competes with traffic; "+
		"the index is usable only when the backfill ends. Create indexes in the same migration as their table when you can, and at most 3 backfills a day", table))
}

func (l *linter) alterTable(step int, f *File, st *sqlstmt.Statement, n *ast.AlterTable) {
	table := sqlstmt.Name(n.Name)
	existing := l.existing(table, step)
	t := l.model.Table(table)
	switch a := n.TableAlteration.(type) {
	case *ast.DropColumn:
		l.droppedCols[strings.ToLower(table+"."+a.Name.Name)] = true
		l.add(f, st, SeverityError, RuleDropColumn, fmt.Sprintf("DROP COLUMN %s.%s deletes the column's data irreversibly, and readers that still select it fail. "+
			"Safely: stop reading and writing it in a release first, then drop it in a later migration marked -- spangate:allow %s", table, a.Name.Name, RuleDropColumn))
	case *ast.AddColumn:
		if l.droppedColumnEarlier(table, a.Column.Name.Name) {
			l.add(f, st, SeverityError, RuleLossyTypeChange, fmt.Sprintf("column %s.%s is dropped and added again in this plan: its data is lost. "+
				"Spanner can change a length or STRING ↔ BYTES in place (ALTER COLUMN); for other types add a new column, backfill it, and switch readers", table, a.Column.Name.Name))
		}
		if existing && a.Column.NotNull {
			def := "its default"
			if d, ok := a.Column.DefaultSemantics.(*ast.ColumnDefaultExpr); ok {
				def = "the default " + d.Expr.SQL()
			}
			l.add(f, st, SeverityWarning, RuleAddNotNull, fmt.Sprintf("ADD COLUMN %s NOT NULL on existing table %s: Spanner writes %s into every existing row and validates it; "+
				"this is a long-running schema change on a large table, and readers see that value in old rows", a.Column.Name.Name, table, def))
		}
		if g, ok := a.Column.DefaultSemantics.(*ast.GeneratedColumnExpr); ok && existing && !g.Stored.Invalid() {
			l.add(f, st, SeverityWarning, RuleAddNotNull, fmt.Sprintf("a STORED generated column on existing table %s is computed and validated for every row: a long-running schema change", table))
		}
	case *ast.AddTableConstraint:
		l.constraint(f, st, a.TableConstraint, table, existing, step)
	case *ast.AlterColumn:
		if t == nil || !existing {
			return
		}
		c := t.Column(a.Name.Name)
		if c == nil {
			return
		}
		if ct, ok := a.Alteration.(*ast.AlterColumnType); ok {
			if ct.NotNull && !c.NotNull {
				l.add(f, st, SeverityWarning, RuleAddNotNull, fmt.Sprintf("making %s.%s NOT NULL: Spanner rejects NULL writes almost at once, then validates every row; "+
					"the change fails if any row holds NULL. Backfill the NULLs first (Partitioned DML), and deploy writers that always set it", table, c.Name))
			}
			l.shrink(f, st, table, c, ct)
		}
	}
}

// shrink warns when an ALTER COLUMN narrows a length or turns BYTES into
// STRING: Spanner validates every row.
func (l *linter) shrink(f *File, st *sqlstmt.Statement, table string, c *schema.Column, ct *ast.AlterColumnType) {
	next := alteredType(ct)
	old := c.Type
	narrower := next.Size > 0 && (old.Size == schema.MaxSize || (old.Size > 0 && next.Size < old.Size))
	toString := old.Base == "BYTES" && next.Base == "STRING"
	if narrower || toString {
		l.add(f, st, SeverityWarning, RuleShrinkLength, fmt.Sprintf("%s.%s changes from %s to %s: Spanner validates every row and the change fails if a value does not fit (or is not valid UTF-8); "+
			"check the data first (SELECT MAX(LENGTH(%s)) …)", table, c.Name, old, next, c.Name))
	}
}

func alteredType(ct *ast.AlterColumnType) schema.Type { return schema.TypeOf(ct.Type) }

// droppedColumnEarlier reports whether an earlier pending statement drops
// table.col.
func (l *linter) droppedColumnEarlier(table, col string) bool {
	return l.droppedCols[strings.ToLower(table+"."+col)]
}

func (l *linter) constraint(f *File, st *sqlstmt.Statement, tc *ast.TableConstraint, table string, existing bool, step int) {
	what := "CHECK"
	switch c := tc.Constraint.(type) {
	case *ast.ForeignKey:
		what = "FOREIGN KEY"
		if existing {
			l.add(f, st, SeverityWarning, RuleAddForeignKey, fmt.Sprintf("adding a FOREIGN KEY to existing table %s: Spanner validates every row against %s and builds backing indexes, a long-running schema change that fails on a dangling reference. "+
				"Check for orphans first", table, sqlstmt.Name(c.ReferenceTable)))
		}
	case *ast.Check:
		if existing {
			l.add(f, st, SeverityWarning, RuleAddCheck, fmt.Sprintf("adding a CHECK constraint to existing table %s: Spanner validates every row, a long-running schema change that fails if one row violates it. "+
				"Check the data first", table))
		}
	default:
		return
	}
	if tc.Name == nil {
		l.add(f, st, SeverityWarning, RuleAnonymous, fmt.Sprintf("anonymous %s on %s: Spanner generates its name, so a later migration cannot drop or change it by name (and schema diff cannot). "+
			"Name it: CONSTRAINT <name> %s …", what, table, what))
	}
}

// names warns about names Spanner refuses (too long) or that need quoting
// everywhere (reserved words).
func (l *linter) names(f *File, st *sqlstmt.Statement, n ast.DDL) {
	var names []string
	switch n := n.(type) {
	case *ast.CreateTable:
		names = append(names, sqlstmt.Name(n.Name))
		for _, c := range n.Columns {
			names = append(names, c.Name.Name)
		}
		for _, tc := range n.TableConstraints {
			if tc.Name != nil {
				names = append(names, tc.Name.Name)
			}
		}
	case *ast.AlterTable:
		switch a := n.TableAlteration.(type) {
		case *ast.AddColumn:
			names = append(names, a.Column.Name.Name)
		case *ast.AddTableConstraint:
			if a.TableConstraint.Name != nil {
				names = append(names, a.TableConstraint.Name.Name)
			}
		}
	case *ast.CreateIndex:
		names = append(names, sqlstmt.Name(n.Name))
	case *ast.CreateView:
		names = append(names, sqlstmt.Name(n.Name))
	case *ast.CreateChangeStream:
		names = append(names, n.Name.Name)
	case *ast.CreateSequence:
		names = append(names, sqlstmt.Name(n.Name))
	}
	for _, name := range names {
		if len(name) > maxNameLength {
			l.add(f, st, SeverityWarning, RuleNameTooLong, fmt.Sprintf("name %.40s… is %d characters; Spanner allows at most %d and will refuse the statement", name, len(name), maxNameLength))
		}
		if reserved(name) {
			l.add(f, st, SeverityWarning, RuleReservedWord, fmt.Sprintf("%s is a reserved word in GoogleSQL: every query must quote it as `%s`. Choose another name", name, name))
		}
	}
}

func reserved(name string) bool {
	up := strings.ToUpper(name)
	for _, k := range token.Keywords {
		if string(k) == up {
			return true
		}
	}
	return false
}

func (l *linter) dml(step int, f *File, st *sqlstmt.Statement, n ast.DML) {
	if t := l.model.Table(st.Table); t != nil {
		l.p.keyColumns(st, t)
	}
	if st.AllRows {
		l.add(f, st, SeverityError, RuleDMLWithoutWhere, fmt.Sprintf("%s: this changes every row of %s. If that is intended, say so: mark it -- spangate:allow %s "+
			"(and -- spangate:partitioned for a large table); otherwise add the WHERE clause you meant", st.DestructiveReason, st.Table, RuleDMLWithoutWhere))
	}
	upd, isUpdate := n.(*ast.Update)
	if st.Partitioned() && isUpdate {
		if col := selfReference(upd); col != "" {
			l.add(f, st, SeverityError, RulePartitionedNotIdm, fmt.Sprintf("Partitioned DML may apply the statement to a row more than once, but SET reads %s, which it also assigns: a second run changes the row again (x = x + 1 adds twice). "+
				"Make it idempotent (SET x = <value> WHERE x <> <value>), or run it as ordinary DML", col))
		}
	}
	if st.Partitioned() || !l.preexisting(st.Table) {
		return
	}
	t := l.model.Table(st.Table)
	if t == nil {
		return
	}
	perRow := 1 + len(l.model.IndexesOn(t.Name))
	switch n := n.(type) {
	case *ast.Update:
		perRow = len(n.Updates) + len(l.model.IndexesOn(t.Name))
		if !fixesKey(n, t) {
			l.warnLarge(f, st, t, perRow)
		}
	case *ast.Delete:
		if !fixesKey(n, t) {
			l.warnLarge(f, st, t, perRow)
		}
	case *ast.Insert:
		cols := len(n.Columns)
		if cols == 0 {
			cols = len(t.Columns)
		}
		perRow = cols + len(l.model.IndexesOn(t.Name))
		switch in := n.Input.(type) {
		case *ast.ValuesInput:
			if rows := len(in.Rows); rows*perRow > MaxMutations {
				l.add(f, st, SeverityWarning, RuleLargeDML, fmt.Sprintf("INSERT of %d rows into %s is about %d mutations (%d a row: columns and index entries); one transaction holds at most %d. Split it into several migrations",
					rows, t.Name, rows*perRow, perRow, MaxMutations))
			}
		default:
			l.warnLarge(f, st, t, perRow)
		}
	}
}

func (l *linter) warnLarge(f *File, st *sqlstmt.Statement, t *schema.Table, perRow int) {
	l.add(f, st, SeverityWarning, RuleLargeDML, fmt.Sprintf("%s on existing table %s is not limited to given primary keys, so it may touch every row: about %d mutations a row (columns and index entries), "+
		"so more than %d rows exceed Spanner's %d mutations in one transaction and the migration fails. For a large table mark it -- spangate:partitioned (it must be idempotent) or bound it by key",
		st.Verb, t.Name, perRow, MaxMutations/max(perRow, 1), MaxMutations))
}

// fixesKey reports whether the WHERE of n fixes every primary key column
// of t to given values (sqlstmt.AnalyzeWhere, the one WHERE key analysis).
func fixesKey(n ast.DML, t *schema.Table) bool {
	return sqlstmt.AnalyzeWhere(n, keyNames(t)).FixesAll()
}

// keyNames returns the primary key columns of t, in key order.
func keyNames(t *schema.Table) []string {
	keys := make([]string, len(t.PrimaryKey))
	for i, k := range t.PrimaryKey {
		keys[i] = k.Column
	}
	return keys
}

// selfReference returns a column that an UPDATE both assigns and reads in
// its SET expressions, or "".
func selfReference(u *ast.Update) string {
	assigned := map[string]string{}
	for _, it := range u.Updates {
		if sv, ok := it.(*ast.UpdateItemSetValue); ok && len(sv.Path) > 0 {
			name := sv.Path[len(sv.Path)-1].Name
			assigned[strings.ToLower(name)] = name
		}
	}
	found := ""
	for _, it := range u.Updates {
		sv, ok := it.(*ast.UpdateItemSetValue)
		if !ok || sv.DefaultExpr == nil || sv.DefaultExpr.Expr == nil {
			continue
		}
		ast.Inspect(sv.DefaultExpr.Expr, func(n ast.Node) bool {
			if found != "" {
				return false
			}
			if id, ok := n.(*ast.Ident); ok {
				if name, ok := assigned[strings.ToLower(id.Name)]; ok {
					found = name
				}
			}
			return true
		})
	}
	return found
}

// EscalateDrift returns findings with every drift warning turned into an
// error that blocks (exit 4), as --fail-on-drift asks; a client applies it
// to the findings a gateway computed.
func EscalateDrift(fs []Finding) []Finding {
	out := make([]Finding, len(fs))
	for i, f := range fs {
		if f.Rule == RuleDrift && f.Severity == SeverityWarning {
			f.Severity, f.Blocks = SeverityError, spangate.Blocked
		}
		out[i] = f
	}
	sortFindings(out)
	return out
}
