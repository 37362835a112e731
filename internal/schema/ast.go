package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudspannerecosystem/memefish"
	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate/internal/sqlstmt"
)

func identName(id *ast.Ident) string {
	if id == nil {
		return ""
	}
	return id.Name
}

func identNames(ids []*ast.Ident) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Name
	}
	return out
}

func keyPart(k *ast.IndexKey) KeyPart {
	return KeyPart{Column: k.Name.Name, Desc: k.Dir == ast.DirectionDesc}
}

// onDelete returns "CASCADE", "NO ACTION" or "".
func onDelete(a ast.OnDeleteAction) string {
	return strings.TrimPrefix(string(a), "ON DELETE ")
}

func rowDeletionPolicy(p *ast.RowDeletionPolicy) *RowDeletionPolicy {
	return &RowDeletionPolicy{Column: p.ColumnName.Name, Days: p.NumDays.SQL()}
}

// options returns an OPTIONS clause as written, NULL values included, for
// SET OPTIONS (where NULL removes an option).
func options(o *ast.Options) Options {
	if o == nil {
		return nil
	}
	out := make(Options, 0, len(o.Records))
	for _, r := range o.Records {
		out = append(out, Option{Name: r.Name.Name, Value: r.Value.SQL()})
	}
	return out
}

// createOptions returns the options an object is created with: NULL
// values say "unset", as in Spanner.
func createOptions(o *ast.Options) Options {
	var out Options
	for _, op := range options(o) {
		out = out.set(op.Name, op.Value)
	}
	return out
}

func column(cd *ast.ColumnDef) *Column {
	c := &Column{Name: cd.Name.Name, Type: schemaType(cd.Type), NotNull: cd.NotNull,
		Hidden: !cd.Hidden.Invalid(), Options: createOptions(cd.Options)}
	switch d := cd.DefaultSemantics.(type) {
	case *ast.ColumnDefaultExpr:
		c.Default = d.Expr.SQL()
		if d.OnUpdate != nil {
			c.OnUpdate = d.OnUpdate.Expr.SQL()
		}
	case *ast.GeneratedColumnExpr:
		c.Generated = d.Expr.SQL()
		c.Stored = !d.Stored.Invalid()
	case *ast.IdentityColumn:
		c.Identity = d.SQL()
	case *ast.AutoIncrement:
		c.Identity = d.SQL()
	}
	return c
}

// TypeOf returns the model's Type of a parsed column type.
func TypeOf(t ast.SchemaType) Type { return schemaType(t) }

func schemaType(t ast.SchemaType) Type {
	switch t := t.(type) {
	case *ast.ScalarSchemaType:
		return Type{Base: string(t.Name)}
	case *ast.SizedSchemaType:
		ty := Type{Base: string(t.Name), Size: MaxSize}
		if !t.Max {
			if n, err := strconv.ParseInt(t.Size.SQL(), 0, 64); err == nil {
				ty.Size = n
			}
		}
		return ty
	case *ast.ArraySchemaType:
		ty := schemaType(t.Item)
		ty.Array = true
		if len(t.NamedArgs) > 0 {
			ty.ArrayArgs = "(" + joinSQL(t.NamedArgs, ", ") + ")"
		}
		return ty
	case *ast.NamedType:
		if len(t.Path) == 1 && strings.EqualFold(t.Path[0].Name, "UUID") {
			return Type{Base: "UUID"}
		}
		parts := make([]string, len(t.Path))
		for i, id := range t.Path {
			parts[i] = id.Name
		}
		return Type{Base: strings.Join(parts, "."), Named: true}
	}
	return Type{Base: t.SQL(), Named: true}
}

func joinSQL[T ast.Node](nodes []T, sep string) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.SQL()
	}
	return strings.Join(parts, sep)
}

// grants expands a GRANT or REVOKE into one statement per privilege,
// column, object and role, so REVOKE of a part of a grant removes just
// that part.
func grants(p ast.Privilege, roles []*ast.Ident) []string {
	var privs []string
	switch p := p.(type) {
	case *ast.PrivilegeOnTable:
		for _, tp := range p.Privileges {
			for _, one := range splitColumns(tp) {
				for _, n := range p.Names {
					privs = append(privs, (&ast.PrivilegeOnTable{Privileges: []ast.TablePrivilege{one}, Names: []*ast.Path{n}}).SQL())
				}
			}
		}
	default:
		privs = append(privs, p.SQL())
	}
	var out []string
	for _, pr := range privs {
		for _, r := range roles {
			out = append(out, "GRANT "+pr+" TO ROLE "+r.SQL())
		}
	}
	return out
}

func splitColumns(tp ast.TablePrivilege) []ast.TablePrivilege {
	var cols []*ast.Ident
	switch tp := tp.(type) {
	case *ast.SelectPrivilege:
		cols = tp.Columns
	case *ast.InsertPrivilege:
		cols = tp.Columns
	case *ast.UpdatePrivilege:
		cols = tp.Columns
	}
	if len(cols) < 2 {
		return []ast.TablePrivilege{tp}
	}
	out := make([]ast.TablePrivilege, 0, len(cols))
	for _, c := range cols {
		one := []*ast.Ident{c}
		switch tp.(type) {
		case *ast.SelectPrivilege:
			out = append(out, &ast.SelectPrivilege{Columns: one, Rparen: 1})
		case *ast.InsertPrivilege:
			out = append(out, &ast.InsertPrivilege{Columns: one, Rparen: 1})
		case *ast.UpdatePrivilege:
			out = append(out, &ast.UpdatePrivilege{Columns: one, Rparen: 1})
		}
	}
	return out
}

// queryRefs returns the lower-cased table and view names a query reads.
func queryRefs(q ast.Node) []string {
	var refs []string
	ast.Inspect(q, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.TableName:
			refs = appendUnique(refs, key(n.Table.Name))
		case *ast.PathTableExpr:
			refs = appendUnique(refs, key(sqlstmt.Name(n.Path)))
		}
		return true
	})
	return refs
}

// exprUses reports whether the expression's SQL names col.
func exprUses(expr, col string) bool {
	e, err := memefish.ParseExpr("", expr)
	if err != nil {
		return false
	}
	return namesIdent(e, col)
}

// exprUsesStatement reports whether a statement's SQL names col.
func exprUsesStatement(sql, col string) bool {
	st, err := memefish.ParseStatement("", sql)
	if err != nil {
		return false
	}
	return namesIdent(st, col)
}

func namesIdent(n ast.Node, col string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && strings.EqualFold(id.Name, col) {
			found = true
		}
		return !found
	})
	return found
}

func sqlstmtVerb(n ast.DDL) string { return sqlstmt.VerbOf(n) }

func appendUnique(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func orAnonymous(name string) string {
	if name == "" {
		return "(anonymous)"
	}
	return name
}

func sortBy[T any](s []T, k func(T) string) {
	slices.SortStableFunc(s, func(a, b T) int { return cmp.Compare(k(a), k(b)) })
}

func sortedValues[T any](m map[string]T, k func(T) string) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sortBy(out, k)
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// datePart names the keywords that GoogleSQL parses as identifiers in
// function arguments (DATE_TRUNC(d, MONTH), EXTRACT(DAY FROM …)): they are
// not column references.
var datePart = map[string]bool{
	"microsecond": true, "millisecond": true, "nanosecond": true, "second": true, "minute": true, "hour": true,
	"day": true, "dayofweek": true, "dayofyear": true, "week": true, "isoweek": true, "month": true,
	"quarter": true, "year": true, "isoyear": true, "date": true, "time": true, "datetime": true,
	"sunday": true, "monday": true, "tuesday": true, "wednesday": true, "thursday": true, "friday": true, "saturday": true,
}

// columnRefs returns the names an expression reads as columns: bare
// identifiers and the first part of a path (a struct or proto field),
// leaving out function names, sequence arguments and date parts.
func columnRefs(e ast.Node) []string {
	var refs []string
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			for _, a := range n.Args {
				ast.Inspect(a, walk)
			}
			for _, a := range n.NamedArgs {
				ast.Inspect(a.Value, walk)
			}
			return false
		case *ast.SequenceArg:
			return false
		case *ast.ExtractExpr:
			ast.Inspect(n.Expr, walk)
			return false
		case *ast.Path:
			if len(n.Idents) > 0 && !datePart[key(n.Idents[0].Name)] {
				refs = appendUnique(refs, n.Idents[0].Name)
			}
			return false
		case *ast.SelectorExpr:
			ast.Inspect(n.Expr, walk)
			return false
		case *ast.Ident:
			if !datePart[key(n.Name)] {
				refs = appendUnique(refs, n.Name)
			}
			return false
		}
		return true
	}
	ast.Inspect(e, walk)
	return refs
}

// exprColumnRefs parses expr and returns its column references (nil when
// it does not parse).
func exprColumnRefs(expr string) []string {
	e, err := memefish.ParseExpr("", expr)
	if err != nil {
		return nil
	}
	return columnRefs(e)
}

// sequenceRefs returns the lower-cased sequences an expression names in
// GET_NEXT_SEQUENCE_VALUE(SEQUENCE s) and the like.
func sequenceRefs(expr string) []string {
	e, err := memefish.ParseExpr("", expr)
	if err != nil {
		return nil
	}
	var refs []string
	ast.Inspect(e, func(n ast.Node) bool {
		if sa, ok := n.(*ast.SequenceArg); ok {
			switch x := sa.Expr.(type) {
			case *ast.Ident:
				refs = appendUnique(refs, key(x.Name))
			case *ast.Path:
				refs = appendUnique(refs, key(sqlstmt.Name(x)))
			}
		}
		return true
	})
	return refs
}

// firstSelect returns the SELECT whose items name a query's output
// columns, or nil.
func firstSelect(q ast.QueryExpr) *ast.Select {
	for i := 0; i < 64; i++ {
		switch x := q.(type) {
		case *ast.Select:
			return x
		case *ast.Query:
			q = x.Query
		case *ast.SubQuery:
			q = x.Query
		case *ast.CompoundQuery:
			if len(x.Queries) == 0 {
				return nil
			}
			q = x.Queries[0]
		default:
			return nil
		}
	}
	return nil
}

// viewColumnsProblem returns why Spanner refuses a view's output
// columns (SELECT *, a column without a name, two with one name), or "".
func viewColumnsProblem(view string, q ast.QueryExpr) string {
	sel := firstSelect(q)
	if sel == nil {
		return ""
	}
	seen := map[string]bool{}
	for i, item := range sel.Results {
		var name string
		switch it := item.(type) {
		case *ast.Star, *ast.DotStar:
			return fmt.Sprintf("view %s: SELECT * is not allowed in a view; Spanner resolves views in strict name mode, so list the columns", view)
		case *ast.Alias:
			name = it.As.Alias.Name
		case *ast.ExprSelectItem:
			switch e := it.Expr.(type) {
			case *ast.Ident:
				name = e.Name
			case *ast.Path:
				name = e.Idents[len(e.Idents)-1].Name
			case *ast.SelectorExpr:
				name = e.Ident.Name
			default:
				return fmt.Sprintf("view %s: output column %d has no name; give it one with AS", view, i+1)
			}
		default:
			continue
		}
		if seen[key(name)] {
			return fmt.Sprintf("view %s has two output columns named %s", view, name)
		}
		seen[key(name)] = true
	}
	return ""
}

// forcedIndexes returns the lower-cased indexes a query's FORCE_INDEX
// hints name.
func forcedIndexes(q ast.Node) []string {
	var out []string
	ast.Inspect(q, func(n ast.Node) bool {
		if h, ok := n.(*ast.HintRecord); ok && strings.EqualFold(sqlstmt.Name(h.Key), "FORCE_INDEX") {
			switch v := h.Value.(type) {
			case *ast.Ident:
				if !strings.EqualFold(v.Name, "_BASE_TABLE") {
					out = appendUnique(out, key(v.Name))
				}
			case *ast.Path:
				out = appendUnique(out, key(sqlstmt.Name(v)))
			}
		}
		return true
	})
	return out
}

// cteNames returns the lower-cased names a query's WITH clauses define.
func cteNames(q ast.Node) []string {
	var out []string
	ast.Inspect(q, func(n ast.Node) bool {
		if c, ok := n.(*ast.CTE); ok {
			out = appendUnique(out, key(c.Name.Name))
		}
		return true
	})
	return out
}
