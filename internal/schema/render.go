package schema

import (
	"encoding/json"
	"strings"

	"github.com/cloudspannerecosystem/memefish/token"
)

// quote renders a possibly dotted name, quoting each part that needs it
// (reserved words, unusual characters).
func quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = token.QuoteSQLIdent(p)
	}
	return strings.Join(parts, ".")
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return strings.Join(q, ", ")
}

func keyList(keys []KeyPart) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = quote(k.Column)
		if k.Desc {
			q[i] += " DESC"
		}
	}
	return strings.Join(q, ", ")
}

func (o Options) sql() string {
	if len(o) == 0 {
		return ""
	}
	parts := make([]string, len(o))
	for i, op := range o {
		parts[i] = op.Name + " = " + op.Value
	}
	return "OPTIONS (" + strings.Join(parts, ", ") + ")"
}

// SQL renders the column's definition as in CREATE TABLE.
func (c *Column) SQL() string {
	var b strings.Builder
	b.WriteString(quote(c.Name) + " " + c.Type.String())
	if c.NotNull {
		b.WriteString(" NOT NULL")
	}
	switch {
	case c.Generated != "":
		b.WriteString(" AS (" + c.Generated + ")")
		if c.Stored {
			b.WriteString(" STORED")
		}
	case c.Identity != "":
		b.WriteString(" " + c.Identity)
	case c.Default != "":
		b.WriteString(" DEFAULT (" + c.Default + ")")
		if c.OnUpdate != "" {
			b.WriteString(" ON UPDATE (" + c.OnUpdate + ")")
		}
	}
	if c.Hidden {
		b.WriteString(" HIDDEN")
	}
	if o := c.Options.sql(); o != "" {
		b.WriteString(" " + o)
	}
	return b.String()
}

// SQL renders the foreign key as a table constraint.
func (fk *ForeignKey) SQL() string {
	var b strings.Builder
	if fk.Name != "" {
		b.WriteString("CONSTRAINT " + quote(fk.Name) + " ")
	}
	b.WriteString("FOREIGN KEY (" + quoteList(fk.Columns) + ") REFERENCES " + quote(fk.RefTable) + " (" + quoteList(fk.RefColumns) + ")")
	if fk.OnDelete == "CASCADE" {
		b.WriteString(" ON DELETE CASCADE")
	}
	if fk.NotEnforced {
		b.WriteString(" NOT ENFORCED")
	}
	return b.String()
}

// SQL renders the check as a table constraint.
func (ck *Check) SQL() string {
	if ck.Name != "" {
		return "CONSTRAINT " + quote(ck.Name) + " CHECK (" + ck.Expr + ")"
	}
	return "CHECK (" + ck.Expr + ")"
}

func (p *RowDeletionPolicy) sql() string {
	return "ROW DELETION POLICY (OLDER_THAN(" + quote(p.Column) + ", INTERVAL " + p.Days + " DAY))"
}

func (t *Table) interleaveSQL() string {
	s := "INTERLEAVE IN "
	if t.InParent {
		s += "PARENT "
	}
	s += quote(t.Parent)
	if t.OnDelete == "CASCADE" {
		s += " ON DELETE CASCADE"
	}
	return s
}

// CreateSQL renders CREATE TABLE with every foreign key inline.
func (t *Table) CreateSQL() string { return t.createSQL(func(*ForeignKey) bool { return true }) }

// createSQL renders CREATE TABLE with the foreign keys inline that
// inline accepts.
func (t *Table) createSQL(inline func(*ForeignKey) bool) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE " + quote(t.Name) + " (\n")
	var lines []string
	for _, c := range t.Columns {
		lines = append(lines, c.SQL())
	}
	for _, ck := range t.Checks {
		lines = append(lines, ck.SQL())
	}
	for _, fk := range t.ForeignKeys {
		if inline(fk) {
			lines = append(lines, fk.SQL())
		}
	}
	for i, l := range lines {
		b.WriteString("  " + l)
		if i < len(lines)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString(") PRIMARY KEY (" + keyList(t.PrimaryKey) + ")")
	if t.Parent != "" {
		b.WriteString(",\n  " + t.interleaveSQL())
	}
	if t.RowDeletionPolicy != nil {
		b.WriteString(",\n  " + t.RowDeletionPolicy.sql())
	}
	for _, syn := range t.Synonyms {
		b.WriteString(",\n  SYNONYM (" + quote(syn) + ")")
	}
	if o := t.Options.sql(); o != "" {
		b.WriteString(",\n  " + o)
	}
	return b.String()
}

// SQL renders CREATE INDEX or CREATE SEARCH INDEX.
func (ix *Index) SQL() string {
	if ix.Search {
		return ix.searchSQL()
	}
	var b strings.Builder
	b.WriteString("CREATE ")
	if ix.Unique {
		b.WriteString("UNIQUE ")
	}
	if ix.NullFiltered {
		b.WriteString("NULL_FILTERED ")
	}
	b.WriteString("INDEX " + quote(ix.Name) + " ON " + quote(ix.Table) + " (" + keyList(ix.Keys) + ")")
	if len(ix.Storing) > 0 {
		b.WriteString(" STORING (" + quoteList(ix.Storing) + ")")
	}
	if ix.Where != "" {
		b.WriteString(" WHERE " + ix.Where)
	}
	if ix.Interleave != "" {
		b.WriteString(", INTERLEAVE IN " + quote(ix.Interleave))
	}
	if o := ix.Options.sql(); o != "" {
		b.WriteString(" " + o)
	}
	return b.String()
}

// SQL renders CREATE VIEW.
func (v *View) SQL() string { return v.sql("CREATE VIEW ") }

func (v *View) sql(verb string) string {
	return verb + quote(v.Name) + " SQL SECURITY " + v.Security + " AS " + v.Query
}

// SQL renders CREATE CHANGE STREAM.
func (cs *ChangeStream) SQL() string {
	s := "CREATE CHANGE STREAM " + quote(cs.Name)
	if cs.For != "" {
		s += " " + cs.For
	}
	if o := cs.Options.sql(); o != "" {
		s += " " + o
	}
	return s
}

// SQL renders CREATE SEQUENCE.
func (q *Sequence) SQL() string {
	s := "CREATE SEQUENCE " + quote(q.Name)
	if q.Params != "" {
		s += " " + q.Params
	}
	if o := q.Options.sql(); o != "" {
		s += " " + o
	}
	return s
}

// early reports whether a verbatim statement must come before the tables
// (types, placements, locality groups and named schemas they may use).
func (o *Other) early() bool {
	switch otherFamily(o.Kind) {
	case "PROTO BUNDLE", "LOCALITY GROUP", "PLACEMENT", "SCHEMA":
		return true
	}
	return false
}

// DDL renders the schema as canonical statements (no semicolons) in a
// deterministic order that re-applies cleanly to an empty database:
// database options, proto bundles and other prerequisites, sequences,
// tables (parents before children, referenced tables before the tables
// whose foreign keys reference them), foreign keys that close a cycle,
// indexes, views (each after the views it reads), change streams, roles,
// grants, and the statements kept verbatim.
func (s *Schema) DDL() []string {
	var out []string
	if len(s.DatabaseOptions) > 0 && s.DatabaseName != "" {
		out = append(out, "ALTER DATABASE "+quote(s.DatabaseName)+" SET "+s.DatabaseOptions.sql())
	}
	for _, o := range s.others {
		if o.early() {
			out = append(out, o.SQL)
		}
	}
	if types, ok := s.ProtoTypes(); ok {
		out = append(out, protoBundleSQL("CREATE PROTO BUNDLE", types))
	}
	for _, q := range s.Sequences() {
		out = append(out, q.SQL())
	}
	tables := s.orderedTables()
	placed := map[string]bool{}
	var deferred []string
	for _, t := range tables {
		placed[key(t.Name)] = true
		out = append(out, t.createSQL(func(fk *ForeignKey) bool { return placed[key(fk.RefTable)] }))
		for _, fk := range t.ForeignKeys {
			if !placed[key(fk.RefTable)] {
				deferred = append(deferred, "ALTER TABLE "+quote(t.Name)+" ADD "+fk.SQL())
			}
		}
	}
	out = append(out, deferred...)
	for _, t := range tables {
		for _, ix := range s.IndexesOn(t.Name) {
			out = append(out, ix.SQL())
		}
	}
	for _, v := range s.orderedViews() {
		out = append(out, v.SQL())
	}
	for _, cs := range s.ChangeStreams() {
		out = append(out, cs.SQL())
	}
	for _, r := range s.Roles() {
		out = append(out, "CREATE ROLE "+quote(r))
	}
	out = append(out, s.Grants()...)
	for _, o := range s.others {
		if !o.early() {
			out = append(out, o.SQL)
		}
	}
	return out
}

// String renders the schema as a DDL script: each statement followed by
// ";" and a blank line.
func (s *Schema) String() string {
	var b strings.Builder
	for _, st := range s.DDL() {
		b.WriteString(st + ";\n\n")
	}
	return b.String()
}

// orderedTables sorts tables so that a table comes after its parent and
// after the tables its foreign keys reference (cycles are broken by name),
// otherwise by name.
func (s *Schema) orderedTables() []*Table {
	all := sortedValues(s.tables, func(t *Table) string { return key(t.Name) })
	deps := func(t *Table) []string {
		var d []string
		if t.Parent != "" {
			d = append(d, key(t.Parent))
		}
		for _, fk := range t.ForeignKeys {
			if !strings.EqualFold(fk.RefTable, t.Name) {
				d = append(d, key(fk.RefTable))
			}
		}
		return d
	}
	return topo(all, func(t *Table) string { return key(t.Name) }, deps, func(t *Table) bool {
		return t.Parent == "" || s.tables[key(t.Parent)] == nil
	})
}

// orderedViews sorts views so that each comes after the views it reads.
func (s *Schema) orderedViews() []*View {
	all := sortedValues(s.views, func(v *View) string { return key(v.Name) })
	return topo(all, func(v *View) string { return key(v.Name) }, func(v *View) []string { return v.Refs }, nil)
}

// topo orders items (sorted by name) so each comes after its deps that are
// among the items. When a cycle stops progress, the first remaining item
// that canBreak accepts (or the first remaining item) is placed.
func topo[T any](items []T, name func(T) string, deps func(T) []string, canBreak func(T) bool) []T {
	present := make(map[string]bool, len(items))
	for _, it := range items {
		present[name(it)] = true
	}
	placed := make(map[string]bool, len(items))
	out := make([]T, 0, len(items))
	remaining := items
	for len(remaining) > 0 {
		progress := false
		next := remaining[:0:0]
		for _, it := range remaining {
			ready := true
			for _, d := range deps(it) {
				if present[d] && !placed[d] {
					ready = false
					break
				}
			}
			if ready {
				out = append(out, it)
				placed[name(it)] = true
				progress = true
			} else {
				next = append(next, it)
			}
		}
		if !progress {
			pick := 0
			if canBreak != nil {
				for i, it := range next {
					if canBreak(it) {
						pick = i
						break
					}
				}
			}
			out = append(out, next[pick])
			placed[name(next[pick])] = true
			next = append(next[:pick:pick], next[pick+1:]...)
		}
		remaining = next
	}
	return out
}

// MarshalJSON encodes the schema as an object of lists, in the order DDL
// uses.
func (s *Schema) MarshalJSON() ([]byte, error) {
	type dbOpts struct {
		Name    string  `json:"name,omitempty"`
		Options Options `json:"options,omitempty"`
	}
	doc := struct {
		Database      *dbOpts         `json:"database,omitempty"`
		Tables        []*Table        `json:"tables"`
		Indexes       []*Index        `json:"indexes"`
		Views         []*View         `json:"views"`
		ChangeStreams []*ChangeStream `json:"change_streams"`
		Sequences     []*Sequence     `json:"sequences"`
		Roles         []string        `json:"roles"`
		Grants        []string        `json:"grants"`
		Others        []*Other        `json:"others"`
	}{
		Tables: s.orderedTables(), Indexes: []*Index{}, Views: s.orderedViews(), ChangeStreams: s.ChangeStreams(),
		Sequences: s.Sequences(), Roles: s.Roles(), Grants: s.Grants(), Others: s.Others(),
	}
	if len(s.DatabaseOptions) > 0 {
		doc.Database = &dbOpts{Name: s.DatabaseName, Options: s.DatabaseOptions}
	}
	for _, t := range doc.Tables {
		doc.Indexes = append(doc.Indexes, s.IndexesOn(t.Name)...)
	}
	if doc.Others == nil {
		doc.Others = []*Other{}
	}
	return json.Marshal(doc)
}

func (ix *Index) searchSQL() string {
	var b strings.Builder
	b.WriteString("CREATE SEARCH INDEX " + quote(ix.Name) + " ON " + quote(ix.Table) + " (" + keyList(ix.Keys) + ")")
	if len(ix.Storing) > 0 {
		b.WriteString(" STORING (" + quoteList(ix.Storing) + ")")
	}
	if len(ix.PartitionBy) > 0 {
		b.WriteString(" PARTITION BY " + quoteList(ix.PartitionBy))
	}
	if ix.OrderBy != "" {
		b.WriteString(" ORDER BY " + ix.OrderBy)
	}
	if ix.Where != "" {
		b.WriteString(" WHERE " + ix.Where)
	}
	if ix.Interleave != "" {
		b.WriteString(", INTERLEAVE IN " + quote(ix.Interleave))
	}
	if o := ix.Options.sql(); o != "" {
		b.WriteString(" " + o)
	}
	return b.String()
}

// dropSQL renders the DROP statement of the index's kind.
func (ix *Index) dropSQL() string {
	if ix.Search {
		return "DROP SEARCH INDEX " + quote(ix.Name)
	}
	return "DROP INDEX " + quote(ix.Name)
}

// alterVerb is ALTER INDEX or ALTER SEARCH INDEX.
func (ix *Index) alterVerb() string {
	if ix.Search {
		return "ALTER SEARCH INDEX "
	}
	return "ALTER INDEX "
}

// protoBundleSQL renders CREATE PROTO BUNDLE with the given types.
func protoBundleSQL(verb string, types []string) string {
	return verb + " (" + strings.Join(types, ", ") + ")"
}
