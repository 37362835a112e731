package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spangate/spangate"
)

// Change is one statement of a diff.
type Change struct {
	// SQL is the statement, without a semicolon.
	SQL string `json:"sql"`
	// Action is "add", "drop" or "alter".
	Action string `json:"action"`
	// Object names what changes, such as "table Orders", "column
	// Orders.Note" or "index OrdersByNote".
	Object string `json:"object"`
	// Detail says what differs for an alter, such as "STRING(10) →
	// STRING(20)".
	Detail string `json:"detail,omitempty"`
}

// Refusal is a difference Diff will not turn into statements, with why.
type Refusal struct {
	Object string `json:"object"`
	Reason string `json:"reason"`
}

// Result is the outcome of Diff.
type Result struct {
	// Changes are the statements, in the order to run them.
	Changes []Change `json:"changes"`
	// Refused lists the differences that have no safe in-place change.
	Refused []Refusal `json:"refused"`
}

// Statements returns the SQL of the changes.
func (r *Result) Statements() []string {
	out := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		out[i] = c.SQL
	}
	return out
}

// Err returns nil when nothing was refused, else an error of kind Invalid
// that lists every refusal.
func (r *Result) Err() error {
	if len(r.Refused) == 0 {
		return nil
	}
	lines := make([]string, len(r.Refused))
	for i, rf := range r.Refused {
		lines[i] = "  " + rf.Object + ": " + rf.Reason
	}
	return spangate.Errorf(spangate.Invalid, "%d change(s) cannot be made in place by Spanner:\n%s", len(r.Refused), strings.Join(lines, "\n")).
		WithHint("spangate never drops and recreates a table or column to make such a change, because that loses its data; " +
			"create the new shape under a new name, copy the data with DML, switch readers, then drop the old one in a later migration")
}

// differ accumulates the two phases of a diff: removals (dependents
// first) and additions (prerequisites first).
type differ struct {
	a, b    *Schema
	drops   []Change
	adds    []Change
	late    []Change // foreign keys, indexes, views… after the tables
	refused []Refusal
}

func (d *differ) drop(sql, object string) {
	d.drops = append(d.drops, Change{SQL: sql, Action: "drop", Object: object})
}

func (d *differ) refuse(object, format string, args ...any) {
	d.refused = append(d.refused, Refusal{Object: object, Reason: fmt.Sprintf(format, args...)})
}

// Diff returns the statements that turn schema a into schema b, in a safe
// order: grants, change streams, views, indexes, constraints, columns and
// tables that go away are dropped first, dependents before what they
// depend on (children before parents); then sequences, roles, new tables
// (parents first), new and changed columns, constraints (foreign keys after
// the tables they reference), indexes, views, change streams and grants
// are created.
//
// Differences that Spanner cannot make in place — a primary key, an
// interleave parent, a column type change other than a length or
// STRING/BYTES change, a NOT NULL column added to an existing table without
// a DEFAULT, an anonymous constraint that must be dropped — are listed in
// Result.Refused (see Result.Err), never turned into a drop and a
// recreate. Drops of tables, columns and indexes are emitted as they are:
// the migration plan's lint flags them.
func Diff(a, b *Schema) *Result {
	d := &differ{a: a, b: b}
	d.run()
	r := &Result{Changes: make([]Change, 0, len(d.drops)+len(d.adds)+len(d.late)), Refused: d.refused}
	r.Changes = append(r.Changes, d.drops...)
	r.Changes = append(r.Changes, d.adds...)
	r.Changes = append(r.Changes, d.late...)
	if r.Refused == nil {
		r.Refused = []Refusal{}
	}
	return r
}

func (d *differ) run() {
	a, b := d.a, d.b
	droppedTables := map[string]bool{}
	for k := range a.tables {
		if b.tables[k] == nil {
			droppedTables[k] = true
		}
	}
	// Tables present in both whose shape cannot change in place.
	for _, ta := range a.orderedTables() {
		tb := b.tables[key(ta.Name)]
		if tb != nil {
			d.checkTable(ta, tb)
		}
	}

	// Phase 1: removals, dependents first.
	for _, g := range a.Grants() {
		if _, ok := b.grants[key(g)]; !ok {
			d.drop("REVOKE"+strings.TrimPrefix(strings.Replace(g, " TO ROLE ", " FROM ROLE ", 1), "GRANT"), "grant "+g)
		}
	}
	for _, cs := range a.ChangeStreams() {
		nb := b.streams[key(cs.Name)]
		switch {
		case nb == nil:
			d.drop("DROP CHANGE STREAM "+quote(cs.Name), "change stream "+cs.Name)
		case nb.For != cs.For && !d.streamNeedsNewTables(nb):
			d.drops = append(d.drops, d.alterStream(cs, nb, true, false)...)
		}
	}
	// Views to drop: gone from b, or reading something that goes away
	// (they are created again in phase 2).
	goneViews := map[string]bool{}
	av := a.orderedViews()
	for _, v := range av {
		if b.views[key(v.Name)] == nil {
			goneViews[key(v.Name)] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, v := range av {
			if goneViews[key(v.Name)] {
				continue
			}
			for _, r := range v.Refs {
				if droppedTables[r] || goneViews[r] {
					goneViews[key(v.Name)] = true
					changed = true
					break
				}
			}
		}
	}
	for i := len(av) - 1; i >= 0; i-- {
		if goneViews[key(av[i].Name)] {
			d.drop("DROP VIEW "+quote(av[i].Name), "view "+av[i].Name)
		}
	}
	for _, o := range a.others {
		if !o.early() && !containsOther(b, o) {
			d.dropOther(o)
		}
	}
	// Spanner refuses to change NOT NULL of an indexed column: such
	// indexes are dropped and created again around the change.
	recreated := map[string]bool{}
	for _, ix := range a.Indexes() {
		ta, tb := a.tables[key(ix.Table)], b.tables[key(ix.Table)]
		if ta == nil || tb == nil {
			continue
		}
		for _, c := range ta.Columns {
			if cb := tb.Column(c.Name); cb != nil && cb.NotNull != c.NotNull && ix.uses(c.Name) {
				recreated[key(ix.Name)] = true
			}
		}
	}
	for _, ix := range a.Indexes() {
		nb := b.indexes[key(ix.Name)]
		switch {
		case nb != nil && recreated[key(ix.Name)]:
			d.drops = append(d.drops, Change{SQL: "DROP INDEX " + quote(ix.Name), Action: "drop", Object: "index " + ix.Name,
				Detail: "recreated around a NOT NULL change of a column it uses"})
		case nb == nil:
			d.drop("DROP INDEX "+quote(ix.Name), "index "+ix.Name)
		case !sameIndexShape(ix, nb):
			d.drops = append(d.drops, Change{SQL: "DROP INDEX " + quote(ix.Name), Action: "drop", Object: "index " + ix.Name,
				Detail: "recreated with a new definition"})
			recreated[key(ix.Name)] = true
		default:
			for _, c := range ix.Storing {
				if !containsFold(nb.Storing, c) {
					d.drops = append(d.drops, Change{SQL: "ALTER INDEX " + quote(ix.Name) + " DROP STORED COLUMN " + quote(c),
						Action: "alter", Object: "index " + ix.Name, Detail: "stops storing " + c})
				}
			}
		}
	}
	for _, ta := range a.orderedTables() {
		tb := b.tables[key(ta.Name)]
		if tb == nil {
			continue
		}
		for _, fk := range ta.ForeignKeys {
			if findFK(tb, fk) == nil {
				d.dropConstraint(ta, fk.Name, "foreign key", fk.SQL())
			}
		}
		for _, ck := range ta.Checks {
			if findCheck(tb, ck) == nil {
				d.dropConstraint(ta, ck.Name, "check constraint", ck.SQL())
			}
		}
		if ta.RowDeletionPolicy != nil && tb.RowDeletionPolicy == nil {
			d.drop("ALTER TABLE "+quote(ta.Name)+" DROP ROW DELETION POLICY", "row deletion policy of "+ta.Name)
		}
		// Generated columns first: they may read the others.
		var gone []*Column
		for _, c := range ta.Columns {
			cb := tb.Column(c.Name)
			if cb == nil || (c.Generated != "" && (cb.Generated != c.Generated || cb.Stored != c.Stored || cb.Type != c.Type)) && cb.Generated != "" {
				gone = append(gone, c)
			}
		}
		slices.SortStableFunc(gone, func(x, y *Column) int {
			if (x.Generated != "") == (y.Generated != "") {
				return 0
			}
			if x.Generated != "" {
				return -1
			}
			return 1
		})
		for _, c := range gone {
			d.drop("ALTER TABLE "+quote(ta.Name)+" DROP COLUMN "+quote(c.Name), "column "+ta.Name+"."+c.Name)
		}
		for _, syn := range ta.Synonyms {
			if !containsFold(tb.Synonyms, syn) {
				d.drop("ALTER TABLE "+quote(ta.Name)+" DROP SYNONYM "+quote(syn), "synonym "+syn+" of "+ta.Name)
			}
		}
	}
	at := a.orderedTables()
	for i := len(at) - 1; i >= 0; i-- {
		if droppedTables[key(at[i].Name)] {
			d.drop("DROP TABLE "+quote(at[i].Name), "table "+at[i].Name)
		}
	}
	for _, q := range a.Sequences() {
		if b.sequences[key(q.Name)] == nil {
			d.drop("DROP SEQUENCE "+quote(q.Name), "sequence "+q.Name)
		}
	}
	for _, r := range a.Roles() {
		if _, ok := b.roles[key(r)]; !ok {
			d.drop("DROP ROLE "+quote(r), "role "+r)
		}
	}
	for _, o := range a.others {
		if o.early() && !containsOther(b, o) {
			d.dropOther(o)
		}
	}

	// Phase 2: additions, prerequisites first.
	d.databaseOptions()
	for _, o := range b.others {
		if o.early() && !containsOther(a, o) {
			d.addOther(o)
		}
	}
	for _, q := range b.Sequences() {
		qa := a.sequences[key(q.Name)]
		switch {
		case qa == nil:
			d.add(q.SQL(), "add", "sequence "+q.Name, "")
		case qa.Params != q.Params:
			d.refuse("sequence "+q.Name, "its clauses changed (%q → %q); change them with ALTER SEQUENCE by hand", qa.Params, q.Params)
		case !qa.Options.equal(q.Options):
			d.add("ALTER SEQUENCE "+quote(q.Name)+" SET "+optionsDelta(qa.Options, q.Options).sql(), "alter", "sequence "+q.Name, "options")
		}
	}
	for _, r := range b.Roles() {
		if _, ok := a.roles[key(r)]; !ok {
			d.add("CREATE ROLE "+quote(r), "add", "role "+r, "")
		}
	}
	exists := map[string]bool{}
	for k := range a.tables {
		if !droppedTables[k] {
			exists[k] = true
		}
	}
	for _, tb := range b.orderedTables() {
		ta := a.tables[key(tb.Name)]
		if ta != nil {
			d.alterTable(ta, tb)
			continue
		}
		exists[key(tb.Name)] = true
		d.add(tb.createSQL(func(fk *ForeignKey) bool { return exists[key(fk.RefTable)] }), "add", "table "+tb.Name, "")
		for _, fk := range tb.ForeignKeys {
			if !exists[key(fk.RefTable)] {
				d.late = append(d.late, Change{SQL: "ALTER TABLE " + quote(tb.Name) + " ADD " + fk.SQL(), Action: "add",
					Object: "foreign key " + orAnonymous(fk.Name) + " of " + tb.Name})
			}
		}
	}
	// Constraints on existing tables, after every table exists.
	for _, tb := range b.orderedTables() {
		ta := a.tables[key(tb.Name)]
		if ta == nil {
			continue
		}
		for _, ck := range tb.Checks {
			if findCheck(ta, ck) == nil {
				d.late = append(d.late, Change{SQL: "ALTER TABLE " + quote(tb.Name) + " ADD " + ck.SQL(), Action: "add",
					Object: "check constraint " + orAnonymous(ck.Name) + " of " + tb.Name})
			}
		}
		for _, fk := range tb.ForeignKeys {
			if findFK(ta, fk) == nil {
				d.late = append(d.late, Change{SQL: "ALTER TABLE " + quote(tb.Name) + " ADD " + fk.SQL(), Action: "add",
					Object: "foreign key " + orAnonymous(fk.Name) + " of " + tb.Name})
			}
		}
	}
	for _, tb := range b.orderedTables() {
		for _, ix := range b.IndexesOn(tb.Name) {
			ia := a.indexes[key(ix.Name)]
			switch {
			case ia == nil || recreated[key(ix.Name)]:
				d.late = append(d.late, Change{SQL: ix.SQL(), Action: "add", Object: "index " + ix.Name})
			default:
				for _, c := range ix.Storing {
					if !containsFold(ia.Storing, c) {
						d.late = append(d.late, Change{SQL: "ALTER INDEX " + quote(ix.Name) + " ADD STORED COLUMN " + quote(c),
							Action: "alter", Object: "index " + ix.Name, Detail: "stores " + c})
					}
				}
			}
		}
	}
	for _, o := range b.others {
		if !o.early() && !containsOther(a, o) {
			d.addOther(o)
		}
	}
	for _, v := range b.orderedViews() {
		va := a.views[key(v.Name)]
		switch {
		case va == nil || goneViews[key(v.Name)]:
			d.late = append(d.late, Change{SQL: v.SQL(), Action: "add", Object: "view " + v.Name})
		case va.Query != v.Query || va.Security != v.Security:
			d.late = append(d.late, Change{SQL: v.sql("CREATE OR REPLACE VIEW "), Action: "alter", Object: "view " + v.Name, Detail: "query"})
		}
	}
	for _, cs := range b.ChangeStreams() {
		ca := a.streams[key(cs.Name)]
		switch {
		case ca == nil:
			d.late = append(d.late, Change{SQL: cs.SQL(), Action: "add", Object: "change stream " + cs.Name})
		default:
			d.late = append(d.late, d.alterStream(ca, cs, d.streamNeedsNewTables(cs), true)...)
		}
	}
	for _, g := range b.Grants() {
		if _, ok := a.grants[key(g)]; !ok {
			d.late = append(d.late, Change{SQL: g, Action: "add", Object: "grant " + g})
		}
	}
}

func (d *differ) add(sql, action, object, detail string) {
	d.adds = append(d.adds, Change{SQL: sql, Action: action, Object: object, Detail: detail})
}

// checkTable refuses the differences of a table that Spanner cannot make
// in place.
func (d *differ) checkTable(ta, tb *Table) {
	obj := "table " + tb.Name
	if keyList(ta.PrimaryKey) != keyList(tb.PrimaryKey) && !strings.EqualFold(keyList(ta.PrimaryKey), keyList(tb.PrimaryKey)) {
		d.refuse(obj, "primary key changes from (%s) to (%s); Spanner cannot change a primary key", keyList(ta.PrimaryKey), keyList(tb.PrimaryKey))
	} else {
		for _, k := range tb.PrimaryKey {
			ca, cb := ta.Column(k.Column), tb.Column(k.Column)
			if ca != nil && cb != nil && (ca.Type != cb.Type || ca.NotNull != cb.NotNull) {
				d.refuse("column "+tb.Name+"."+cb.Name, "key column changes from %s to %s; Spanner cannot alter a key column", columnShape(ca), columnShape(cb))
			}
		}
	}
	if !strings.EqualFold(ta.Parent, tb.Parent) {
		switch {
		case ta.Parent == "":
			d.refuse(obj, "would become interleaved in %s; Spanner cannot interleave an existing table", tb.Parent)
		case tb.Parent == "":
			d.refuse(obj, "would stop being interleaved in %s; Spanner cannot move an existing table out of its parent", ta.Parent)
		default:
			d.refuse(obj, "interleave parent changes from %s to %s; Spanner cannot change a table's parent", ta.Parent, tb.Parent)
		}
	}
	for _, cb := range tb.Columns {
		ca := ta.Column(cb.Name)
		if ca == nil || tb.IsKey(cb.Name) {
			continue
		}
		cobj := "column " + tb.Name + "." + cb.Name
		switch {
		case (ca.Generated == "") != (cb.Generated == ""):
			d.refuse(cobj, "changes between a generated and a stored-data column (%s → %s); add a new column instead", columnShape(ca), columnShape(cb))
		case ca.Generated == "" && ca.Type != cb.Type && !Convertible(ca.Type, cb.Type):
			d.refuse(cobj, "type changes from %s to %s; Spanner can only change a length or STRING ↔ BYTES in place (dropping and re-adding the column would lose its data)", ca.Type, cb.Type)
		case ca.Identity != cb.Identity:
			d.refuse(cobj, "identity clause changes (%q → %q); change it with ALTER COLUMN … ALTER IDENTITY by hand", ca.Identity, cb.Identity)
		case ca.Hidden != cb.Hidden:
			d.refuse(cobj, "HIDDEN changes; make that change by hand")
		}
	}
	for _, cb := range tb.Columns {
		if ta.Column(cb.Name) == nil && cb.NotNull && cb.Default == "" && cb.Generated == "" && cb.Identity == "" {
			d.refuse("column "+tb.Name+"."+cb.Name, "is a new NOT NULL column without a DEFAULT on an existing table, which Spanner refuses; "+
				"add it nullable (or with a DEFAULT), backfill it, then make it NOT NULL in a later migration")
		}
	}
}

func columnShape(c *Column) string {
	s := c.Type.String()
	if c.NotNull {
		s += " NOT NULL"
	}
	if c.Generated != "" {
		s += " AS (" + c.Generated + ")"
	}
	return s
}

// alterTable emits the in-place changes of a table present in a and b.
func (d *differ) alterTable(ta, tb *Table) {
	t := quote(tb.Name)
	if strings.EqualFold(ta.Parent, tb.Parent) && tb.Parent != "" {
		if ta.InParent != tb.InParent {
			sql := "ALTER TABLE " + t + " SET " + tb.interleaveSQL()
			d.add(sql, "alter", "table "+tb.Name, "interleaving")
		} else if ta.OnDelete != tb.OnDelete {
			d.add("ALTER TABLE "+t+" SET ON DELETE "+tb.OnDelete, "alter", "table "+tb.Name, "ON DELETE "+ta.OnDelete+" → "+tb.OnDelete)
		}
	}
	for _, cb := range tb.Columns {
		ca := ta.Column(cb.Name)
		regenerated := ca != nil && ca.Generated != "" && cb.Generated != "" && (ca.Generated != cb.Generated || ca.Stored != cb.Stored || ca.Type != cb.Type)
		if ca == nil || regenerated {
			d.add("ALTER TABLE "+t+" ADD COLUMN "+cb.SQL(), "add", "column "+tb.Name+"."+cb.Name, "")
			continue
		}
		if tb.IsKey(cb.Name) || ca.Generated != "" || cb.Generated != "" {
			continue
		}
		obj := "column " + tb.Name + "." + cb.Name
		col := t + " ALTER COLUMN " + quote(cb.Name)
		typeChanged := ca.Type != cb.Type || ca.NotNull != cb.NotNull
		if typeChanged && Convertible(ca.Type, cb.Type) {
			sql := "ALTER TABLE " + col + " " + cb.Type.String()
			if cb.NotNull {
				sql += " NOT NULL"
			}
			if cb.Default != "" {
				sql += " DEFAULT (" + cb.Default + ")"
			}
			d.add(sql, "alter", obj, columnShape(ca)+" → "+columnShape(cb))
		}
		if (!typeChanged || cb.Default == "") && ca.Default != cb.Default {
			if cb.Default == "" {
				if !typeChanged {
					d.add("ALTER TABLE "+col+" DROP DEFAULT", "alter", obj, "drops its default")
				}
			} else {
				d.add("ALTER TABLE "+col+" SET DEFAULT ("+cb.Default+")", "alter", obj, "default")
			}
		}
		if ca.OnUpdate != cb.OnUpdate {
			if cb.OnUpdate == "" {
				d.add("ALTER TABLE "+col+" DROP ON UPDATE", "alter", obj, "drops ON UPDATE")
			} else {
				d.add("ALTER TABLE "+col+" SET ON UPDATE ("+cb.OnUpdate+")", "alter", obj, "ON UPDATE")
			}
		}
		if !ca.Options.equal(cb.Options) {
			d.add("ALTER TABLE "+col+" SET "+optionsDelta(ca.Options, cb.Options).sql(), "alter", obj, "options")
		}
	}
	if !ta.Options.equal(tb.Options) {
		d.add("ALTER TABLE "+t+" SET "+optionsDelta(ta.Options, tb.Options).sql(), "alter", "table "+tb.Name, "options")
	}
	switch {
	case tb.RowDeletionPolicy == nil:
	case ta.RowDeletionPolicy == nil:
		d.add("ALTER TABLE "+t+" ADD "+tb.RowDeletionPolicy.sql(), "add", "row deletion policy of "+tb.Name, "")
	case *ta.RowDeletionPolicy != *tb.RowDeletionPolicy:
		d.add("ALTER TABLE "+t+" REPLACE "+tb.RowDeletionPolicy.sql(), "alter", "row deletion policy of "+tb.Name, "")
	}
	for _, syn := range tb.Synonyms {
		if !containsFold(ta.Synonyms, syn) {
			d.add("ALTER TABLE "+t+" ADD SYNONYM "+quote(syn), "add", "synonym "+syn+" of "+tb.Name, "")
		}
	}
}

// optionsDelta returns the options to SET to turn from into to: changed
// and new ones, and removed ones set to NULL.
func optionsDelta(from, to Options) Options {
	var out Options
	for _, o := range to {
		if v, ok := from.Get(o.Name); !ok || v != o.Value {
			out = append(out, o)
		}
	}
	for _, o := range from {
		if _, ok := to.Get(o.Name); !ok {
			out = append(out, Option{Name: o.Name, Value: "NULL"})
		}
	}
	return out
}

func (d *differ) databaseOptions() {
	a, b := d.a, d.b
	if a.DatabaseOptions.equal(b.DatabaseOptions) {
		return
	}
	name := a.DatabaseName
	if name == "" {
		name = b.DatabaseName
	}
	if name == "" {
		d.refuse("database options", "differ, but neither side names the database for ALTER DATABASE")
		return
	}
	d.add("ALTER DATABASE "+quote(name)+" SET "+optionsDelta(a.DatabaseOptions, b.DatabaseOptions).sql(), "alter", "database "+name, "options")
}

func (d *differ) dropConstraint(t *Table, name, what, sql string) {
	if name == "" {
		d.refuse(what+" of "+t.Name, "%s is anonymous: Spanner gave it a generated name that the schema does not show, so it cannot be dropped by name here. "+
			"Look the name up in INFORMATION_SCHEMA.TABLE_CONSTRAINTS and drop it with ALTER TABLE %s DROP CONSTRAINT <name>; name constraints from now on", sql, quote(t.Name))
		return
	}
	d.drop("ALTER TABLE "+quote(t.Name)+" DROP CONSTRAINT "+quote(name), what+" "+name+" of "+t.Name)
}

func (d *differ) streamNeedsNewTables(cs *ChangeStream) bool {
	for _, t := range cs.Tables {
		if d.a.tables[t] == nil {
			return true
		}
	}
	return false
}

// alterStream returns the statements that change the FOR clause (doFor)
// and the options (doOptions) of change stream from into those of to.
func (d *differ) alterStream(from, to *ChangeStream, doFor, doOptions bool) []Change {
	var out []Change
	name := quote(to.Name)
	obj := "change stream " + to.Name
	if doFor && from.For != to.For {
		if to.For == "" {
			out = append(out, Change{SQL: "ALTER CHANGE STREAM " + name + " DROP FOR ALL", Action: "alter", Object: obj, Detail: "tracks nothing"})
		} else {
			out = append(out, Change{SQL: "ALTER CHANGE STREAM " + name + " SET " + to.For, Action: "alter", Object: obj, Detail: to.For})
		}
	}
	if doOptions && !from.Options.equal(to.Options) {
		out = append(out, Change{SQL: "ALTER CHANGE STREAM " + name + " SET " + optionsDelta(from.Options, to.Options).sql(), Action: "alter", Object: obj, Detail: "options"})
	}
	return out
}

func containsOther(s *Schema, o *Other) bool {
	for _, x := range s.others {
		if x.SQL == o.SQL {
			return true
		}
	}
	return false
}

func (d *differ) dropOther(o *Other) {
	fam := otherFamily(o.Kind)
	if !strings.HasPrefix(o.Kind, "CREATE") || o.Kind == "UNPARSED" {
		d.refuse(strings.ToLower(fam)+" "+o.Name, "the statement %q is not in the target and cannot be undone automatically; undo it by hand", o.SQL)
		return
	}
	// A changed object of the same name is dropped here and created
	// again in phase 2.
	stmt := "DROP " + fam
	if o.Name != "" && fam != "PROTO BUNDLE" {
		stmt += " " + quote(o.Name)
	}
	d.drop(stmt, strings.ToLower(fam)+" "+o.Name)
}

func (d *differ) addOther(o *Other) {
	c := Change{SQL: o.SQL, Action: "add", Object: strings.ToLower(otherFamily(o.Kind)) + " " + o.Name}
	if !o.early() {
		d.late = append(d.late, c)
		return
	}
	d.adds = append(d.adds, c)
}

func sameIndexShape(x, y *Index) bool {
	return strings.EqualFold(x.Table, y.Table) && x.Unique == y.Unique && x.NullFiltered == y.NullFiltered &&
		strings.EqualFold(keyList(x.Keys), keyList(y.Keys)) && strings.EqualFold(x.Interleave, y.Interleave) &&
		x.Where == y.Where && x.Options.equal(y.Options)
}

// findFK finds fk in t: by name, or by definition for an anonymous one.
func findFK(t *Table, fk *ForeignKey) *ForeignKey {
	for _, x := range t.ForeignKeys {
		if strings.EqualFold(x.Name, fk.Name) && strings.EqualFold(x.SQL(), fk.SQL()) {
			return x
		}
	}
	return nil
}

func findCheck(t *Table, ck *Check) *Check {
	for _, x := range t.Checks {
		if strings.EqualFold(x.Name, ck.Name) && x.Expr == ck.Expr {
			return x
		}
	}
	return nil
}

// Equal reports whether two schemas hold the same objects.
func Equal(a, b *Schema) bool {
	r := Diff(a, b)
	return len(r.Changes) == 0 && len(r.Refused) == 0
}

// Summary names what changes between two schemas, for a plan.
type Summary struct {
	TablesAdded    []string `json:"tables_added"`
	TablesChanged  []string `json:"tables_changed"`
	TablesDropped  []string `json:"tables_dropped"`
	IndexesAdded   []string `json:"indexes_added"`
	IndexesChanged []string `json:"indexes_changed"`
	IndexesDropped []string `json:"indexes_dropped"`
	// Other names other objects that change: views, change streams,
	// sequences, roles, grants…
	Other []string `json:"other"`
}

// Empty reports whether nothing changes.
func (s *Summary) Empty() bool {
	return len(s.TablesAdded)+len(s.TablesChanged)+len(s.TablesDropped)+len(s.IndexesAdded)+
		len(s.IndexesChanged)+len(s.IndexesDropped)+len(s.Other) == 0
}

// Summarize names the tables and indexes added, changed and dropped from
// before to after, and the other objects that change.
func Summarize(before, after *Schema) Summary {
	s := Summary{TablesAdded: []string{}, TablesChanged: []string{}, TablesDropped: []string{},
		IndexesAdded: []string{}, IndexesChanged: []string{}, IndexesDropped: []string{}, Other: []string{}}
	for _, t := range after.orderedTables() {
		old := before.tables[key(t.Name)]
		switch {
		case old == nil:
			s.TablesAdded = append(s.TablesAdded, t.Name)
		case old.CreateSQL() != t.CreateSQL():
			s.TablesChanged = append(s.TablesChanged, t.Name)
		}
	}
	for _, t := range before.orderedTables() {
		if after.tables[key(t.Name)] == nil {
			s.TablesDropped = append(s.TablesDropped, t.Name)
		}
	}
	for _, ix := range after.Indexes() {
		old := before.indexes[key(ix.Name)]
		switch {
		case old == nil:
			s.IndexesAdded = append(s.IndexesAdded, ix.Name)
		case old.SQL() != ix.SQL():
			s.IndexesChanged = append(s.IndexesChanged, ix.Name)
		}
	}
	for _, ix := range before.Indexes() {
		if after.indexes[key(ix.Name)] == nil {
			s.IndexesDropped = append(s.IndexesDropped, ix.Name)
		}
	}
	seen := map[string]bool{}
	for _, c := range Diff(before.withoutTablesAndIndexes(), after.withoutTablesAndIndexes()).Changes {
		if !seen[c.Object] {
			seen[c.Object] = true
			s.Other = append(s.Other, c.Object+" ("+c.Action+")")
		}
	}
	return s
}

// withoutTablesAndIndexes returns a shallow copy of s without tables and
// indexes, for summarising the other objects.
func (s *Schema) withoutTablesAndIndexes() *Schema {
	c := *s
	c.tables = map[string]*Table{}
	c.indexes = map[string]*Index{}
	return &c
}
