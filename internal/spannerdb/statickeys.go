package spannerdb

import (
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// Static key capture. A DML statement that names the keys it can touch in
// its own text — an UPDATE or DELETE whose WHERE binds every key column to
// a literal or a parameter with AND, or an INSERT of VALUES rows that give
// every key column — needs no THEN RETURN: the keys are read off the parsed
// statement, and the row count says whether the one named row was touched.
// This saves a streamed query per statement (on the emulator, about 1.5 ms
// of the 2.3 ms a THEN RETURN costs). Only INT64 and STRING key columns
// are read this way, whose values encode exactly as THEN RETURN reports
// them; everything else takes the THEN RETURN path.

// staticKeys returns the keys of the rows n may touch, and whether they
// could be read off the statement. For UPDATE and DELETE there is at most
// one key; for INSERT one per row, in order.
func staticKeys(n ast.Statement, pk primaryKey, params map[string]any) ([]string, bool) {
	if len(pk.cols) == 0 || len(pk.cols) != len(pk.types) {
		return nil, false
	}
	switch n := n.(type) {
	case *ast.Update, *ast.Delete:
		return keyFromWhere(n, pk, params)
	case *ast.Insert:
		return keysFromValues(n, pk, params)
	}
	return nil, false
}

// keyFromWhere reads the one key an UPDATE's or DELETE's WHERE fixes with
// equalities on every key column (sqlstmt.AnalyzeWhere, the one WHERE
// key analysis).
func keyFromWhere(n ast.Statement, pk primaryKey, params map[string]any) ([]string, bool) {
	b := sqlstmt.AnalyzeWhere(n, pk.cols)
	bound := make([]any, len(pk.cols))
	for i := range pk.cols {
		eqs := b.Equalities(i)
		if len(eqs) == 0 {
			return nil, false
		}
		for j, e := range eqs {
			v, ok := keyValue(e, pk.types[i], params)
			if !ok {
				return nil, false
			}
			if j > 0 && bound[i] != v {
				return []string{}, true // contradictory: touches nothing
			}
			bound[i] = v
		}
	}
	k, err := audit.KeyText(bound)
	if err != nil {
		return nil, false
	}
	return []string{k}, true
}

func keysFromValues(n *ast.Insert, pk primaryKey, params map[string]any) ([]string, bool) {
	vals, ok := n.Input.(*ast.ValuesInput)
	if !ok || n.InsertOrType == ast.InsertOrTypeIgnore || n.OnConflict != nil || len(n.Columns) == 0 {
		return nil, false
	}
	pos := make([]int, len(pk.cols))
	for i, c := range pk.cols {
		pos[i] = -1
		for j, col := range n.Columns {
			if strings.EqualFold(col.Name, c) {
				pos[i] = j
			}
		}
		if pos[i] < 0 {
			return nil, false
		}
	}
	keys := make([]string, 0, len(vals.Rows))
	for _, row := range vals.Rows {
		key := make([]any, len(pk.cols))
		for i, p := range pos {
			if p >= len(row.Exprs) || row.Exprs[p].Default {
				return nil, false
			}
			v, ok := keyValue(row.Exprs[p].Expr, pk.types[i], params)
			if !ok {
				return nil, false
			}
			key[i] = v
		}
		k, err := audit.KeyText(key)
		if err != nil {
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, true
}

// keyValue returns the value of a literal or parameter for a key column of
// type typ, as THEN RETURN would report it: int64 for INT64, string for
// STRING. Any other shape or type is not read statically.
func keyValue(e ast.Expr, typ string, params map[string]any) (any, bool) {
	isInt := typ == "INT64"
	isString := strings.HasPrefix(typ, "STRING")
	if isInt {
		return sqlstmt.IntValue(e, params)
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return keyValue(e.Expr, typ, params)
	case *ast.StringLiteral:
		return e.Value, isString
	case *ast.Param:
		v, ok := params[e.Name].(string)
		return v, ok && isString
	}
	return nil, false
}
