// Package schema is a typed model of a Spanner database schema: tables,
// columns, keys, interleaving, indexes, constraints, views, change
// streams, sequences, roles, grants and row deletion policies, built from
// DDL with memefish (never with regular expressions).
//
// A Schema is built by applying DDL statements one by one, as Spanner
// would: Apply refuses what Spanner refuses (dropping a table that still
// has indexes or interleaved children, an index on a missing column, a
// duplicate name…) with an error located at file:line. The same model is
// built from migration files (the schema their statements build) and from
// GetDatabaseDdl output (the live schema), so the two can be compared.
//
// DDL renders a schema as canonical statements in a deterministic,
// dependency-respecting order; Diff computes the statements that turn one
// schema into another, in a safe order, and refuses changes Spanner cannot
// make in place instead of dropping and recreating what holds data.
//
// Names are case-insensitive, as in Spanner: objects are keyed by their
// lower-cased name and keep the spelling they were created with.
// Statements this model does not understand are kept verbatim, so nothing
// is silently lost.
package schema

import (
	"strings"
)

// KeyPart is one column of a primary key or an index key.
type KeyPart struct {
	Column string `json:"column"`
	Desc   bool   `json:"desc,omitempty"`
}

// Option is one name = value pair of an OPTIONS clause; Value is the
// value's SQL text.
type Option struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Options is an ordered OPTIONS clause.
type Options []Option

// Get returns the value of the named option.
func (o Options) Get(name string) (string, bool) {
	for _, op := range o {
		if strings.EqualFold(op.Name, name) {
			return op.Value, true
		}
	}
	return "", false
}

// set returns o with name set to value; a NULL value removes the option,
// as in Spanner.
func (o Options) set(name, value string) Options {
	out := make(Options, 0, len(o)+1)
	found := false
	for _, op := range o {
		if strings.EqualFold(op.Name, name) {
			found = true
			if !strings.EqualFold(value, "NULL") {
				out = append(out, Option{Name: op.Name, Value: value})
			}
			continue
		}
		out = append(out, op)
	}
	if !found && !strings.EqualFold(value, "NULL") {
		out = append(out, Option{Name: name, Value: value})
	}
	return out
}

func (o Options) equal(p Options) bool {
	if len(o) != len(p) {
		return false
	}
	for _, op := range o {
		v, ok := p.Get(op.Name)
		if !ok || v != op.Value {
			return false
		}
	}
	return true
}

// Type is a column type.
type Type struct {
	// Array is true for ARRAY<Base>.
	Array bool `json:"array,omitempty"`
	// Base is the scalar type name (INT64, STRING, BYTES…) or, for a proto
	// or enum column, its full name.
	Base string `json:"base"`
	// Size is the length of STRING or BYTES: a positive number, MaxSize for
	// MAX, or 0 when the type takes none.
	Size int64 `json:"size,omitempty"`
	// Named is true for proto and enum types.
	Named bool `json:"named,omitempty"`
	// ArrayArgs are an ARRAY's trailing arguments, such as (vector_length=>128).
	ArrayArgs string `json:"array_args,omitempty"`
}

// MaxSize is the Size of STRING(MAX) and BYTES(MAX).
const MaxSize = -1

// String renders the type as DDL: STRING(MAX), ARRAY<BYTES(16)>…
func (t Type) String() string {
	s := t.Base
	switch {
	case t.Size == MaxSize:
		s += "(MAX)"
	case t.Size > 0:
		s += "(" + itoa(t.Size) + ")"
	}
	if t.Array {
		s = "ARRAY<" + s + ">" + t.ArrayArgs
	}
	return s
}

// Column is a table column.
type Column struct {
	Name    string `json:"name"`
	Type    Type   `json:"type"`
	NotNull bool   `json:"not_null,omitempty"`
	// Default is the DEFAULT expression's SQL, or "".
	Default string `json:"default,omitempty"`
	// OnUpdate is the ON UPDATE expression's SQL, or "".
	OnUpdate string `json:"on_update,omitempty"`
	// Generated is the generation expression of a generated column, or "".
	Generated string `json:"generated,omitempty"`
	// Stored is true for a STORED generated column.
	Stored bool `json:"stored,omitempty"`
	// Identity is the SQL of a GENERATED … AS IDENTITY or AUTO_INCREMENT
	// clause, or "".
	Identity string  `json:"identity,omitempty"`
	Hidden   bool    `json:"hidden,omitempty"`
	Options  Options `json:"options,omitempty"`
}

// AllowCommitTimestamp reports whether the column has
// OPTIONS (allow_commit_timestamp = true).
func (c *Column) AllowCommitTimestamp() bool {
	v, _ := c.Options.Get("allow_commit_timestamp")
	return strings.EqualFold(v, "true")
}

// ForeignKey is a FOREIGN KEY constraint.
type ForeignKey struct {
	// Name is the constraint's name, or "" for an anonymous constraint
	// (Spanner then generates a name that GetDatabaseDdl does not show).
	Name       string   `json:"name,omitempty"`
	Columns    []string `json:"columns"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	// OnDelete is "CASCADE" or "NO ACTION" (the default).
	OnDelete string `json:"on_delete"`
	// NotEnforced is true for an informational (NOT ENFORCED) key.
	NotEnforced bool `json:"not_enforced,omitempty"`
}

// Check is a CHECK constraint.
type Check struct {
	// Name is the constraint's name, or "" for an anonymous one.
	Name string `json:"name,omitempty"`
	Expr string `json:"expr"`
}

// RowDeletionPolicy is a table's ROW DELETION POLICY (OLDER_THAN(col,
// INTERVAL n DAY)).
type RowDeletionPolicy struct {
	Column string `json:"column"`
	Days   string `json:"days"`
}

// Table is a table with its columns, primary key, interleaving and
// constraints.
type Table struct {
	Name       string    `json:"name"`
	Columns    []*Column `json:"columns"`
	PrimaryKey []KeyPart `json:"primary_key"`
	// Parent is the table this one is interleaved in, or "".
	Parent string `json:"parent,omitempty"`
	// InParent is true for INTERLEAVE IN PARENT (false for the
	// non-enforcing INTERLEAVE IN).
	InParent bool `json:"in_parent,omitempty"`
	// OnDelete is "CASCADE" or "NO ACTION" for an interleaved table.
	OnDelete          string             `json:"on_delete,omitempty"`
	ForeignKeys       []*ForeignKey      `json:"foreign_keys,omitempty"`
	Checks            []*Check           `json:"checks,omitempty"`
	RowDeletionPolicy *RowDeletionPolicy `json:"row_deletion_policy,omitempty"`
	Synonyms          []string           `json:"synonyms,omitempty"`
	Options           Options            `json:"options,omitempty"`
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// IsKey reports whether the named column is part of the primary key.
func (t *Table) IsKey(name string) bool {
	for _, k := range t.PrimaryKey {
		if strings.EqualFold(k.Column, name) {
			return true
		}
	}
	return false
}

// Index is a secondary index or a search index.
type Index struct {
	Name string `json:"name"`
	// Search is true for a search index (CREATE SEARCH INDEX): its keys
	// are TOKENLIST columns.
	Search       bool      `json:"search,omitempty"`
	Table        string    `json:"table"`
	Unique       bool      `json:"unique,omitempty"`
	NullFiltered bool      `json:"null_filtered,omitempty"`
	Keys         []KeyPart `json:"keys"`
	Storing      []string  `json:"storing,omitempty"`
	// Interleave is the table the index is interleaved in, or "".
	Interleave string `json:"interleave,omitempty"`
	// Where is the SQL of a WHERE … IS NOT NULL filter, or "".
	Where string `json:"where,omitempty"`
	// PartitionBy and OrderBy are a search index's PARTITION BY columns
	// and the SQL of its ORDER BY clause.
	PartitionBy []string `json:"partition_by,omitempty"`
	OrderBy     string   `json:"order_by,omitempty"`
	Options     Options  `json:"options,omitempty"`
}

// keyUses reports whether the named column is one of the index's keys.
func (ix *Index) keyUses(col string) bool {
	for _, k := range ix.Keys {
		if strings.EqualFold(k.Column, col) {
			return true
		}
	}
	return false
}

// uses reports whether the index refers to the named column.
func (ix *Index) uses(col string) bool {
	for _, k := range ix.Keys {
		if strings.EqualFold(k.Column, col) {
			return true
		}
	}
	for _, s := range ix.Storing {
		if strings.EqualFold(s, col) {
			return true
		}
	}
	for _, s := range ix.PartitionBy {
		if strings.EqualFold(s, col) {
			return true
		}
	}
	return ix.OrderBy != "" && exprUses(ix.OrderBy, col)
}

// View is a view.
type View struct {
	Name string `json:"name"`
	// Security is INVOKER or DEFINER.
	Security string `json:"security"`
	// Query is the view's query as SQL.
	Query string `json:"query"`
	// Refs are the lower-cased names the query reads (tables and views).
	Refs []string `json:"-"`
	// Indexes are the lower-cased indexes its FORCE_INDEX hints name.
	Indexes []string `json:"-"`
}

// ChangeStream is a change stream.
type ChangeStream struct {
	Name string `json:"name"`
	// For is the SQL of its FOR clause (FOR ALL, FOR T(c), U), or "".
	For     string  `json:"for,omitempty"`
	Options Options `json:"options,omitempty"`
	// Tables are the lower-cased tables the FOR clause names.
	Tables []string `json:"-"`
	// Columns are the lower-cased "table.column" it names explicitly.
	Columns []string `json:"-"`
}

// Sequence is a sequence.
type Sequence struct {
	Name string `json:"name"`
	// Params is the SQL of the sequence's clauses (BIT_REVERSED_POSITIVE,
	// SKIP RANGE…), or "".
	Params  string  `json:"params,omitempty"`
	Options Options `json:"options,omitempty"`
}

// Other is a statement this model keeps verbatim: a search or vector
// index, a proto bundle, a model, a placement, a locality group, a
// property graph, a function… It is rendered as written and compared as
// text.
type Other struct {
	// Kind names the statement, such as "CREATE SEARCH INDEX".
	Kind string `json:"kind"`
	// Name is the object's name, when it has one.
	Name string `json:"name,omitempty"`
	// Table is the table the object belongs to, when it has one.
	Table string `json:"table,omitempty"`
	SQL   string `json:"sql"`
}

// Schema is a database schema. The zero value is not usable; use New.
type Schema struct {
	// DatabaseName and DatabaseOptions come from ALTER DATABASE … SET
	// OPTIONS.
	DatabaseName    string
	DatabaseOptions Options

	tables    map[string]*Table
	indexes   map[string]*Index
	views     map[string]*View
	streams   map[string]*ChangeStream
	sequences map[string]*Sequence
	roles     map[string]string
	// grants maps a grant's canonical text (one privilege, one object,
	// one role) in lower case to its SQL.
	grants map[string]string
	// protoTypes holds the proto bundle's types (lower-cased full name to
	// full name); bundle is true once a proto bundle exists.
	protoTypes map[string]string
	bundle     bool
	others     []*Other
	// seq numbers objects in creation order, for views whose order
	// matters.
	seq     int
	viewSeq map[string]int
}

// New returns an empty schema.
func New() *Schema {
	return &Schema{
		tables:     map[string]*Table{},
		indexes:    map[string]*Index{},
		views:      map[string]*View{},
		streams:    map[string]*ChangeStream{},
		sequences:  map[string]*Sequence{},
		roles:      map[string]string{},
		grants:     map[string]string{},
		protoTypes: map[string]string{},
		viewSeq:    map[string]int{},
	}
}

// ProtoTypes returns the proto bundle's type names, sorted, and whether a
// proto bundle exists.
func (s *Schema) ProtoTypes() ([]string, bool) {
	out := make([]string, 0, len(s.protoTypes))
	for _, n := range s.protoTypes {
		out = append(out, n)
	}
	sortBy(out, key)
	return out, s.bundle
}

// Table returns the named table, or nil.
func (s *Schema) Table(name string) *Table { return s.tables[key(name)] }

// Index returns the named index, or nil.
func (s *Schema) Index(name string) *Index { return s.indexes[key(name)] }

// View returns the named view, or nil.
func (s *Schema) View(name string) *View { return s.views[key(name)] }

// Tables returns the tables, parents before their children, otherwise by
// name.
func (s *Schema) Tables() []*Table { return s.orderedTables() }

// Indexes returns the indexes sorted by table, then name.
func (s *Schema) Indexes() []*Index {
	out := make([]*Index, 0, len(s.indexes))
	for _, ix := range s.indexes {
		out = append(out, ix)
	}
	sortBy(out, func(ix *Index) string { return key(ix.Table) + "\x00" + key(ix.Name) })
	return out
}

// IndexesOn returns the indexes of the named table, by name.
func (s *Schema) IndexesOn(table string) []*Index {
	var out []*Index
	for _, ix := range s.indexes {
		if strings.EqualFold(ix.Table, table) {
			out = append(out, ix)
		}
	}
	sortBy(out, func(ix *Index) string { return key(ix.Name) })
	return out
}

// Views returns the views, each after the views it reads.
func (s *Schema) Views() []*View { return s.orderedViews() }

// ChangeStreams returns the change streams by name.
func (s *Schema) ChangeStreams() []*ChangeStream {
	return sortedValues(s.streams, func(c *ChangeStream) string { return key(c.Name) })
}

// Sequences returns the sequences by name.
func (s *Schema) Sequences() []*Sequence {
	return sortedValues(s.sequences, func(q *Sequence) string { return key(q.Name) })
}

// Roles returns the role names, sorted.
func (s *Schema) Roles() []string {
	out := make([]string, 0, len(s.roles))
	for _, r := range s.roles {
		out = append(out, r)
	}
	sortBy(out, key)
	return out
}

// Grants returns the grants, one privilege on one object to one role a
// statement, sorted.
func (s *Schema) Grants() []string {
	out := make([]string, 0, len(s.grants))
	for _, g := range s.grants {
		out = append(out, g)
	}
	sortBy(out, key)
	return out
}

// Others returns the statements kept verbatim, in the order they were
// applied.
func (s *Schema) Others() []*Other { return append([]*Other(nil), s.others...) }

// Len returns the number of objects in the schema.
func (s *Schema) Len() int {
	n := len(s.tables) + len(s.indexes) + len(s.views) + len(s.streams) + len(s.sequences) +
		len(s.roles) + len(s.grants) + len(s.others)
	if s.bundle {
		n++
	}
	return n
}

// Clone returns a deep copy of s.
func (s *Schema) Clone() *Schema {
	c := New()
	c.DatabaseName = s.DatabaseName
	c.DatabaseOptions = append(Options(nil), s.DatabaseOptions...)
	for k, t := range s.tables {
		c.tables[k] = t.clone()
	}
	for k, ix := range s.indexes {
		cp := *ix
		cp.Keys = append([]KeyPart(nil), ix.Keys...)
		cp.Storing = append([]string(nil), ix.Storing...)
		cp.PartitionBy = append([]string(nil), ix.PartitionBy...)
		cp.Options = append(Options(nil), ix.Options...)
		c.indexes[k] = &cp
	}
	for k, v := range s.views {
		cp := *v
		cp.Refs = append([]string(nil), v.Refs...)
		cp.Indexes = append([]string(nil), v.Indexes...)
		c.views[k] = &cp
	}
	for k, cs := range s.streams {
		cp := *cs
		cp.Options = append(Options(nil), cs.Options...)
		cp.Tables = append([]string(nil), cs.Tables...)
		cp.Columns = append([]string(nil), cs.Columns...)
		c.streams[k] = &cp
	}
	for k, q := range s.sequences {
		cp := *q
		cp.Options = append(Options(nil), q.Options...)
		c.sequences[k] = &cp
	}
	for k, r := range s.roles {
		c.roles[k] = r
	}
	for k, g := range s.grants {
		c.grants[k] = g
	}
	for k, p := range s.protoTypes {
		c.protoTypes[k] = p
	}
	c.bundle = s.bundle
	for _, o := range s.others {
		cp := *o
		c.others = append(c.others, &cp)
	}
	for k, v := range s.viewSeq {
		c.viewSeq[k] = v
	}
	c.seq = s.seq
	return c
}

func (t *Table) clone() *Table {
	c := *t
	c.Columns = make([]*Column, len(t.Columns))
	for i, col := range t.Columns {
		cc := *col
		cc.Options = append(Options(nil), col.Options...)
		c.Columns[i] = &cc
	}
	c.PrimaryKey = append([]KeyPart(nil), t.PrimaryKey...)
	c.ForeignKeys = make([]*ForeignKey, len(t.ForeignKeys))
	for i, fk := range t.ForeignKeys {
		cp := *fk
		cp.Columns = append([]string(nil), fk.Columns...)
		cp.RefColumns = append([]string(nil), fk.RefColumns...)
		c.ForeignKeys[i] = &cp
	}
	c.Checks = make([]*Check, len(t.Checks))
	for i, ck := range t.Checks {
		cp := *ck
		c.Checks[i] = &cp
	}
	if t.RowDeletionPolicy != nil {
		cp := *t.RowDeletionPolicy
		c.RowDeletionPolicy = &cp
	}
	c.Synonyms = append([]string(nil), t.Synonyms...)
	c.Options = append(Options(nil), t.Options...)
	return &c
}

// Internal reports whether a table is one of spangate's own (its name
// starts with "Spangate", in any case). Dump, diff and drift leave them
// out.
func Internal(table string) bool {
	return len(table) >= 8 && strings.EqualFold(table[:8], "spangate")
}

// WithoutInternal returns a copy of s without spangate's own tables and
// the indexes and other objects that belong to them.
func (s *Schema) WithoutInternal() *Schema {
	c := s.Clone()
	for k, t := range c.tables {
		if Internal(t.Name) {
			delete(c.tables, k)
		}
	}
	for k, ix := range c.indexes {
		if Internal(ix.Table) {
			delete(c.indexes, k)
		}
	}
	var others []*Other
	for _, o := range c.others {
		if o.Table == "" || !Internal(o.Table) {
			others = append(others, o)
		}
	}
	c.others = others
	return c
}

// key folds a name for lookups: Spanner names are case-insensitive.
func key(name string) string { return strings.ToLower(name) }

// Partial returns what a GetDatabaseDdl that shows only CREATE TABLE
// with column names, types, NOT NULL and primary keys (the in-process
// fake's) can show of s: tables with those, and nothing else.
func (s *Schema) Partial() *Schema {
	c := New()
	for k, t := range s.tables {
		pt := &Table{Name: t.Name, PrimaryKey: append([]KeyPart(nil), t.PrimaryKey...)}
		for _, col := range t.Columns {
			pt.Columns = append(pt.Columns, &Column{Name: col.Name, Type: col.Type, NotNull: col.NotNull})
		}
		c.tables[k] = pt
	}
	return c
}
