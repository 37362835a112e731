package sqlstmt

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"
)

// The WHERE key analysis. One implementation answers every question
// spangate asks of an UPDATE's or DELETE's WHERE clause: does it fix or
// range the table's primary key (policy: is the statement bounded), does it
// fix every key column (lint: how many rows can it touch), and which key
// values does it name (audit: keys read off the statement).
//
// Only the top-level conjunction counts: the WHERE is split at AND (through
// parentheses), and each part is read on its own. A part constrains a key
// column when it is one of
//
//	col = v          v = col
//	col IN (v, …)    col IN UNNEST(@array)    col IN UNNEST([v, …])
//	col BETWEEN v AND w
//	col < v, col <= v, col > v, col >= v   (and mirrored)
//
// where col names the column (bare, or qualified by the table's name or
// alias) and v, w are literals or query parameters. Anything else — OR,
// NOT, NOT IN, functions, subqueries, a column compared with a column, IS
// [NOT] NULL, a bare parameter — constrains nothing. A conjunction only
// narrows what its parts select, so parts that constrain nothing never
// widen what the others fix.

// MaxKeyRange is the widest range of INT64 key values a WHERE may select
// and still be bounded (both bounds given as integers). It is Spanner's
// limit on mutations in one commit: a wider range is a bulk change.
const MaxKeyRange = 80000

// ConstraintOp is how a conjunct constrains a key column.
type ConstraintOp int

// The constraint operators.
const (
	// OpEq is col = v; Values holds v.
	OpEq ConstraintOp = iota + 1
	// OpIn is col IN (…); Values holds the list, or the one array
	// (UNNEST) expression.
	OpIn
	// OpLower is col > v or col >= v (Inclusive); Values holds v.
	OpLower
	// OpUpper is col < v or col <= v (Inclusive); Values holds v.
	OpUpper
)

// Constraint is one conjunct's constraint on a key column.
type Constraint struct {
	Op        ConstraintOp
	Values    []ast.Expr
	Inclusive bool
}

// KeyBounds is what a WHERE clause's top-level conjunction says about the
// primary-key columns of the table it filters.
type KeyBounds struct {
	// Keys are the key columns, in key order.
	Keys []string
	// Constraints holds, per key column, the constraints found on it.
	Constraints [][]Constraint
	// NoWhere is set when the statement has no WHERE clause.
	NoWhere bool
}

// AnalyzeWhere reads the WHERE clause of an UPDATE or DELETE (n) against
// the key columns keys. For any other statement, or none, it returns
// bounds with no constraint.
func AnalyzeWhere(n ast.Node, keys []string) KeyBounds {
	b := KeyBounds{Keys: keys, Constraints: make([][]Constraint, len(keys))}
	var (
		where *ast.Where
		table *ast.Path
		alias *ast.AsAlias
	)
	switch n := n.(type) {
	case *ast.Update:
		where, table, alias = n.Where, n.TableName, n.As
	case *ast.Delete:
		where, table, alias = n.Where, n.TableName, n.As
	default:
		b.NoWhere = true
		return b
	}
	if where == nil || where.Expr == nil {
		b.NoWhere = true
		return b
	}
	names := qualifiers(table, alias)
	for _, c := range Conjuncts(where.Expr) {
		col, cons, ok := constraintOf(c, names)
		if !ok {
			continue
		}
		if i := indexFold(keys, col); i >= 0 {
			b.Constraints[i] = append(b.Constraints[i], cons...)
		}
	}
	return b
}

// ConstrainedColumns returns the columns the top-level conjunction of an
// UPDATE's or DELETE's WHERE constrains (as AnalyzeWhere reads them),
// lower-cased, whatever the table's key is.
func ConstrainedColumns(n ast.Node) []string {
	var (
		where *ast.Where
		names []string
	)
	switch n := n.(type) {
	case *ast.Update:
		where, names = n.Where, qualifiers(n.TableName, n.As)
	case *ast.Delete:
		where, names = n.Where, qualifiers(n.TableName, n.As)
	}
	if where == nil || where.Expr == nil {
		return nil
	}
	var cols []string
	for _, c := range Conjuncts(where.Expr) {
		if col, _, ok := constraintOf(c, names); ok && indexFold(cols, col) < 0 {
			cols = append(cols, strings.ToLower(col))
		}
	}
	return cols
}

// Fixed reports whether key column i is fixed to given values: an
// equality or an IN list.
func (b KeyBounds) Fixed(i int) bool {
	for _, c := range b.Constraints[i] {
		if c.Op == OpEq || c.Op == OpIn {
			return true
		}
	}
	return false
}

// FixesAll reports whether every key column is fixed to given values, so
// the statement touches at most as many rows as the values name.
func (b KeyBounds) FixesAll() bool {
	if len(b.Keys) == 0 {
		return false
	}
	for i := range b.Keys {
		if !b.Fixed(i) {
			return false
		}
	}
	return true
}

// Equalities returns, per key column, the values of its equalities (col =
// v; IN lists and ranges are left out).
func (b KeyBounds) Equalities(i int) []ast.Expr {
	var out []ast.Expr
	for _, c := range b.Constraints[i] {
		if c.Op == OpEq {
			out = append(out, c.Values[0])
		}
	}
	return out
}

// Bounded reports whether the WHERE fixes or ranges the primary key, and
// says why not when it does not. It is bounded when it fixes a leading
// part of the key (the first key column, or more, to given values: a key
// prefix is a range of the key), or when it ranges the first key column
// between two integer bounds at most MaxKeyRange apart. Bounds given as
// parameters are read from params; a parameter without a value there, or
// a bound of another type, leaves the range unbounded.
func (b KeyBounds) Bounded(params map[string]any) (bool, string) {
	switch {
	case b.NoWhere:
		return false, "it has no WHERE clause"
	case len(b.Keys) == 0:
		return false, "the table's primary key is not known"
	case b.Fixed(0):
		return true, ""
	}
	lo, hi, ok := b.intRange(0, params)
	if !ok {
		return false, fmt.Sprintf("its WHERE does not fix the primary key's first column %s to given values (=, IN) nor range it between two integers", b.Keys[0])
	}
	if hi < lo {
		return true, "" // empty range
	}
	width := new(big.Int).Sub(big.NewInt(hi), big.NewInt(lo))
	if width.Cmp(big.NewInt(MaxKeyRange)) >= 0 {
		return false, fmt.Sprintf("its WHERE ranges %s over %s values, more than the %d a bounded change may span", b.Keys[0], width.Add(width, big.NewInt(1)), MaxKeyRange)
	}
	return true, ""
}

// intRange returns the tightest integer bounds the constraints put on key
// column i, inclusive, when it has both.
func (b KeyBounds) intRange(i int, params map[string]any) (lo, hi int64, ok bool) {
	var haveLo, haveHi bool
	for _, c := range b.Constraints[i] {
		if c.Op != OpLower && c.Op != OpUpper {
			continue
		}
		v, isInt := IntValue(c.Values[0], params)
		if !isInt {
			continue
		}
		switch c.Op {
		case OpLower:
			if !c.Inclusive {
				if v == maxInt64 {
					return 1, 0, true // col > MAX: empty
				}
				v++
			}
			if !haveLo || v > lo {
				lo, haveLo = v, true
			}
		case OpUpper:
			if !c.Inclusive {
				if v == minInt64 {
					return 1, 0, true // col < MIN: empty
				}
				v--
			}
			if !haveHi || v < hi {
				hi, haveHi = v, true
			}
		}
	}
	return lo, hi, haveLo && haveHi
}

const (
	maxInt64 = int64(^uint64(0) >> 1)
	minInt64 = -maxInt64 - 1
)

// IntValue returns the INT64 value of an integer literal (with an
// optional sign, in parentheses) or of a parameter whose value in params
// is an int64.
func IntValue(e ast.Expr, params map[string]any) (int64, bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return IntValue(e.Expr, params)
	case *ast.IntLiteral:
		return parseIntLiteral(e)
	case *ast.UnaryExpr:
		lit, ok := e.Expr.(*ast.IntLiteral)
		if !ok {
			return 0, false
		}
		v, ok := parseIntLiteral(lit)
		switch {
		case !ok:
			// -9223372036854775808 does not fit before the sign.
			if e.Op == ast.OpMinus && lit.Base == 10 && strings.TrimLeft(lit.Value, "0") == "9223372036854775808" {
				return minInt64, true
			}
			return 0, false
		case e.Op == ast.OpMinus:
			return -v, true
		case e.Op == ast.OpPlus:
			return v, true
		}
	case *ast.Param:
		v, ok := params[e.Name].(int64)
		return v, ok
	}
	return 0, false
}

func parseIntLiteral(e *ast.IntLiteral) (int64, bool) {
	s := e.Value
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if e.Base == 16 {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	}
	if neg {
		s = "-" + s
	}
	v, err := strconv.ParseInt(s, e.Base, 64)
	return v, err == nil
}

// Conjuncts flattens a chain of ANDs, through parentheses.
func Conjuncts(e ast.Expr) []ast.Expr {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return Conjuncts(e.Expr)
	case *ast.BinaryExpr:
		if e.Op == ast.OpAnd {
			return append(Conjuncts(e.Left), Conjuncts(e.Right)...)
		}
	}
	return []ast.Expr{e}
}

// constraintOf reads one conjunct as a constraint on a column.
func constraintOf(e ast.Expr, names []string) (string, []Constraint, bool) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return constraintOf(e.Expr, names)
	case *ast.BinaryExpr:
		op := e.Op
		col, val := columnRef(e.Left, names), e.Right
		if col == "" {
			col, val, op = columnRef(e.Right, names), e.Left, mirror(op)
		}
		if col == "" || !IsValue(val) {
			return "", nil, false
		}
		switch op {
		case ast.OpEqual:
			return col, []Constraint{{Op: OpEq, Values: []ast.Expr{val}}}, true
		case ast.OpGreater, ast.OpGreaterEqual:
			return col, []Constraint{{Op: OpLower, Values: []ast.Expr{val}, Inclusive: op == ast.OpGreaterEqual}}, true
		case ast.OpLess, ast.OpLessEqual:
			return col, []Constraint{{Op: OpUpper, Values: []ast.Expr{val}, Inclusive: op == ast.OpLessEqual}}, true
		}
	case *ast.BetweenExpr:
		col := columnRef(e.Left, names)
		if e.Not || col == "" || !IsValue(e.RightStart) || !IsValue(e.RightEnd) {
			return "", nil, false
		}
		return col, []Constraint{
			{Op: OpLower, Values: []ast.Expr{e.RightStart}, Inclusive: true},
			{Op: OpUpper, Values: []ast.Expr{e.RightEnd}, Inclusive: true},
		}, true
	case *ast.InExpr:
		col := columnRef(e.Left, names)
		if e.Not || col == "" {
			return "", nil, false
		}
		switch r := e.Right.(type) {
		case *ast.ValuesInCondition:
			for _, v := range r.Exprs {
				if !IsValue(v) {
					return "", nil, false
				}
			}
			return col, []Constraint{{Op: OpIn, Values: r.Exprs}}, true
		case *ast.UnnestInCondition:
			if isArrayValue(r.Expr) {
				return col, []Constraint{{Op: OpIn, Values: []ast.Expr{r.Expr}}}, true
			}
		}
	}
	return "", nil, false
}

// mirror returns the operator with its operands swapped: 5 < Id is Id > 5.
func mirror(op ast.BinaryOp) ast.BinaryOp {
	switch op {
	case ast.OpLess:
		return ast.OpGreater
	case ast.OpLessEqual:
		return ast.OpGreaterEqual
	case ast.OpGreater:
		return ast.OpLess
	case ast.OpGreaterEqual:
		return ast.OpLessEqual
	}
	return op
}

// columnRef returns the column e names: a bare name, or one qualified by
// the table's name or alias (names, lower-cased). Anything else is "".
func columnRef(e ast.Expr, names []string) string {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return columnRef(e.Expr, names)
	case *ast.Ident:
		return e.Name
	case *ast.Path:
		if len(e.Idents) == 2 && indexFold(names, e.Idents[0].Name) >= 0 {
			return e.Idents[1].Name
		}
	}
	return ""
}

// qualifiers returns the names a column may be qualified with: the
// table's last name part and its alias.
func qualifiers(table *ast.Path, alias *ast.AsAlias) []string {
	var out []string
	if table != nil && len(table.Idents) > 0 {
		out = append(out, table.Idents[len(table.Idents)-1].Name)
	}
	if alias != nil && alias.Alias != nil {
		out = append(out, alias.Alias.Name)
	}
	return out
}

// IsValue reports whether e is a value given in the statement: a literal
// (numbers with an optional sign, strings, bytes, booleans, dates,
// timestamps, NUMERIC, JSON) or a query parameter, in any parentheses.
// NULL is not a value: nothing equals it.
func IsValue(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return IsValue(e.Expr)
	case *ast.IntLiteral, *ast.FloatLiteral, *ast.StringLiteral, *ast.BytesLiteral, *ast.BoolLiteral,
		*ast.DateLiteral, *ast.TimestampLiteral, *ast.NumericLiteral, *ast.JSONLiteral, *ast.Param:
		return true
	case *ast.UnaryExpr:
		if e.Op != ast.OpMinus && e.Op != ast.OpPlus {
			return false
		}
		switch e.Expr.(type) {
		case *ast.IntLiteral, *ast.FloatLiteral:
			return true
		}
	}
	return false
}

// isArrayValue reports whether e is an array given in the statement: a
// parameter, or an array literal of values.
func isArrayValue(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return isArrayValue(e.Expr)
	case *ast.Param:
		return true
	case *ast.ArrayLiteral:
		for _, v := range e.Values {
			if !IsValue(v) {
				return false
			}
		}
		return true
	}
	return false
}

func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}
