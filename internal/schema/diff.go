package schema

import (
	"fmt"
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
	// Rules are the plan lint rules that block the statement until it
	// carries -- spangate:allow <rule>: drop-table, drop-column,
	// drop-index, lossy-type-change.
	Rules []string `json:"rules,omitempty"`
	// Lost says what a drop loses, for review.
	Lost string `json:"lost,omitempty"`
	// Warning says what the statement does that a reviewer must know,
	// such as the default a new NOT NULL column is filled with.
	Warning string `json:"warning,omitempty"`
	// Removal is true for a drop of something the target does not have
	// (not one dropped to be created again).
	Removal bool `json:"removal,omitempty"`

	// drops, creates and acquires are the step's ids (see order), for
	// WithoutRemovals.
	drops, creates, acquires []string
}

// IsDrop reports whether the change removes something: a drop, a
// revoke, or a column or type deleted from its container.
func (c *Change) IsDrop() bool { return c.Action == "drop" }

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

// WithoutRemovals returns the changes without the removals (drops of what
// the target does not have) and without what cannot run without them: a
// create that reuses a removed name, and what needs such a create. The
// second list holds what was left out, in order.
func (r *Result) WithoutRemovals() (kept, omitted []Change) {
	gone := map[string]bool{}
	for _, c := range r.Changes {
		skip := c.Removal
		for _, id := range append(append([]string(nil), c.creates...), c.acquires...) {
			if gone[id] {
				skip = true
			}
		}
		if !skip {
			kept = append(kept, c)
			continue
		}
		omitted = append(omitted, c)
		for _, id := range append(append([]string(nil), c.drops...), c.creates...) {
			gone[id] = true
		}
	}
	return kept, omitted
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

// differ builds the steps of a diff and orders them by the dependency
// graphs of both schemas (see order).
type differ struct {
	a, b    *Schema
	da, db  map[string][]string
	steps   []*step
	refused []Refusal
	// gone holds the ids of a that are dropped: removed from b, or
	// rebuilt (dropped and created again).
	gone map[string]bool
	// rebuilt holds the ids in both schemas that are dropped and created
	// again, and reasons why.
	rebuilt map[string]bool
	reasons map[string]string
}

// Ranks order the steps that are ready at the same time; dependencies
// come first whatever the rank (see order).
const (
	rankRevoke = iota
	rankStreamFor
	rankDropView
	rankDropOther
	rankDropIndex
	rankDropConstraint
	rankDropRDP
	rankDropColumn
	rankDropSynonym
	rankDropTable
	rankDropSequence
	rankDropRole
	rankDropEarly
	rankDatabase = 20 + iota
	rankEarly
	rankSequence
	rankRole
	rankTable
	rankConstraint
	rankIndex
	rankOther
	rankView
	rankStream
	rankGrant
)

func (d *differ) refuse(object, format string, args ...any) {
	d.refused = append(d.refused, Refusal{Object: object, Reason: fmt.Sprintf(format, args...)})
}

func (d *differ) emit(rank int, c Change) *step {
	st := &step{Change: c, rank: rank, seq: len(d.steps)}
	d.steps = append(d.steps, st)
	return st
}

func depsOf(g map[string][]string, ids []string) []string {
	var out []string
	for _, id := range ids {
		for _, dep := range g[id] {
			if !contains(ids, dep) && !contains(out, dep) {
				out = append(out, dep)
			}
		}
	}
	return out
}

func minus(x, y []string) []string {
	var out []string
	for _, s := range x {
		if !contains(y, s) {
			out = append(out, s)
		}
	}
	return out
}

// dropStep removes ids: it comes after every step that stops needing
// them.
func (d *differ) dropStep(rank int, c Change, ids ...string) *step {
	c.Action = "drop"
	st := d.emit(rank, c)
	st.drops, st.releases = ids, depsOf(d.da, ids)
	return st
}

// createStep adds ids: it comes after what they need.
func (d *differ) createStep(rank int, c Change, ids ...string) *step {
	if c.Action == "" {
		c.Action = "add"
	}
	st := d.emit(rank, c)
	st.creates, st.acquires = ids, depsOf(d.db, ids)
	return st
}

// alterStep changes id: it releases the dependencies id has only in a
// and acquires those it has only in b.
func (d *differ) alterStep(rank int, c Change, id string) *step {
	c.Action = "alter"
	st := d.emit(rank, c)
	st.alters = []string{id}
	st.releases, st.acquires = minus(d.da[id], d.db[id]), minus(d.db[id], d.da[id])
	return st
}

// chain makes the steps run in the order given.
func chain(steps ...*step) {
	for i := 1; i < len(steps); i++ {
		steps[i].after = append(steps[i].after, steps[i-1].seq)
	}
}

// Diff returns the statements that turn schema a into schema b, ordered
// by one dependency graph of both schemas' objects (tables, columns,
// constraints, indexes, views, change streams, sequences, roles, grants,
// proto bundle types, locality groups, named schemas and the other
// objects): a drop comes after every statement that stops depending on
// what it drops, across tables; a create or an alter that needs an object
// comes after the statement that creates or changes it. Objects that
// depend on something dropped and created again (an index on a
// recomputed generated column, a foreign key around a type change, a view
// around a change of the type it reads, an index around a NOT NULL
// change of its key) are dropped and created again around it.
//
// Differences that Spanner cannot make in place — a primary key, an
// interleave parent, most column type changes, HIDDEN on a column that
// holds data, an anonymous constraint that must be dropped — are listed in
// Result.Refused (see Result.Err), never turned into a drop and a
// recreate of data. Drops of tables, columns and indexes are emitted with
// the lint rules that block them in a plan (Change.Rules).
func Diff(a, b *Schema) *Result {
	d := &differ{a: a, b: b, da: a.dependencies(), db: b.dependencies(), gone: map[string]bool{}, rebuilt: map[string]bool{}}
	d.run()
	ordered := order(d.steps)
	created := map[string]bool{}
	for _, st := range ordered {
		for _, id := range st.creates {
			created[id] = true
		}
	}
	r := &Result{Changes: make([]Change, len(ordered)), Refused: d.refused}
	for i, st := range ordered {
		c := st.Change
		c.drops, c.creates, c.acquires = st.drops, st.creates, st.acquires
		for _, id := range st.drops {
			if !created[id] && !strings.HasPrefix(id, "n:") {
				c.Removal = true
			}
		}
		r.Changes[i] = c
	}
	if r.Refused == nil {
		r.Refused = []Refusal{}
	}
	return r
}

// columnChanged reports whether a kept column changes its type's kind
// (not only a length) or its NOT NULL.
type columnChange struct{ base, null bool }

func (d *differ) run() {
	a, b := d.a, d.b
	for _, ta := range a.orderedTables() {
		if tb := b.tables[key(ta.Name)]; tb != nil {
			d.checkTable(ta, tb)
		}
	}
	d.findGone()

	// Removals.
	for _, g := range a.Grants() {
		if _, ok := b.grants[key(g)]; !ok {
			d.dropStep(rankRevoke, Change{SQL: "REVOKE" + strings.TrimPrefix(strings.Replace(g, " TO ROLE ", " FROM ROLE ", 1), "GRANT"), Object: "grant " + g}, grantID(g))
		}
	}
	for _, cs := range a.ChangeStreams() {
		if d.gone[streamID(cs.Name)] {
			d.dropStep(rankStreamFor, Change{SQL: "DROP CHANGE STREAM " + quote(cs.Name), Object: "change stream " + cs.Name,
				Lost: "change stream " + cs.Name + " and the change records it keeps"}, streamID(cs.Name), nameID(cs.Name))
		}
	}
	for _, v := range a.orderedViews() {
		if d.gone[viewID(v.Name)] {
			c := Change{SQL: "DROP VIEW " + quote(v.Name), Object: "view " + v.Name, Lost: "view " + v.Name + " (queries that read it fail)"}
			if d.rebuilt[viewID(v.Name)] {
				c.Detail, c.Lost = "created again below", ""
			}
			d.dropStep(rankDropView, c, viewID(v.Name), nameID(v.Name))
		}
	}
	for _, o := range a.others {
		if !o.early() && !containsOther(b, o) {
			d.dropOther(o)
		}
	}
	for _, ix := range a.Indexes() {
		id := indexID(ix.Name)
		nb := b.indexes[key(ix.Name)]
		switch {
		case d.gone[id]:
			c := Change{SQL: ix.dropSQL(), Object: "index " + ix.Name, Rules: []string{"drop-index"},
				Lost: "index " + ix.Name + " (queries that use it slow down or fail with FORCE_INDEX; creating it again means a backfill)"}
			if d.rebuilt[id] {
				c.Detail = "created again below: " + d.rebuildReason(id)
				c.Lost = "index " + ix.Name + " until it is created again below (a backfill)"
			}
			d.dropStep(rankDropIndex, c, id, nameID(ix.Name))
		default:
			for _, col := range ix.Storing {
				if !containsFold(nb.Storing, col) {
					d.alterStep(rankDropIndex, Change{SQL: ix.alterVerb() + quote(ix.Name) + " DROP STORED COLUMN " + quote(col),
						Object: "index " + ix.Name, Detail: "stops storing " + col}, id)
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
			if d.gone[fkID(ta, fk)] {
				d.dropConstraint(ta, fk.Name, fkID(ta, fk), "foreign key", fk.SQL())
			}
		}
		for _, ck := range ta.Checks {
			if d.gone[checkID(ta, ck)] {
				d.dropConstraint(ta, ck.Name, checkID(ta, ck), "check constraint", ck.SQL())
			}
		}
		if ta.RowDeletionPolicy != nil && tb.RowDeletionPolicy == nil {
			d.dropStep(rankDropRDP, Change{SQL: "ALTER TABLE " + quote(ta.Name) + " DROP ROW DELETION POLICY", Object: "row deletion policy of " + ta.Name,
				Lost: "the row deletion policy of " + ta.Name + " (old rows stop being deleted)"}, rdpID(ta.Name))
		}
		for _, c := range ta.Columns {
			id := columnID(ta.Name, c.Name)
			if !d.gone[id] {
				continue
			}
			ch := Change{SQL: "ALTER TABLE " + quote(ta.Name) + " DROP COLUMN " + quote(c.Name), Object: "column " + ta.Name + "." + c.Name,
				Rules: []string{"drop-column"}, Lost: "column " + ta.Name + "." + c.Name + " and its data"}
			if d.rebuilt[id] {
				ch.Detail, ch.Lost = "generated column added again below: "+d.rebuildReason(id), "nothing: generated column "+ta.Name+"."+c.Name+" is computed again from the columns it reads"
			}
			d.dropStep(rankDropColumn, ch, id)
		}
		for _, syn := range ta.Synonyms {
			if !containsFold(tb.Synonyms, syn) {
				d.alterStep(rankDropSynonym, Change{SQL: "ALTER TABLE " + quote(ta.Name) + " DROP SYNONYM " + quote(syn), Object: "synonym " + syn + " of " + ta.Name}, tableID(ta.Name))
			}
		}
	}
	at := a.orderedTables()
	for i := len(at) - 1; i >= 0; i-- {
		if t := at[i]; b.tables[key(t.Name)] == nil {
			d.dropStep(rankDropTable, Change{SQL: "DROP TABLE " + quote(t.Name), Object: "table " + t.Name, Rules: []string{"drop-table"},
				Lost: "table " + t.Name + " and every row in it"}, tableParts(t, nil)...)
		}
	}
	for _, q := range a.Sequences() {
		if b.sequences[key(q.Name)] == nil {
			d.dropStep(rankDropSequence, Change{SQL: "DROP SEQUENCE " + quote(q.Name), Object: "sequence " + q.Name, Lost: "sequence " + q.Name + " and its position"},
				sequenceID(q.Name), nameID(q.Name))
		}
	}
	for _, r := range a.Roles() {
		if _, ok := b.roles[key(r)]; !ok {
			d.dropStep(rankDropRole, Change{SQL: "DROP ROLE " + quote(r), Object: "role " + r, Lost: "role " + r}, roleID(r))
		}
	}
	d.protoBundle()
	for _, o := range a.others {
		if o.early() && !containsOther(b, o) {
			d.dropOther(o)
		}
	}

	// Additions and changes.
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
			d.createStep(rankSequence, Change{SQL: q.SQL(), Object: "sequence " + q.Name}, sequenceID(q.Name), nameID(q.Name))
		case qa.Params != q.Params:
			d.refuse("sequence "+q.Name, "its clauses changed (%q → %q); change them with ALTER SEQUENCE by hand", qa.Params, q.Params)
		case !qa.Options.equal(q.Options):
			d.alterStep(rankSequence, Change{SQL: "ALTER SEQUENCE " + quote(q.Name) + " SET " + optionsDelta(qa.Options, q.Options).sql(), Object: "sequence " + q.Name, Detail: "options"}, sequenceID(q.Name))
		}
	}
	for _, r := range b.Roles() {
		if _, ok := a.roles[key(r)]; !ok {
			d.createStep(rankRole, Change{SQL: "CREATE ROLE " + quote(r), Object: "role " + r}, roleID(r))
		}
	}
	exists := map[string]bool{}
	for k := range a.tables {
		if b.tables[k] != nil {
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
		inline := func(fk *ForeignKey) bool { return exists[key(fk.RefTable)] }
		d.createStep(rankTable, Change{SQL: tb.createSQL(inline), Object: "table " + tb.Name}, tableParts(tb, inline)...)
		for _, fk := range tb.ForeignKeys {
			if !inline(fk) {
				d.addConstraint(tb, fk.SQL(), "foreign key "+orAnonymous(fk.Name)+" of "+tb.Name, fkID(tb, fk), fk.Name)
			}
		}
	}
	for _, tb := range b.orderedTables() {
		ta := a.tables[key(tb.Name)]
		if ta == nil {
			continue
		}
		for _, ck := range tb.Checks {
			if id := checkID(tb, ck); findCheck(ta, ck) == nil || d.gone[id] {
				d.addConstraint(tb, ck.SQL(), "check constraint "+orAnonymous(ck.Name)+" of "+tb.Name, id, ck.Name)
			}
		}
		for _, fk := range tb.ForeignKeys {
			if id := fkID(tb, fk); findFK(ta, fk) == nil || d.gone[id] {
				d.addConstraint(tb, fk.SQL(), "foreign key "+orAnonymous(fk.Name)+" of "+tb.Name, id, fk.Name)
			}
		}
	}
	{
		for _, ix := range b.Indexes() {
			id := indexID(ix.Name)
			ia := a.indexes[key(ix.Name)]
			if ia == nil || d.gone[id] {
				d.createStep(rankIndex, Change{SQL: ix.SQL(), Object: "index " + ix.Name}, id, nameID(ix.Name))
				continue
			}
			for _, col := range ix.Storing {
				if !containsFold(ia.Storing, col) {
					d.alterStep(rankIndex, Change{SQL: ix.alterVerb() + quote(ix.Name) + " ADD STORED COLUMN " + quote(col),
						Object: "index " + ix.Name, Detail: "stores " + col}, id)
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
		id := viewID(v.Name)
		va := a.views[key(v.Name)]
		switch {
		case va == nil || d.gone[id]:
			d.createStep(rankView, Change{SQL: v.SQL(), Object: "view " + v.Name}, id, nameID(v.Name))
		case va.Query != v.Query || va.Security != v.Security:
			d.alterStep(rankView, Change{SQL: v.sql("CREATE OR REPLACE VIEW "), Object: "view " + v.Name, Detail: "query"}, id)
		}
	}
	for _, cs := range b.ChangeStreams() {
		id := streamID(cs.Name)
		ca := a.streams[key(cs.Name)]
		if ca == nil {
			d.createStep(rankStream, Change{SQL: cs.SQL(), Object: "change stream " + cs.Name}, id, nameID(cs.Name))
			continue
		}
		obj := "change stream " + cs.Name
		if ca.For != cs.For {
			sql := "ALTER CHANGE STREAM " + quote(cs.Name) + " SET " + cs.For
			if cs.For == "" {
				sql = "ALTER CHANGE STREAM " + quote(cs.Name) + " DROP FOR ALL"
			}
			d.alterStep(rankStreamFor, Change{SQL: sql, Object: obj, Detail: orDefault(cs.For, "tracks nothing")}, id)
		}
		if !ca.Options.equal(cs.Options) {
			d.alterStep(rankStream, Change{SQL: "ALTER CHANGE STREAM " + quote(cs.Name) + " SET " + optionsDelta(ca.Options, cs.Options).sql(), Object: obj, Detail: "options"}, id)
		}
	}
	for _, g := range b.Grants() {
		if _, ok := a.grants[key(g)]; !ok {
			d.createStep(rankGrant, Change{SQL: g, Object: "grant " + g}, grantID(g))
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// findGone fills d.gone and d.rebuilt: the objects of a that are not in
// b, those that change in a way only a drop and a create can make, and,
// transitively, the objects that depend on them.
func (d *differ) findGone() {
	a, b := d.a, d.b
	reason := map[string]string{}
	rebuild := func(id, why string) {
		if !d.gone[id] {
			d.gone[id], d.rebuilt[id] = true, true
			reason[id] = why
		}
	}
	changed := map[string]columnChange{}
	for _, ta := range a.tables {
		tb := b.tables[key(ta.Name)]
		if tb == nil {
			for _, id := range tableParts(ta, nil) {
				d.gone[id] = true
			}
			continue
		}
		for _, c := range ta.Columns {
			id := columnID(ta.Name, c.Name)
			cb := tb.Column(c.Name)
			switch {
			case cb == nil:
				d.gone[id] = true
			case c.Generated != "" && cb.Generated != "" && (c.Generated != cb.Generated || c.Stored != cb.Stored || c.Type != cb.Type || c.Hidden != cb.Hidden):
				rebuild(id, "its definition changes")
			default:
				cc := columnChange{base: c.Type.Base != cb.Type.Base || c.Type.Named != cb.Type.Named, null: c.NotNull != cb.NotNull}
				if cc.base || cc.null {
					changed[id] = cc
				}
			}
		}
		for _, fk := range ta.ForeignKeys {
			if findFK(tb, fk) == nil {
				d.gone[fkID(ta, fk)] = true
			}
		}
		for _, ck := range ta.Checks {
			if findCheck(tb, ck) == nil {
				d.gone[checkID(ta, ck)] = true
			}
		}
		if ta.RowDeletionPolicy != nil && tb.RowDeletionPolicy == nil {
			d.gone[rdpID(ta.Name)] = true
		}
	}
	for _, ix := range a.indexes {
		id := indexID(ix.Name)
		nb := b.indexes[key(ix.Name)]
		switch {
		case nb == nil:
			d.gone[id] = true
		case !sameIndexShape(ix, nb):
			rebuild(id, "its definition changes")
		default:
			for _, k := range ix.Keys {
				if changed[columnID(ix.Table, k.Column)].null && !ix.NullFiltered && !ix.Search {
					rebuild(id, "Spanner refuses a NOT NULL change of "+ix.Table+"."+k.Column+" while it is a key of the index")
				}
			}
		}
	}
	for _, v := range a.views {
		if b.views[key(v.Name)] == nil {
			d.gone[viewID(v.Name)] = true
		}
	}
	for _, cs := range a.streams {
		if b.streams[key(cs.Name)] == nil {
			d.gone[streamID(cs.Name)] = true
		}
	}
	for _, o := range a.others {
		if o.Name != "" && !containsOther(b, o) {
			d.gone[otherID(otherFamily(o.Kind), o.Name)] = true
		}
	}
	for k, p := range a.protoTypes {
		if _, ok := b.protoTypes[k]; !ok {
			d.gone[protoID(p)] = true
		}
	}
	// Kept objects that depend on something dropped, or on a column whose
	// type kind or NOT NULL changes in a way they do not allow, are
	// dropped and created again around it.
	for again := true; again; {
		again = false
		for id, deps := range d.da {
			if d.gone[id] || !rebuildable(id, d.a) {
				continue
			}
			for _, dep := range deps {
				cc := changed[dep]
				switch {
				case strings.HasPrefix(dep, "rdp:"):
					continue // an order, not a need (see dependencies)
				case d.gone[dep] && !contains(d.db[id], dep):
					// The target no longer needs it: the object's own
					// change (CREATE OR REPLACE VIEW…) releases it.
					continue
				case d.gone[dep]:
					rebuild(id, "it depends on "+describeID(dep)+", which is dropped and created again")
				case cc.base && (strings.HasPrefix(id, "v:") || strings.HasPrefix(id, "k:") || strings.HasPrefix(id, "c:")):
					rebuild(id, "the type of "+describeID(dep)+" changes")
				case cc.null && strings.HasPrefix(id, "k:") && d.isFK(id):
					rebuild(id, "the NOT NULL of "+describeID(dep)+" changes, which Spanner refuses while a foreign key uses it")
				default:
					continue
				}
				if d.gone[id] {
					again = true
					break
				}
			}
		}
	}
	d.reasons = reason
}

func (d *differ) rebuildReason(id string) string { return d.reasons[id] }

// isFK reports whether a constraint id of a is a foreign key.
func (d *differ) isFK(id string) bool {
	for _, t := range d.a.tables {
		for _, fk := range t.ForeignKeys {
			if fkID(t, fk) == id {
				return true
			}
		}
	}
	return false
}

// rebuildable reports whether an object of s may be dropped and created
// again without losing data: indexes, views, constraints, generated
// columns and derived objects kept verbatim (search and vector indexes).
func rebuildable(id string, s *Schema) bool {
	switch {
	case strings.HasPrefix(id, "i:"), strings.HasPrefix(id, "v:"), strings.HasPrefix(id, "k:"):
		return true
	case strings.HasPrefix(id, "c:"):
		t, c, _ := strings.Cut(strings.TrimPrefix(id, "c:"), ".")
		tt := s.tables[t]
		if tt == nil {
			return false
		}
		col := tt.Column(c)
		return col != nil && col.Generated != "" && !tt.IsKey(c)
	case strings.HasPrefix(id, "o:VECTOR INDEX:"):
		return true
	}
	return false
}

// describeID names the object of an id for messages.
func describeID(id string) string {
	kind, name, _ := strings.Cut(id, ":")
	switch kind {
	case "t":
		return "table " + name
	case "c":
		return "column " + name
	case "i":
		return "index " + name
	case "v":
		return "view " + name
	case "k":
		return "constraint " + name
	case "q":
		return "sequence " + name
	case "p":
		return "proto type " + name
	}
	return strings.ToLower(strings.ReplaceAll(name, ":", " "))
}

// checkTable refuses the differences of a table that Spanner cannot make
// in place.
func (d *differ) checkTable(ta, tb *Table) {
	obj := "table " + tb.Name
	if !strings.EqualFold(keyList(ta.PrimaryKey), keyList(tb.PrimaryKey)) {
		d.refuse(obj, "primary key changes from (%s) to (%s); Spanner cannot change a primary key", keyList(ta.PrimaryKey), keyList(tb.PrimaryKey))
	} else {
		for _, k := range tb.PrimaryKey {
			ca, cb := ta.Column(k.Column), tb.Column(k.Column)
			if ca == nil || cb == nil || (ca.Type == cb.Type && ca.NotNull == cb.NotNull) {
				continue
			}
			cobj := "column " + tb.Name + "." + cb.Name
			switch {
			case ca.NotNull != cb.NotNull:
				d.refuse(cobj, "key column changes from %s to %s; Spanner cannot change NOT NULL of a key column", columnShape(ca), columnShape(cb))
			case !Convertible(ca.Type, cb.Type) || ca.Type.Named || cb.Type.Named:
				d.refuse(cobj, "key column changes from %s to %s; Spanner can only change a key column's length or STRING ↔ BYTES", ca.Type, cb.Type)
			case d.hasChild(ta.Name):
				d.refuse(cobj, "key column changes from %s to %s; Spanner refuses any change of a key column while tables are interleaved in %s", ca.Type, cb.Type, tb.Name)
			case ta.Parent != "" && d.a.tables[key(ta.Parent)] != nil && d.a.tables[key(ta.Parent)].IsKey(k.Column):
				d.refuse(cobj, "key column changes from %s to %s; it is the key of the parent table %s, which Spanner cannot change in the child", ca.Type, cb.Type, ta.Parent)
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
		case ca.Generated == "" && ca.Type != cb.Type && !Convertible(ca.Type, cb.Type) && via(ca.Type, cb.Type) == nil:
			d.refuse(cobj, "type changes from %s to %s; Spanner can only change a length, STRING ↔ BYTES, PROTO ↔ BYTES, one PROTO to another and ENUM ↔ INT64 in place (dropping and re-adding the column would lose its data)", ca.Type, cb.Type)
		case ca.Identity != cb.Identity:
			d.refuse(cobj, "identity clause changes (%q → %q); change it with ALTER COLUMN … ALTER IDENTITY by hand", ca.Identity, cb.Identity)
		case ca.Hidden != cb.Hidden && ca.Generated == "":
			d.refuse(cobj, "HIDDEN changes; Spanner's ALTER COLUMN has no HIDDEN form (the emulator's grammar has none, and the documented DDL shows none), and dropping the column to add it again would lose its data")
		}
	}
	for _, cb := range tb.Columns {
		if ta.Column(cb.Name) == nil && cb.NotNull && cb.Default == "" && cb.Generated == "" && cb.Identity == "" && zeroDefault(cb.Type) == "" {
			d.refuse("column "+tb.Name+"."+cb.Name, "is a new NOT NULL column of type %s on an existing table, and spangate knows no default for that type to fill existing rows with; "+
				"add it with a DEFAULT, or nullable, backfill it, then make it NOT NULL in a later migration", cb.Type)
		}
	}
}

func (d *differ) hasChild(table string) bool {
	for _, t := range d.a.tables {
		if strings.EqualFold(t.Parent, table) {
			return true
		}
	}
	return false
}

// zeroDefault returns the default a new NOT NULL column of type t is
// added with when the target gives none, or "" for a type without one.
func zeroDefault(t Type) string {
	if t.Array {
		if t.Named || t.ArrayArgs != "" {
			return ""
		}
		return "CAST([] AS ARRAY<" + t.Base + ">)"
	}
	switch t.Base {
	case "INT64":
		return "0"
	case "FLOAT64", "FLOAT32", "NUMERIC":
		return "CAST(0 AS " + t.Base + ")"
	case "STRING":
		return "''"
	case "BYTES":
		return "b''"
	case "BOOL":
		return "FALSE"
	case "DATE":
		return "DATE '1970-01-01'"
	case "TIMESTAMP":
		return "TIMESTAMP '1970-01-01T00:00:00Z'"
	case "JSON":
		return "JSON '{}'"
	}
	return ""
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
	tid := tableID(tb.Name)
	if strings.EqualFold(ta.Parent, tb.Parent) && tb.Parent != "" {
		if ta.InParent != tb.InParent {
			d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " SET " + tb.interleaveSQL(), Object: "table " + tb.Name, Detail: "interleaving"}, tid)
		} else if ta.OnDelete != tb.OnDelete {
			d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " SET ON DELETE " + tb.OnDelete, Object: "table " + tb.Name, Detail: "ON DELETE " + ta.OnDelete + " → " + tb.OnDelete}, tid)
		}
	}
	if !ta.Options.equal(tb.Options) {
		d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " SET " + optionsDelta(ta.Options, tb.Options).sql(), Object: "table " + tb.Name, Detail: "options"}, tid)
	}
	for _, cb := range tb.Columns {
		ca := ta.Column(cb.Name)
		id := columnID(tb.Name, cb.Name)
		obj := "column " + tb.Name + "." + cb.Name
		if ca == nil || d.rebuilt[id] {
			c := Change{SQL: "ALTER TABLE " + t + " ADD COLUMN " + cb.SQL(), Object: obj}
			if d.rebuilt[id] {
				c.Rules = []string{"lossy-type-change"}
				c.Detail = "generated column computed again from the columns it reads: no data is lost"
			}
			if ca == nil && cb.NotNull && cb.Default == "" && cb.Generated == "" && cb.Identity == "" {
				def := zeroDefault(cb.Type)
				if def == "" {
					continue // refused in checkTable
				}
				with := *cb
				with.Default = def
				// Spanner refuses a DEFAULT on a commit timestamp
				// column: the options come after the default goes.
				with.Options = nil
				c.SQL = "ALTER TABLE " + t + " ADD COLUMN " + with.SQL()
				c.Warning = fmt.Sprintf("new NOT NULL column %s.%s: every existing row gets the default %s, which is then dropped (the target has none); writers must set the column from now on", tb.Name, cb.Name, def)
				add := d.createStep(rankTable, c, id)
				drop := d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " ALTER COLUMN " + quote(cb.Name) + " DROP DEFAULT", Object: obj, Detail: "drops the default " + def + " used to fill existing rows"}, id)
				chain(add, drop)
				if len(cb.Options) > 0 {
					chain(drop, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " ALTER COLUMN " + quote(cb.Name) + " SET " + cb.Options.sql(), Object: obj, Detail: "options"}, id))
				}
				continue
			}
			d.createStep(rankTable, c, id)
			continue
		}
		if (ca.Generated != "" || cb.Generated != "") && !ca.Options.equal(cb.Options) {
			d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " ALTER COLUMN " + quote(cb.Name) + " SET " + optionsDelta(ca.Options, cb.Options).sql(), Object: obj, Detail: "options"}, id)
		}
		if ca.Generated != "" || cb.Generated != "" {
			continue
		}
		col := t + " ALTER COLUMN " + quote(cb.Name)
		var steps []*step
		typeChanged := ca.Type != cb.Type || ca.NotNull != cb.NotNull
		if mid := via(ca.Type, cb.Type); mid != nil && typeChanged && !Convertible(ca.Type, cb.Type) {
			steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " " + mid.String(), Object: obj,
				Detail: columnShape(ca) + " → " + mid.String() + ", on the way to " + cb.Type.String()}, id))
			ca = &Column{Name: ca.Name, Type: *mid, Default: ca.Default, OnUpdate: ca.OnUpdate, Options: ca.Options}
		}
		if typeChanged && Convertible(ca.Type, cb.Type) {
			sql := "ALTER TABLE " + col + " " + cb.Type.String()
			if cb.NotNull {
				sql += " NOT NULL"
			}
			if cb.Default != "" {
				sql += " DEFAULT (" + cb.Default + ")"
			}
			steps = append(steps, d.alterStep(rankTable, Change{SQL: sql, Object: obj, Detail: columnShape(ca) + " → " + columnShape(cb)}, id))
		}
		if (!typeChanged || cb.Default == "") && ca.Default != cb.Default {
			if cb.Default == "" {
				if !typeChanged {
					steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " DROP DEFAULT", Object: obj, Detail: "drops its default"}, id))
				}
			} else {
				steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " SET DEFAULT (" + cb.Default + ")", Object: obj, Detail: "default"}, id))
			}
		}
		if ca.OnUpdate != cb.OnUpdate {
			if cb.OnUpdate == "" {
				steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " DROP ON UPDATE", Object: obj, Detail: "drops ON UPDATE"}, id))
			} else {
				steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " SET ON UPDATE (" + cb.OnUpdate + ")", Object: obj, Detail: "ON UPDATE"}, id))
			}
		}
		if !ca.Options.equal(cb.Options) {
			steps = append(steps, d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + col + " SET " + optionsDelta(ca.Options, cb.Options).sql(), Object: obj, Detail: "options"}, id))
		}
		chain(steps...)
	}
	switch {
	case tb.RowDeletionPolicy == nil:
	case ta.RowDeletionPolicy == nil:
		d.createStep(rankTable, Change{SQL: "ALTER TABLE " + t + " ADD " + tb.RowDeletionPolicy.sql(), Object: "row deletion policy of " + tb.Name}, rdpID(tb.Name))
	case *ta.RowDeletionPolicy != *tb.RowDeletionPolicy:
		d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " REPLACE " + tb.RowDeletionPolicy.sql(), Object: "row deletion policy of " + tb.Name}, rdpID(tb.Name))
	}
	for _, syn := range tb.Synonyms {
		if !containsFold(ta.Synonyms, syn) {
			d.alterStep(rankTable, Change{SQL: "ALTER TABLE " + t + " ADD SYNONYM " + quote(syn), Object: "synonym " + syn + " of " + tb.Name}, tid)
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
	d.alterStep(rankDatabase, Change{SQL: "ALTER DATABASE " + quote(name) + " SET " + optionsDelta(a.DatabaseOptions, b.DatabaseOptions).sql(), Object: "database " + name, Detail: "options"}, "db")
}

// protoBundle emits the proto bundle's changes: CREATE or DROP PROTO
// BUNDLE, or ALTER PROTO BUNDLE INSERT (new types, before the columns that
// use them) and DELETE (removed types, after the columns stop using them).
// Changed descriptors of kept types are not visible in DDL; their UPDATE
// is written by hand.
func (d *differ) protoBundle() {
	a, b := d.a, d.b
	ta, hasA := a.ProtoTypes()
	tb, hasB := b.ProtoTypes()
	ids := func(types []string) []string {
		var out []string
		for _, t := range types {
			out = append(out, protoID(t))
		}
		return out
	}
	switch {
	case hasA && !hasB:
		d.dropStep(rankDropEarly, Change{SQL: "DROP PROTO BUNDLE", Object: "proto bundle", Lost: "the proto bundle and its types"}, append(ids(ta), "pb")...)
	case !hasA && hasB:
		d.createStep(rankEarly, Change{SQL: protoBundleSQL("CREATE PROTO BUNDLE", tb), Object: "proto bundle"}, append(ids(tb), "pb")...)
	case hasA && hasB:
		var gone, added []string
		for _, t := range ta {
			if _, ok := b.protoTypes[key(t)]; !ok {
				gone = append(gone, t)
			}
		}
		for _, t := range tb {
			if _, ok := a.protoTypes[key(t)]; !ok {
				added = append(added, t)
			}
		}
		if len(gone) > 0 {
			d.dropStep(rankDropEarly, Change{SQL: protoBundleSQL("ALTER PROTO BUNDLE DELETE", gone), Object: "proto bundle", Lost: "proto types " + strings.Join(gone, ", ")}, ids(gone)...)
		}
		if len(added) > 0 {
			d.createStep(rankEarly, Change{SQL: protoBundleSQL("ALTER PROTO BUNDLE INSERT", added), Object: "proto bundle", Action: "alter"}, ids(added)...)
		}
	}
}

func (d *differ) dropConstraint(t *Table, name, id, what, sql string) {
	if name == "" {
		d.refuse(what+" of "+t.Name, "%s is anonymous: Spanner gave it a generated name that the schema does not show, so it cannot be dropped by name here. "+
			"Look the name up in INFORMATION_SCHEMA.TABLE_CONSTRAINTS and drop it with ALTER TABLE %s DROP CONSTRAINT <name>; name constraints from now on", sql, quote(t.Name))
		return
	}
	c := Change{SQL: "ALTER TABLE " + quote(t.Name) + " DROP CONSTRAINT " + quote(name), Object: what + " " + name + " of " + t.Name,
		Lost: what + " " + name + " (the rule it enforces stops being checked)"}
	if d.rebuilt[id] {
		c.Detail, c.Lost = "added again below: "+d.rebuildReason(id), ""
	}
	d.dropStep(rankDropConstraint, c, id, nameID(name))
}

func (d *differ) addConstraint(t *Table, sql, object, id, name string) {
	ids := []string{id}
	if name != "" {
		ids = append(ids, nameID(name))
	}
	d.createStep(rankConstraint, Change{SQL: "ALTER TABLE " + quote(t.Name) + " ADD " + sql, Object: object}, ids...)
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
	// again later.
	stmt := "DROP " + fam
	if o.Name != "" {
		stmt += " " + quote(o.Name)
	}
	c := Change{SQL: stmt, Object: strings.ToLower(fam) + " " + o.Name, Lost: strings.ToLower(fam) + " " + o.Name}
	if fam == "VECTOR INDEX" {
		c.Rules = []string{"drop-index"}
	}
	rank := rankDropOther
	if o.early() {
		rank = rankDropEarly
	}
	ids := []string{otherID(fam, o.Name)}
	if fam == "VECTOR INDEX" || fam == "MODEL" || fam == "PROPERTY GRAPH" {
		ids = append(ids, nameID(o.Name))
	}
	d.dropStep(rank, c, ids...)
}

func (d *differ) addOther(o *Other) {
	fam := otherFamily(o.Kind)
	c := Change{SQL: o.SQL, Object: strings.ToLower(fam) + " " + o.Name}
	rank := rankOther
	if o.early() {
		rank = rankEarly
	}
	ids := []string{otherID(fam, o.Name)}
	if fam == "VECTOR INDEX" || fam == "MODEL" || fam == "PROPERTY GRAPH" {
		ids = append(ids, nameID(o.Name))
	}
	if o.Name == "" {
		ids = nil
	}
	d.createStep(rank, c, ids...)
}

func sameIndexShape(x, y *Index) bool {
	return strings.EqualFold(x.Table, y.Table) && x.Search == y.Search && x.Unique == y.Unique && x.NullFiltered == y.NullFiltered &&
		strings.EqualFold(keyList(x.Keys), keyList(y.Keys)) && strings.EqualFold(x.Interleave, y.Interleave) &&
		x.Where == y.Where && x.Options.equal(y.Options) && strings.EqualFold(strings.Join(x.PartitionBy, ","), strings.Join(y.PartitionBy, ",")) &&
		x.OrderBy == y.OrderBy
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

// via returns the type a column goes through when Spanner cannot change
// from into to in one step but can in two: STRING ↔ PROTO through
// BYTES(MAX). It returns nil when there is no such way.
func via(from, to Type) *Type {
	mid := Type{Base: "BYTES", Size: MaxSize, Array: from.Array}
	if from.Array != to.Array || from.ArrayArgs != "" || to.ArrayArgs != "" {
		return nil
	}
	if Convertible(from, mid) && Convertible(mid, to) && from.Base != "INT64" && to.Base != "INT64" {
		return &mid
	}
	return nil
}
