package schema_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/spangate/spangate/internal/schema"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// gen builds random valid schemas and random valid changes to them, as
// DDL text. Validity is checked with the model itself (a change the model
// refuses is not kept), and the emulator checks the model. Every name
// starts with ns, so the schemas of several generators can share one
// database.
type gen struct {
	r  *rand.Rand
	ns string
	n  int // names made so far
	// streams allows change streams (the emulator allows 10 per
	// database, so only some generators of a batch make them).
	streams bool
}

// protoBundle is the proto bundle every generated schema starts with (the
// tests' descriptors hold its types).
const protoBundle = "CREATE PROTO BUNDLE (ex.M1, ex.M2, ex.E)"

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ns: fmt.Sprintf("Q%d_", seed), streams: seed%10 == 0}
}

func (g *gen) name(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%s%d", g.ns, prefix, g.n)
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

var genTypes = []string{"INT64", "INT64", "STRING(16)", "STRING(MAX)", "BYTES(32)", "BYTES(MAX)", "BOOL", "FLOAT64", "TIMESTAMP", "DATE", "NUMERIC", "JSON",
	"ARRAY<INT64>", "ARRAY<STRING(8)>", "ex.M1", "ex.E"}

func (g *gen) colType() string { return genTypes[g.pick(len(genTypes))] }

func defaultFor(typ string) string {
	switch {
	case typ == "INT64":
		return "0"
	case strings.HasPrefix(typ, "STRING"):
		return "'x'"
	case typ == "BOOL":
		return "false"
	case typ == "FLOAT64":
		return "1.5"
	}
	return ""
}

func (g *gen) column(name string) string {
	typ := g.colType()
	s := name + " " + typ
	d := defaultFor(typ)
	if d != "" && g.chance(0.3) {
		if g.chance(0.5) {
			s += " NOT NULL"
		}
		s += " DEFAULT (" + d + ")"
	}
	if typ == "TIMESTAMP" && g.chance(0.5) {
		s += " OPTIONS (allow_commit_timestamp = true)"
	}
	return s
}

// schema returns the DDL of a random schema: tables, some interleaved,
// with foreign keys and checks.
func (g *gen) schema() []string {
	var ddl []string
	type tbl struct {
		name   string
		keys   []string
		intKey bool
	}
	var tables []tbl
	nt := 1 + g.pick(4)
	for i := 0; i < nt; i++ {
		name := g.name("T")
		var cols, keys []string
		interleave := ""
		var p tbl
		if len(tables) > 0 {
			p = tables[g.pick(len(tables))]
		}
		if p.intKey && g.chance(0.35) {
			for _, k := range p.keys {
				cols = append(cols, k+" INT64 NOT NULL")
			}
			keys = append(keys, p.keys...)
			interleave = ",\n  INTERLEAVE IN PARENT " + p.name
			if g.chance(0.5) {
				interleave += " ON DELETE CASCADE"
			}
		}
		own := name + "Id"
		intKey := true
		if interleave == "" && g.chance(0.2) {
			intKey = false
			// A STRING key, whose length may change.
			cols = append(cols, own+" STRING(10) NOT NULL")
		} else {
			cols = append(cols, own+" INT64 NOT NULL")
		}
		keys = append(keys, own)
		for j := 0; j < 1+g.pick(4); j++ {
			cols = append(cols, g.column(g.name("C")))
		}
		var cons []string
		if len(tables) > 0 && g.chance(0.3) {
			ref := tables[g.pick(len(tables))]
			if len(ref.keys) == 1 && ref.intKey {
				fk := g.name("Ref")
				cols = append(cols, fk+" INT64")
				cons = append(cons, fmt.Sprintf("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", g.name("FK"), fk, ref.name, ref.keys[0]))
			}
		}
		if g.chance(0.3) {
			cons = append(cons, fmt.Sprintf("CONSTRAINT %s CHECK (%s IS NOT NULL)", g.name("CK"), own))
		}
		ddl = append(ddl, "CREATE TABLE "+name+" (\n  "+strings.Join(append(cols, cons...), ",\n  ")+"\n) PRIMARY KEY ("+strings.Join(keys, ", ")+")"+interleave)
		tables = append(tables, tbl{name, keys, intKey})
	}
	return ddl
}

// build returns a random schema: the tables of schema() after a few
// random changes, so that it holds indexes, views, change streams and the
// rest too.
func (g *gen) build() (*schema.Schema, error) {
	s, err := schema.Parse("gen.sql", protoBundle+";\n"+strings.Join(g.schema(), ";\n"))
	if err != nil {
		return nil, err
	}
	for j := 0; j < g.pick(8); j++ {
		g.mutate(s)
	}
	return s, nil
}

// plain returns the non-key, non-generated columns of t of a scalar type
// that may be index keys.
func plain(t *schema.Table) []*schema.Column {
	var out []*schema.Column
	for _, c := range t.Columns {
		if !t.IsKey(c.Name) && !c.Type.Array && !c.Type.Named && c.Type.Base != "JSON" && c.Type.Base != "TOKENLIST" && c.Generated == "" {
			out = append(out, c)
		}
	}
	return out
}

func ofBase(cols []*schema.Column, base string) []*schema.Column {
	var out []*schema.Column
	for _, c := range cols {
		if c.Type.Base == base {
			out = append(out, c)
		}
	}
	return out
}

// dependants returns the statements that drop what uses column col of t
// (or all of t when col is ""): indexes, foreign keys of any table,
// checks, generated columns, views and change streams.
func dependants(s *schema.Schema, t *schema.Table, col string) []string {
	var stmts []string
	uses := func(names ...string) bool {
		if col == "" {
			return true
		}
		for _, n := range names {
			if strings.EqualFold(n, col) {
				return true
			}
		}
		return false
	}
	for _, v := range s.Views() {
		if strings.Contains(strings.ToLower(v.Query), strings.ToLower(t.Name)+" ") {
			stmts = append(stmts, "DROP VIEW "+v.Name)
		}
	}
	for _, cs := range s.ChangeStreams() {
		if strings.Contains(strings.ToLower(cs.For), strings.ToLower(t.Name)) {
			stmts = append(stmts, "DROP CHANGE STREAM "+cs.Name)
		}
	}
	for _, ix := range s.IndexesOn(t.Name) {
		names := append([]string(nil), ix.Storing...)
		for _, k := range ix.Keys {
			names = append(names, k.Column)
		}
		if uses(names...) || (col != "" && usesGenerated(t, names, col)) {
			stmts = append(stmts, "DROP INDEX "+ix.Name)
		}
	}
	for _, other := range s.Tables() {
		for _, fk := range other.ForeignKeys {
			if strings.EqualFold(fk.RefTable, t.Name) && !strings.EqualFold(other.Name, t.Name) && uses(fk.RefColumns...) {
				stmts = append(stmts, "ALTER TABLE "+other.Name+" DROP CONSTRAINT "+fk.Name)
			}
		}
	}
	if col != "" {
		for _, fk := range t.ForeignKeys {
			if uses(fk.Columns...) || uses(fk.RefColumns...) && strings.EqualFold(fk.RefTable, t.Name) {
				stmts = append(stmts, "ALTER TABLE "+t.Name+" DROP CONSTRAINT "+fk.Name)
			}
		}
		for _, c := range t.Columns {
			if c.Generated != "" && !strings.EqualFold(c.Name, col) && strings.Contains(c.Generated, col) {
				stmts = append(stmts, "ALTER TABLE "+t.Name+" DROP COLUMN "+c.Name)
			}
		}
	}
	return stmts
}

func usesGenerated(t *schema.Table, names []string, col string) bool {
	for _, n := range names {
		if c := t.Column(n); c != nil && c.Generated != "" && strings.Contains(c.Generated, col) {
			return true
		}
	}
	return false
}

// mutate applies one random change to s that the model accepts and
// returns its DDL; nil when the change it tried did not apply.
func (g *gen) mutate(s *schema.Schema) []string {
	tables := s.Tables()
	if len(tables) == 0 {
		return g.try(s, g.schema()[:1])
	}
	t := tables[g.pick(len(tables))]
	switch g.pick(27) {
	case 0:
		name := g.name("T")
		col := g.column(g.name("C"))
		return g.try(s, []string{fmt.Sprintf("CREATE TABLE %s (%sId INT64 NOT NULL, %s) PRIMARY KEY (%sId)", name, name, col, name)})
	case 1: // drop a table after what depends on it
		return g.try(s, append(dependants(s, t, ""), "DROP TABLE "+t.Name))
	case 2:
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.Name, g.name("C"), g.colType())})
	case 3: // drop a column after what depends on it
		var cols []*schema.Column
		for _, c := range t.Columns {
			if !t.IsKey(c.Name) {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			return nil
		}
		c := cols[g.pick(len(cols))]
		return g.try(s, append(dependants(s, t, c.Name), "ALTER TABLE "+t.Name+" DROP COLUMN "+c.Name))
	case 4, 5: // change a STRING/BYTES length or kind, or NOT NULL
		for _, c := range plain(t) {
			if c.Type.Base != "STRING" && c.Type.Base != "BYTES" || readByGenerated(t, c.Name) {
				continue
			}
			nt := c.Type
			switch g.pick(3) {
			case 0:
				nt.Size = int64(1 + g.pick(64))
			case 1:
				nt.Size = schema.MaxSize
			case 2:
				if nt.Base == "STRING" {
					nt.Base = "BYTES"
				} else {
					nt.Base = "STRING"
				}
				if c.Default != "" {
					continue
				}
			}
			stmt := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s %s", t.Name, c.Name, nt)
			if g.chance(0.3) {
				stmt += " NOT NULL"
			}
			if c.Default != "" && nt.Base == c.Type.Base {
				stmt += " DEFAULT (" + c.Default + ")"
			}
			return g.try(s, []string{stmt})
		}
	case 6: // defaults
		for _, c := range t.Columns {
			d := defaultFor(c.Type.String())
			if t.IsKey(c.Name) || d == "" || c.Type.Array || c.Generated != "" {
				continue
			}
			if c.Default != "" && !c.NotNull {
				return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", t.Name, c.Name)})
			}
			return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT (%s)", t.Name, c.Name, d)})
		}
	case 7, 8: // add an index
		cols := plain(t)
		for _, c := range t.Columns {
			if c.Generated != "" && c.Type.Base == "INT64" {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			return nil
		}
		c := cols[g.pick(len(cols))]
		mod := ""
		if g.chance(0.3) {
			mod = "NULL_FILTERED "
		}
		stmt := fmt.Sprintf("CREATE %sINDEX %s ON %s (%s", mod, g.name("Ix"), t.Name, c.Name)
		if g.chance(0.3) {
			stmt += " DESC"
		}
		stmt += ")"
		if len(cols) > 1 && g.chance(0.4) {
			other := cols[g.pick(len(cols))]
			if other != c {
				stmt += " STORING (" + other.Name + ")"
			}
		}
		if t.Parent != "" && g.chance(0.4) {
			stmt += ", INTERLEAVE IN " + t.Parent
		}
		return g.try(s, []string{stmt})
	case 9:
		ixs := s.IndexesOn(t.Name)
		if len(ixs) == 0 {
			return nil
		}
		ix := ixs[g.pick(len(ixs))]
		verb := "DROP INDEX "
		if ix.Search {
			verb = "DROP SEARCH INDEX "
		}
		return g.try(s, []string{verb + ix.Name})
	case 10: // checks
		if len(t.Checks) > 0 && t.Checks[0].Name != "" {
			return g.try(s, []string{"ALTER TABLE " + t.Name + " DROP CONSTRAINT " + t.Checks[0].Name})
		}
		own := t.PrimaryKey[len(t.PrimaryKey)-1].Column
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL)", t.Name, g.name("CK"), own)})
	case 11: // foreign keys, to a key or to any INT64 column
		if len(t.ForeignKeys) > 0 && g.chance(0.4) {
			return g.try(s, []string{"ALTER TABLE " + t.Name + " DROP CONSTRAINT " + t.ForeignKeys[0].Name})
		}
		ref := tables[g.pick(len(tables))]
		target := ""
		if ints := ofBase(plain(ref), "INT64"); len(ints) > 0 && g.chance(0.5) {
			target = ints[g.pick(len(ints))].Name
		} else if len(ref.PrimaryKey) == 1 && ref.Column(ref.PrimaryKey[0].Column).Type.Base == "INT64" {
			target = ref.PrimaryKey[0].Column
		}
		if target == "" {
			return nil
		}
		col := g.name("Ref")
		return g.try(s, []string{
			fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INT64", t.Name, col),
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", t.Name, g.name("FK"), col, ref.Name, target),
		})
	case 12: // commit timestamps
		for _, c := range t.Columns {
			if c.Type.Base == "TIMESTAMP" && !c.Type.Array {
				v := "true"
				if c.AllowCommitTimestamp() {
					v = "null"
				}
				return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET OPTIONS (allow_commit_timestamp = %s)", t.Name, c.Name, v)})
			}
		}
	case 13:
		if t.Parent != "" && t.InParent {
			od := "CASCADE"
			if t.OnDelete == "CASCADE" {
				od = "NO ACTION"
			}
			return g.try(s, []string{"ALTER TABLE " + t.Name + " SET ON DELETE " + od})
		}
	case 14: // views, over the key and maybe another column
		sel := "t." + t.PrimaryKey[0].Column
		if cols := plain(t); len(cols) > 0 && g.chance(0.6) {
			sel += ", t." + cols[g.pick(len(cols))].Name
		}
		vs := s.Views()
		if len(vs) > 0 && g.chance(0.5) {
			if g.chance(0.5) {
				return g.try(s, []string{"DROP VIEW " + vs[0].Name})
			}
			return g.try(s, []string{fmt.Sprintf("CREATE OR REPLACE VIEW %s SQL SECURITY INVOKER AS SELECT %s FROM %s AS t WHERE t.%s IS NOT NULL",
				vs[0].Name, sel, t.Name, t.PrimaryKey[0].Column)})
		}
		return g.try(s, []string{fmt.Sprintf("CREATE VIEW %s SQL SECURITY INVOKER AS SELECT %s FROM %s AS t", g.name("V"), sel, t.Name)})
	case 15: // change streams, at most one per schema
		if !g.streams {
			return nil
		}
		cs := s.ChangeStreams()
		if len(cs) > 0 {
			switch g.pick(4) {
			case 0:
				return g.try(s, []string{"DROP CHANGE STREAM " + cs[0].Name})
			case 1:
				return g.try(s, []string{"ALTER CHANGE STREAM " + cs[0].Name + " SET FOR " + t.Name})
			case 2:
				if cols := plain(t); len(cols) > 0 {
					return g.try(s, []string{"ALTER CHANGE STREAM " + cs[0].Name + " SET FOR " + t.Name + "(" + cols[g.pick(len(cols))].Name + ")"})
				}
				return nil
			default:
				return g.try(s, []string{"ALTER CHANGE STREAM " + cs[0].Name + " SET OPTIONS (retention_period = '" + fmt.Sprint(24+g.pick(48)) + "h')"})
			}
		}
		return g.try(s, []string{"CREATE CHANGE STREAM " + g.name("CS") + " FOR " + t.Name})
	case 16: // a stored generated column over an INT64 column
		ints := ofBase(plain(t), "INT64")
		if len(ints) == 0 {
			return nil
		}
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INT64 AS (%s + %d) STORED", t.Name, g.name("G"), ints[g.pick(len(ints))].Name, g.pick(9))})
	case 17: // a generated column recomputed differently
		for _, c := range t.Columns {
			if c.Generated == "" || c.Type.Base != "INT64" {
				continue
			}
			stmts := dependants(s, t, c.Name)
			stmts = append(stmts, "ALTER TABLE "+t.Name+" DROP COLUMN "+c.Name, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INT64 AS (%s * 2) STORED", t.Name, c.Name, c.Generated))
			for _, st := range stmts {
				if strings.HasPrefix(st, "DROP INDEX ") {
					// Keep the indexes: they are created again.
					if ix := s.Index(strings.TrimPrefix(st, "DROP INDEX ")); ix != nil {
						stmts = append(stmts, ix.SQL())
					}
				}
			}
			return g.try(s, stmts)
		}
	case 18: // a search index over a TOKENLIST column, and what it stores
		for _, ix := range s.IndexesOn(t.Name) {
			if ix.Search {
				ints := plain(t)
				if len(ix.Storing) > 0 && g.chance(0.5) {
					return g.try(s, []string{"ALTER SEARCH INDEX " + ix.Name + " DROP STORED COLUMN " + ix.Storing[0]})
				}
				if len(ints) > 0 {
					return g.try(s, []string{"ALTER SEARCH INDEX " + ix.Name + " ADD STORED COLUMN " + ints[g.pick(len(ints))].Name})
				}
				return nil
			}
		}
		strs := ofBase(plain(t), "STRING")
		if len(strs) == 0 {
			return nil
		}
		tok := g.name("Tok")
		return g.try(s, []string{
			fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s TOKENLIST AS (TOKENIZE_FULLTEXT(%s)) HIDDEN", t.Name, tok, strs[g.pick(len(strs))].Name),
			fmt.Sprintf("CREATE SEARCH INDEX %s ON %s (%s)", g.name("Si"), t.Name, tok),
		})
	case 19: // a new NOT NULL column without a default in the end
		typ := []string{"INT64", "STRING(20)", "BOOL", "DATE", "TIMESTAMP", "FLOAT64", "BYTES(MAX)", "ARRAY<INT64>"}[g.pick(8)]
		c := g.name("N")
		return g.try(s, []string{
			fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s NOT NULL DEFAULT (%s)", t.Name, c, typ, zeroFor(typ)),
			fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", t.Name, c),
		})
	case 20: // a STRING key column made longer or shorter
		k := t.Column(t.PrimaryKey[len(t.PrimaryKey)-1].Column)
		if k.Type.Base != "STRING" {
			return nil
		}
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s STRING(%d) NOT NULL", t.Name, k.Name, 5+g.pick(30))})
	case 21: // NOT NULL of an index key: the index goes and comes back
		for _, ix := range s.IndexesOn(t.Name) {
			if ix.Search || ix.NullFiltered {
				continue
			}
			c := t.Column(ix.Keys[0].Column)
			if c == nil || c.Generated != "" || t.IsKey(c.Name) || c.Default != "" {
				continue
			}
			nn := ""
			if !c.NotNull {
				nn = " NOT NULL"
			}
			return g.try(s, []string{"DROP INDEX " + ix.Name, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s %s%s", t.Name, c.Name, c.Type, nn), ix.SQL()})
		}
	case 22: // sequences behind a default
		for _, q := range s.Sequences() {
			for _, c := range t.Columns {
				if strings.Contains(c.Default, q.Name) {
					return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", t.Name, c.Name)})
				}
			}
			if g.chance(0.5) {
				return g.try(s, []string{"DROP SEQUENCE " + q.Name})
			}
		}
		q := g.name("Seq")
		return g.try(s, []string{
			"CREATE SEQUENCE " + q + " OPTIONS (sequence_kind = 'bit_reversed_positive')",
			fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INT64 DEFAULT (GET_NEXT_SEQUENCE_VALUE(SEQUENCE %s))", t.Name, g.name("S"), q),
		})
	case 23: // proto and enum columns change type
		for _, c := range t.Columns {
			if t.IsKey(c.Name) || c.Generated != "" || c.Type.Array || c.Default != "" {
				continue
			}
			var to string
			switch {
			case c.Type.Base == "ex.M1":
				to = []string{"ex.M2", "BYTES(MAX)"}[g.pick(2)]
			case c.Type.Base == "ex.M2":
				to = "ex.M1"
			case c.Type.Base == "BYTES":
				to = "ex.M1"
			case c.Type.Base == "ex.E":
				to = "INT64"
			case c.Type.Base == "INT64":
				to = "ex.E"
			default:
				continue
			}
			if fkUses(s, t, c.Name) || g.indexed(s, t, c) || readByGenerated(t, c.Name) {
				continue
			}
			return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s %s", t.Name, c.Name, to)})
		}
	case 24: // row deletion policies
		if t.RowDeletionPolicy != nil {
			return g.try(s, []string{"ALTER TABLE " + t.Name + " DROP ROW DELETION POLICY"})
		}
		for _, c := range t.Columns {
			if c.Type.Base == "TIMESTAMP" && !c.Type.Array {
				return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD ROW DELETION POLICY (OLDER_THAN(%s, INTERVAL %d DAY))", t.Name, c.Name, 1+g.pick(30))})
			}
		}
	case 26: // a table in a named schema, or the schema dropped with its tables
		var in []*schema.Table
		for _, x := range tables {
			if strings.Contains(x.Name, ".") {
				in = append(in, x)
			}
		}
		if len(in) > 0 && g.chance(0.5) {
			var stmts []string
			for _, x := range in {
				stmts = append(append(stmts, dependants(s, x, "")...), "DROP TABLE "+x.Name)
			}
			sch, _, _ := strings.Cut(in[0].Name, ".")
			return g.try(s, append(stmts, "DROP SCHEMA "+sch))
		}
		sch := g.ns + "sch"
		var stmts []string
		if len(in) == 0 {
			stmts = append(stmts, "CREATE SCHEMA "+sch)
		}
		name := sch + "." + g.name("T")
		return g.try(s, append(stmts, fmt.Sprintf("CREATE TABLE %s (Id INT64 NOT NULL, %s) PRIMARY KEY (Id)", name, g.column(g.name("C")))))
	case 25: // a STRING column a view reads becomes BYTES
		for _, c := range ofBase(plain(t), "STRING") {
			if g.indexed(s, t, c) || fkUses(s, t, c.Name) || c.Default != "" {
				continue
			}
			view := g.name("V")
			return g.try(s, []string{
				fmt.Sprintf("CREATE VIEW %s SQL SECURITY INVOKER AS SELECT t.%s FROM %s AS t", view, c.Name, t.Name),
			})
		}
	}
	return nil
}

func zeroFor(typ string) string {
	switch typ {
	case "INT64":
		return "7"
	case "STRING(20)":
		return "'z'"
	case "BOOL":
		return "true"
	case "DATE":
		return "DATE '2020-01-02'"
	case "TIMESTAMP":
		return "TIMESTAMP '2020-01-02T00:00:00Z'"
	case "FLOAT64":
		return "2.5"
	case "BYTES(MAX)":
		return "b'z'"
	}
	return "[1]"
}

func fkUses(s *schema.Schema, t *schema.Table, col string) bool {
	for _, other := range s.Tables() {
		for _, fk := range other.ForeignKeys {
			if strings.EqualFold(other.Name, t.Name) && containsFold(fk.Columns, col) {
				return true
			}
			if strings.EqualFold(fk.RefTable, t.Name) && containsFold(fk.RefColumns, col) {
				return true
			}
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (g *gen) indexed(s *schema.Schema, t *schema.Table, c *schema.Column) bool {
	for _, ix := range s.IndexesOn(t.Name) {
		if indexUses(ix, c.Name) {
			return true
		}
	}
	return false
}

// try applies stmts to a copy of s; if all apply, it applies them to s
// and returns them.
func (g *gen) try(s *schema.Schema, stmts []string) []string {
	c := s.Clone()
	for _, st := range stmts {
		if _, err := applyText(c, st); err != nil {
			return nil
		}
	}
	for _, st := range stmts {
		if _, err := applyText(s, st); err != nil {
			panic(err)
		}
	}
	return stmts
}

func applyText(s *schema.Schema, text string) (*schema.Schema, error) {
	st, err := sqlstmt.ParseOne(text)
	if err != nil {
		return s, err
	}
	return s, s.Apply("gen", &st)
}

func indexUses(ix *schema.Index, col string) bool {
	for _, k := range ix.Keys {
		if strings.EqualFold(k.Column, col) {
			return true
		}
	}
	for _, c := range ix.Storing {
		if strings.EqualFold(c, col) {
			return true
		}
	}
	return false
}

// readByGenerated reports whether a generated column of t reads col (a
// type change of col could break its expression).
func readByGenerated(t *schema.Table, col string) bool {
	for _, c := range t.Columns {
		if c.Generated != "" && strings.Contains(c.Generated, col) {
			return true
		}
	}
	return false
}
