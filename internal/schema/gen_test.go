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
// refuses is not kept), and the emulator checks the model.
type gen struct {
	r *rand.Rand
	n int // names made so far
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) name(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

var genTypes = []string{"INT64", "STRING(16)", "STRING(MAX)", "BYTES(32)", "BOOL", "FLOAT64", "TIMESTAMP", "DATE", "NUMERIC", "JSON", "ARRAY<INT64>", "ARRAY<STRING(8)>"}

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

// schema returns the DDL of a random schema.
func (g *gen) schema() []string {
	var ddl []string
	type tbl struct {
		name string
		keys []string
	}
	var tables []tbl
	nt := 1 + g.pick(5)
	for i := 0; i < nt; i++ {
		name := g.name("T")
		var cols, keys []string
		interleave := ""
		if len(tables) > 0 && g.chance(0.35) {
			p := tables[g.pick(len(tables))]
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
		cols = append(cols, own+" INT64 NOT NULL")
		keys = append(keys, own)
		for j := 0; j < 1+g.pick(4); j++ {
			cols = append(cols, g.column(g.name("C")))
		}
		var cons []string
		if len(tables) > 0 && g.chance(0.3) {
			ref := tables[g.pick(len(tables))]
			if len(ref.keys) == 1 {
				fk := g.name("Ref")
				cols = append(cols, fk+" INT64")
				cons = append(cons, fmt.Sprintf("CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", g.name("FK"), fk, ref.name, ref.keys[0]))
			}
		}
		if g.chance(0.3) {
			cons = append(cons, fmt.Sprintf("CONSTRAINT %s CHECK (%s >= 0)", g.name("CK"), own))
		}
		ddl = append(ddl, "CREATE TABLE "+name+" (\n  "+strings.Join(append(cols, cons...), ",\n  ")+"\n) PRIMARY KEY ("+strings.Join(keys, ", ")+")"+interleave)
		tables = append(tables, tbl{name, keys})
	}
	return ddl
}

// indexable returns the non-key scalar columns of t that may be index keys.
func indexable(t *schema.Table) []*schema.Column {
	var out []*schema.Column
	for _, c := range t.Columns {
		if !t.IsKey(c.Name) && !c.Type.Array && c.Type.Base != "JSON" && c.Generated == "" {
			out = append(out, c)
		}
	}
	return out
}

// mutate returns the DDL of one random change to s that the model
// accepts, applied to s; "" when the change it tried did not apply.
func (g *gen) mutate(s *schema.Schema) []string {
	tables := s.Tables()
	if len(tables) == 0 {
		return g.try(s, g.schema()[:1])
	}
	t := tables[g.pick(len(tables))]
	switch g.pick(16) {
	case 0:
		name := g.name("T")
		col := g.column(g.name("C"))
		return g.try(s, []string{fmt.Sprintf("CREATE TABLE %s (%sId INT64 NOT NULL, %s) PRIMARY KEY (%sId)", name, name, col, name)})
	case 1: // drop a table with no children, after its indexes
		var stmts []string
		for _, ix := range s.IndexesOn(t.Name) {
			stmts = append(stmts, "DROP INDEX "+ix.Name)
		}
		return g.try(s, append(stmts, "DROP TABLE "+t.Name))
	case 2:
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.Name, g.name("C"), g.colType())})
	case 3: // drop a column after the indexes that use it
		cols := indexable(t)
		if len(cols) == 0 {
			return nil
		}
		c := cols[g.pick(len(cols))]
		var stmts []string
		for _, ix := range s.IndexesOn(t.Name) {
			if indexUses(ix, c.Name) {
				stmts = append(stmts, "DROP INDEX "+ix.Name)
			}
		}
		return g.try(s, append(stmts, "ALTER TABLE "+t.Name+" DROP COLUMN "+c.Name))
	case 4, 5: // change a STRING/BYTES length or kind, or NOT NULL
		for _, c := range t.Columns {
			if t.IsKey(c.Name) || c.Type.Array || (c.Type.Base != "STRING" && c.Type.Base != "BYTES") || g.indexed(s, t, c) {
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
			if t.IsKey(c.Name) || d == "" || c.Type.Array {
				continue
			}
			if c.Default != "" && !c.NotNull {
				return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", t.Name, c.Name)})
			}
			return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT (%s)", t.Name, c.Name, d)})
		}
	case 7, 8: // add an index
		cols := indexable(t)
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
		return g.try(s, []string{"DROP INDEX " + ixs[g.pick(len(ixs))].Name})
	case 10: // checks
		if len(t.Checks) > 0 && t.Checks[0].Name != "" {
			return g.try(s, []string{"ALTER TABLE " + t.Name + " DROP CONSTRAINT " + t.Checks[0].Name})
		}
		own := t.PrimaryKey[len(t.PrimaryKey)-1].Column
		return g.try(s, []string{fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s > -1)", t.Name, g.name("CK"), own)})
	case 11: // foreign keys
		if len(t.ForeignKeys) > 0 {
			return g.try(s, []string{"ALTER TABLE " + t.Name + " DROP CONSTRAINT " + t.ForeignKeys[0].Name})
		}
		ref := tables[g.pick(len(tables))]
		if len(ref.PrimaryKey) != 1 {
			return nil
		}
		col := g.name("Ref")
		return g.try(s, []string{
			fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INT64", t.Name, col),
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)", t.Name, g.name("FK"), col, ref.Name, ref.PrimaryKey[0].Column),
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
	case 14: // views
		vs := s.Views()
		if len(vs) > 0 && g.chance(0.5) {
			if g.chance(0.5) {
				return g.try(s, []string{"DROP VIEW " + vs[0].Name})
			}
			return g.try(s, []string{fmt.Sprintf("CREATE OR REPLACE VIEW %s SQL SECURITY INVOKER AS SELECT t.%s FROM %s AS t WHERE t.%s > %d",
				vs[0].Name, t.PrimaryKey[0].Column, t.Name, t.PrimaryKey[0].Column, g.pick(100))})
		}
		return g.try(s, []string{fmt.Sprintf("CREATE VIEW %s SQL SECURITY INVOKER AS SELECT t.%s FROM %s AS t", g.name("V"), t.PrimaryKey[0].Column, t.Name)})
	case 15: // change streams
		cs := s.ChangeStreams()
		if len(cs) > 0 {
			switch g.pick(3) {
			case 0:
				return g.try(s, []string{"DROP CHANGE STREAM " + cs[0].Name})
			case 1:
				return g.try(s, []string{"ALTER CHANGE STREAM " + cs[0].Name + " SET FOR " + t.Name})
			default:
				return g.try(s, []string{"ALTER CHANGE STREAM " + cs[0].Name + " SET OPTIONS (retention_period = '" + fmt.Sprint(24+g.pick(48)) + "h')"})
			}
		}
		return g.try(s, []string{"CREATE CHANGE STREAM " + g.name("CS") + " FOR " + t.Name})
	}
	return nil
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
