package sqlstmt_test

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/sqlstmt"
)

// The classifier's fuzz targets generate statements from small grammars,
// keep for each one what it means (an expression tree that can be
// evaluated, a DDL template known to be additive or not), and check the
// classification against that meaning, never against the classifier's own
// rules.

// choices reads decisions from fuzz bytes; when they run out it answers 0.
type choices struct{ b []byte }

func (c *choices) n(k int) int {
	if len(c.b) == 0 || k <= 1 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % k
}

// tri is SQL's three-valued logic: true, false or NULL (an error counts as
// NULL: the statement then changes nothing).
type tri int8

const (
	tFalse tri = iota
	tTrue
	tNull
)

func (a tri) not() tri {
	switch a {
	case tTrue:
		return tFalse
	case tFalse:
		return tTrue
	}
	return tNull
}

func and(a, b tri) tri {
	switch {
	case a == tFalse || b == tFalse:
		return tFalse
	case a == tNull || b == tNull:
		return tNull
	}
	return tTrue
}

func or(a, b tri) tri {
	switch {
	case a == tTrue || b == tTrue:
		return tTrue
	case a == tNull || b == tNull:
		return tNull
	}
	return tFalse
}

// row is one row of T (K1 INT64, K2 INT64, C INT64), its key (K1, K2).
type row struct {
	k1, k2 int64
	c      *int64
}

// env holds the parameter values.
type env struct {
	ints  map[string]int64
	bools map[string]bool
}

// operand is an INT64 term: a column, a literal, a parameter, or a column
// plus a literal. ok is false for NULL (or overflow).
type operand struct {
	sql  string
	eval func(r row, e env) (int64, bool)
	// consts are the integer values the operand spells.
	consts []int64
}

// expr is a boolean expression with its SQL text.
type expr struct {
	sql    string
	eval   func(r row, e env) tri
	consts []int64
}

var literals = []int64{0, 1, 2, 5, 7, 100, 79999, 80000, 80001, -1, -5, math.MaxInt64, math.MinInt64 + 1, 1 << 40}

func genLiteral(c *choices) operand {
	v := literals[c.n(len(literals))]
	sql := fmt.Sprint(v)
	if v < 0 && c.n(2) == 0 {
		sql = "(" + sql + ")"
	}
	return operand{sql: sql, eval: func(row, env) (int64, bool) { return v, true }, consts: []int64{v}}
}

func genParam(c *choices, e env) operand {
	name := fmt.Sprintf("p%d", c.n(3))
	v := e.ints[name]
	return operand{sql: "@" + name, eval: func(_ row, e env) (int64, bool) { return e.ints[name], true }, consts: []int64{v}}
}

func genColumn(c *choices) operand {
	switch c.n(5) {
	case 0, 1:
		q := []string{"K1", "k1", "T.K1", "t.k1", "`K1`"}[c.n(5)]
		return operand{sql: q, eval: func(r row, _ env) (int64, bool) { return r.k1, true }}
	case 2, 3:
		q := []string{"K2", "T.K2", "`k2`"}[c.n(3)]
		return operand{sql: q, eval: func(r row, _ env) (int64, bool) { return r.k2, true }}
	}
	return operand{sql: "C", eval: func(r row, _ env) (int64, bool) {
		if r.c == nil {
			return 0, false
		}
		return *r.c, true
	}}
}

func genOperand(c *choices, e env) operand {
	switch c.n(6) {
	case 0, 1:
		return genColumn(c)
	case 2, 3:
		return genLiteral(c)
	case 4:
		return genParam(c, e)
	}
	a, b := genColumn(c), genLiteral(c)
	return operand{sql: "(" + a.sql + " + " + b.sql + ")", consts: b.consts, eval: func(r row, e env) (int64, bool) {
		x, ok1 := a.eval(r, e)
		y, ok2 := b.eval(r, e)
		s := new(big.Int).Add(big.NewInt(x), big.NewInt(y))
		return s.Int64(), ok1 && ok2 && s.IsInt64()
	}}
}

func cmp(op string, x, y int64) bool {
	switch op {
	case "=":
		return x == y
	case "!=":
		return x != y
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	}
	return x >= y
}

func genExpr(c *choices, e env, depth int) expr {
	k := c.n(11)
	if depth > 3 {
		k = c.n(4)
	}
	switch k {
	case 0, 1, 2:
		a, b := genOperand(c, e), genOperand(c, e)
		op := []string{"=", "!=", "<", "<=", ">", ">="}[c.n(6)]
		return expr{sql: a.sql + " " + op + " " + b.sql, consts: append(a.consts, b.consts...), eval: func(r row, e env) tri {
			x, ok1 := a.eval(r, e)
			y, ok2 := b.eval(r, e)
			if !ok1 || !ok2 {
				return tNull
			}
			if cmp(op, x, y) {
				return tTrue
			}
			return tFalse
		}}
	case 3:
		a, lo, hi := genOperand(c, e), genOperand(c, e), genOperand(c, e)
		not := c.n(3) == 0
		sql := a.sql + " BETWEEN " + lo.sql + " AND " + hi.sql
		if not {
			sql = a.sql + " NOT BETWEEN " + lo.sql + " AND " + hi.sql
		}
		return expr{sql: sql, consts: slices.Concat(a.consts, lo.consts, hi.consts), eval: func(r row, e env) tri {
			x, ok1 := a.eval(r, e)
			l, ok2 := lo.eval(r, e)
			h, ok3 := hi.eval(r, e)
			if !ok1 || !ok2 || !ok3 {
				return tNull
			}
			res := tFalse
			if l <= x && x <= h {
				res = tTrue
			}
			if not {
				return res.not()
			}
			return res
		}}
	case 4:
		a := genOperand(c, e)
		var list []operand
		for range 1 + c.n(3) {
			list = append(list, genOperand(c, e))
		}
		not := c.n(3) == 0
		parts := make([]string, len(list))
		consts := slices.Clone(a.consts)
		for i, o := range list {
			parts[i] = o.sql
			consts = append(consts, o.consts...)
		}
		sql := a.sql + " IN (" + strings.Join(parts, ", ") + ")"
		if not {
			sql = a.sql + " NOT IN (" + strings.Join(parts, ", ") + ")"
		}
		return expr{sql: sql, consts: consts, eval: func(r row, e env) tri {
			x, ok := a.eval(r, e)
			if !ok {
				return tNull
			}
			res := tFalse
			for _, o := range list {
				y, ok := o.eval(r, e)
				switch {
				case !ok:
					if res == tFalse {
						res = tNull
					}
				case x == y:
					res = tTrue
				}
			}
			if not {
				return res.not()
			}
			return res
		}}
	case 5:
		a := genOperand(c, e)
		not := c.n(2) == 0
		sql := a.sql + " IS NULL"
		if not {
			sql = a.sql + " IS NOT NULL"
		}
		return expr{sql: sql, consts: a.consts, eval: func(r row, e env) tri {
			_, ok := a.eval(r, e)
			if ok == not {
				return tTrue
			}
			return tFalse
		}}
	case 6:
		switch c.n(4) {
		case 0:
			return expr{sql: "TRUE", eval: func(row, env) tri { return tTrue }}
		case 1:
			return expr{sql: "FALSE", eval: func(row, env) tri { return tFalse }}
		case 2:
			return expr{sql: "EXISTS(SELECT 1)", eval: func(row, env) tri { return tTrue }}
		}
		name := fmt.Sprintf("b%d", c.n(2))
		return expr{sql: "@" + name, eval: func(_ row, e env) tri {
			if e.bools[name] {
				return tTrue
			}
			return tFalse
		}}
	case 7:
		x := genExpr(c, e, depth+1)
		return expr{sql: "NOT (" + x.sql + ")", consts: x.consts, eval: func(r row, e env) tri { return x.eval(r, e).not() }}
	case 8:
		x := genExpr(c, e, depth+1)
		return expr{sql: "(" + x.sql + ")", consts: x.consts, eval: x.eval}
	case 9:
		x, y := genExpr(c, e, depth+1), genExpr(c, e, depth+1)
		return expr{sql: x.sql + " OR " + y.sql, consts: append(x.consts, y.consts...), eval: func(r row, e env) tri { return or(x.eval(r, e), y.eval(r, e)) }}
	}
	x, y := genExpr(c, e, depth+1), genExpr(c, e, depth+1)
	return expr{sql: x.sql + " AND " + y.sql, consts: append(x.consts, y.consts...), eval: func(r row, e env) tri { return and(x.eval(r, e), y.eval(r, e)) }}
}

// keySamples returns K1 values to try: every constant of the expression
// and its neighbours, the ends of INT64, and values far from any constant.
func keySamples(consts []int64) []int64 {
	out := []int64{math.MinInt64, math.MaxInt64, 0, 3, -3, 1 << 50, -(1 << 50), 123456789}
	for _, k := range consts {
		for _, d := range []int64{-sqlstmt.MaxKeyRange, -1, 0, 1, sqlstmt.MaxKeyRange} {
			v := new(big.Int).Add(big.NewInt(k), big.NewInt(d))
			if v.IsInt64() {
				out = append(out, v.Int64())
			}
		}
	}
	return out
}

// FuzzBoundedWhere generates WHERE clauses over a table keyed (K1, K2) and
// checks every UPDATE and DELETE the classifier calls bounded against the
// expression's meaning: the rows it matches, among many sampled rows, must
// have K1 values that the statement names (a constant or parameter value
// in it) or that lie within MaxKeyRange of each other. Tautologies,
// one-sided and too-wide ranges, ORs and everything that matches K1
// values nobody wrote down must be classified destructive.
func FuzzBoundedWhere(f *testing.F) {
	for _, s := range [][]byte{
		{0, 0, 0, 0, 0},
		{10, 0, 0, 0, 2, 3, 3, 0, 10, 3, 0},
		{3, 0, 0, 2, 1, 2, 2},
		{5, 0, 0, 1},
		{7, 6, 0},
		{4, 0, 0, 0, 2, 3, 2, 5},
		{0, 0, 2, 4, 2, 0, 2},
	} {
		f.Add(s, int64(1), int64(5), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, p0, p1 int64, b0 bool) {
		e := env{ints: map[string]int64{"p0": p0, "p1": p1, "p2": -p0}, bools: map[string]bool{"b0": b0, "b1": !b0}}
		c := &choices{b: data}
		x := genExpr(c, e, 0)
		verb := "DELETE FROM T"
		if c.n(2) == 0 {
			verb = "UPDATE T SET C = 1"
		}
		sql := verb + " WHERE " + x.sql
		st, err := sqlstmt.ParseOne(sql)
		if err != nil {
			return // the generator's SQL does not always parse (e.g. `- -1`); nothing to classify
		}
		params := map[string]any{"p0": p0, "p1": p1, "p2": -p0, "b0": b0, "b1": !b0}
		st = st.WithKeys([]string{"K1", "K2"}, params)
		if st.Destructive {
			return
		}
		named := map[int64]bool{}
		for _, k := range x.consts {
			named[k] = true
		}
		var matched []int64
		seven := int64(7)
		for _, k1 := range keySamples(x.consts) {
			for _, k2 := range []int64{0, 5, math.MaxInt64, -7} {
				for _, cv := range []*int64{nil, &seven} {
					if x.eval(row{k1: k1, k2: k2, c: cv}, e) == tTrue {
						matched = append(matched, k1)
					}
				}
			}
		}
		var loose []int64
		for _, k := range matched {
			if !named[k] {
				loose = append(loose, k)
			}
		}
		if len(loose) == 0 {
			return
		}
		lo, hi := slices.Min(loose), slices.Max(loose)
		if new(big.Int).Sub(big.NewInt(hi), big.NewInt(lo)).Cmp(big.NewInt(sqlstmt.MaxKeyRange)) >= 0 {
			t.Fatalf("%s (p0=%d p1=%d b0=%v) is classified bounded but matches K1 = %d and %d", sql, p0, p1, b0, lo, hi)
		}
		// A range wide enough to match a key no one wrote down, and not
		// bounded by both sides, would show here too.
		for _, k := range loose {
			if k == math.MinInt64 || k == math.MaxInt64 {
				t.Fatalf("%s is classified bounded but matches K1 = %d", sql, k)
			}
		}
	})
}

// ddlTemplate is a DDL statement with what it does to existing data:
// additive ones only add.
type ddlTemplate struct {
	sql      string
	additive bool
}

var ddlTemplates = []ddlTemplate{
	{"CREATE TABLE %s (Id INT64 NOT NULL, Ts TIMESTAMP) PRIMARY KEY (Id)", true},
	{"CREATE TABLE IF NOT EXISTS %s (Id INT64 NOT NULL) PRIMARY KEY (Id)", true},
	{"CREATE TABLE %s (Id INT64 NOT NULL, Ts TIMESTAMP) PRIMARY KEY (Id), ROW DELETION POLICY (OLDER_THAN(Ts, INTERVAL 0 DAY))", false},
	{"CREATE INDEX %sByTs ON %s (Ts)", true},
	{"CREATE UNIQUE NULL_FILTERED INDEX %sByTs ON %s (Ts)", true},
	{"CREATE VIEW %sView SQL SECURITY INVOKER AS SELECT Id FROM %s", true},
	{"CREATE OR REPLACE VIEW %sView SQL SECURITY INVOKER AS SELECT Id FROM %s", false},
	{"CREATE SEQUENCE %sSeq OPTIONS (sequence_kind = 'bit_reversed_positive')", true},
	{"CREATE CHANGE STREAM %sStream FOR %s", true},
	{"ALTER TABLE %s ADD COLUMN Extra STRING(MAX)", true},
	{"ALTER TABLE %s ADD COLUMN IF NOT EXISTS Extra STRING(MAX)", true},
	{"ALTER TABLE %s ADD CONSTRAINT %sCk CHECK (Id > 0)", true},
	{"ALTER TABLE %s ADD CONSTRAINT %sFk FOREIGN KEY (Id) REFERENCES %s (Id)", true},
	{"ALTER TABLE %s ADD CONSTRAINT %sFk FOREIGN KEY (Id) REFERENCES %s (Id) ON DELETE CASCADE", false},
	{"ALTER INDEX %sByTs ADD STORED COLUMN Extra", true},
	{"ALTER INDEX %sByTs DROP STORED COLUMN Extra", false},
	{"ALTER TABLE %s DROP COLUMN Extra", false},
	{"ALTER TABLE %s ALTER COLUMN Extra STRING(10)", false},
	{"ALTER TABLE %s ALTER COLUMN Extra SET OPTIONS (allow_commit_timestamp = true)", false},
	{"ALTER TABLE %s ADD ROW DELETION POLICY (OLDER_THAN(Ts, INTERVAL 0 DAY))", false},
	{"ALTER TABLE %s REPLACE ROW DELETION POLICY (OLDER_THAN(Ts, INTERVAL 1 DAY))", false},
	{"ALTER TABLE %s DROP ROW DELETION POLICY", false},
	{"ALTER TABLE %s DROP CONSTRAINT %sCk", false},
	{"ALTER TABLE %s SET ON DELETE CASCADE", false},
	{"ALTER TABLE %s RENAME TO %sOld", false},
	{"ALTER DATABASE db SET OPTIONS (version_retention_period = '1h')", false},
	{"ALTER CHANGE STREAM %sStream SET FOR %s", false},
	{"ALTER SEQUENCE %sSeq SET OPTIONS (skip_range_min = 1, skip_range_max = 10)", false},
	{"DROP TABLE %s", false},
	{"DROP INDEX %sByTs", false},
	{"DROP VIEW %sView", false},
	{"DROP SEQUENCE %sSeq", false},
	{"DROP CHANGE STREAM %sStream", false},
	{"DROP SCHEMA %s", false},
	{"GRANT SELECT ON TABLE %s TO ROLE reader", false},
	{"REVOKE SELECT ON TABLE %s FROM ROLE reader", false},
	{"CREATE ROLE %sRole", false},
}

// spellings returns a name as a caller may write it.
func spelling(c *choices, name string) string {
	switch c.n(6) {
	case 1:
		return strings.ToLower(name)
	case 2:
		return strings.ToUpper(name)
	case 3:
		return "`" + name + "`"
	case 4:
		// An escape inside a quoted name: memefish decodes it.
		return "`" + strings.Replace(name, "a", `\x61`, 1) + "`"
	case 5:
		var b strings.Builder
		for i, r := range name {
			if i%2 == 0 {
				b.WriteString(strings.ToUpper(string(r)))
			} else {
				b.WriteString(strings.ToLower(string(r)))
			}
		}
		return b.String()
	}
	return name
}

var objectNames = []string{"Orders", "Lines", "SpangateAudit", "SpangateAuditHead", "SpangateAuditKeys", "SpangateMigrations", "SpangateLocks", "SpangateFuture"}

// FuzzDDLClass generates DDL from templates whose effect is known and
// checks that nothing that is not additive is classified below destructive,
// that additive statements need only ddl, and that every statement naming
// one of spangate's objects, however spelt, is protected.
func FuzzDDLClass(f *testing.F) {
	for i := range ddlTemplates {
		f.Add([]byte{byte(i), 0, 0, 0})
		f.Add([]byte{byte(i), 2, 3, 4})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &choices{b: data}
		tpl := ddlTemplates[c.n(len(ddlTemplates))]
		name := objectNames[c.n(len(objectNames))]
		protected := strings.HasPrefix(name, "Spangate")
		// Each %s, with the letters that follow it, is one name, spelt
		// as a caller may.
		var b strings.Builder
		names := 0
		for rest := tpl.sql; rest != ""; {
			i := strings.Index(rest, "%s")
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i])
			rest = rest[i+2:]
			j := 0
			for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
				j++
			}
			b.WriteString(spelling(c, name+rest[:j]))
			rest = rest[j:]
			names++
		}
		sql := b.String()
		st, err := sqlstmt.ParseOne(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if names > 0 && protected && st.Protected == "" {
			t.Fatalf("%s names %s but is not protected", sql, name)
		}
		if names > 0 && !protected && st.Protected != "" {
			t.Fatalf("%s is protected (%s) but names no spangate object", sql, st.Protected)
		}
		if st.Destructive == tpl.additive {
			t.Fatalf("%s: destructive = %v (%s), want %v", sql, st.Destructive, st.DestructiveReason, !tpl.additive)
		}
	})
}
