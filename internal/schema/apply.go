package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// ApplyError is a DDL statement Spanner would refuse, located where it was
// written.
type ApplyError struct {
	File    string
	Line    int
	Message string
}

// Error returns "file:line: message".
func (e *ApplyError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
}

// Parse builds the schema that the DDL statements of text build, in
// order. DML in text is ignored. file names the source in errors.
func Parse(file, text string) (*Schema, error) {
	stmts, err := sqlstmt.Parse(file, text)
	if err != nil {
		return nil, err
	}
	return FromStatements(file, stmts)
}

// FromStatements builds the schema that the DDL among stmts builds,
// applied in order to an empty schema. It stops at the first statement
// Spanner would refuse.
func FromStatements(file string, stmts []sqlstmt.Statement) (*Schema, error) {
	s := New()
	for i := range stmts {
		if err := s.Apply(file, &stmts[i]); err != nil {
			return s, err
		}
	}
	return s, nil
}

// FromDDL builds a schema from GetDatabaseDdl output: one statement per
// element, without semicolons. A statement the parser cannot read is kept
// verbatim, so nothing of the live schema is lost; source names it in
// errors (for example the database path).
func FromDDL(source string, ddl []string) (*Schema, error) {
	s := New()
	var deferred []deferredFK
	a := applier{s: s, deferred: &deferred, live: true}
	for i, text := range ddl {
		st, err := sqlstmt.ParseOne(text)
		if err != nil || st.Kind != sqlstmt.DDL {
			s.others = append(s.others, &Other{Kind: "UNPARSED", SQL: strings.TrimSpace(text)})
			continue
		}
		a.line = i + 1
		if err := s.applyNode(a, source, i+1, st.Node.(ast.DDL)); err != nil {
			return s, err
		}
	}
	for _, d := range deferred {
		if msg := (applier{s: s}).addForeignKey(s.tables[key(d.table)], d.tc); msg != "" {
			return s, spangate.Errorf(spangate.Invalid, "%w", &ApplyError{File: source, Line: d.line, Message: msg})
		}
	}
	s.completeFromDDL()
	return s, nil
}

// Apply applies one statement to the schema as Spanner would. DML and
// queries leave it unchanged. A statement Spanner would refuse leaves the
// schema unchanged and returns an error of kind Invalid wrapping an
// *ApplyError located at file and the statement's line.
func (s *Schema) Apply(file string, st *sqlstmt.Statement) error {
	n, ok := st.Node.(ast.DDL)
	if !ok {
		return nil
	}
	return s.ApplyNode(file, st.Line, n)
}

// ApplyNode applies one parsed DDL statement, written at file:line.
func (s *Schema) ApplyNode(file string, line int, n ast.DDL) error {
	return s.applyNode(applier{s: s}, file, line, n)
}

func (s *Schema) applyNode(a applier, file string, line int, n ast.DDL) error {
	if msg := a.apply(n); msg != "" {
		return spangate.Errorf(spangate.Invalid, "%w", &ApplyError{File: file, Line: line, Message: msg}).
			WithHint("Spanner refuses this statement against the schema the statements before it build; fix the statement or the order")
	}
	return nil
}

// AsApplyError returns the *ApplyError in err's chain, if any.
func AsApplyError(err error) (*ApplyError, bool) {
	var ae *ApplyError
	ok := errors.As(err, &ae)
	return ae, ok
}

type applier struct {
	s *Schema
	// line is the line of the statement being applied, for deferred
	// foreign keys.
	line int
	// deferred, when set, collects foreign keys whose referenced table
	// does not exist yet instead of refusing them: GetDatabaseDdl shows
	// a foreign key inside its table's CREATE TABLE even when the
	// referenced table is listed later.
	deferred *[]deferredFK
	// live is set for GetDatabaseDdl output, which may leave out what
	// Spanner requires (HIDDEN on a TOKENLIST column on the emulator).
	live bool
}

type deferredFK struct {
	table string
	tc    *ast.TableConstraint
	line  int
}

func (a applier) apply(n ast.DDL) string {
	s := a.s
	switch n := n.(type) {
	case *ast.CreateTable:
		return a.createTable(n)
	case *ast.AlterTable:
		return a.alterTable(n)
	case *ast.DropTable:
		return a.dropTable(n)
	case *ast.RenameTable:
		return a.renameTable(n)
	case *ast.CreateIndex:
		return a.createIndex(n)
	case *ast.DropIndex:
		return a.dropIndex(sqlstmt.Name(n.Name), n.IfExists)
	case *ast.DropSearchIndex:
		return a.dropIndex(sqlstmt.Name(n.Name), n.IfExists)
	case *ast.CreateSearchIndex:
		return a.createSearchIndex(n)
	case *ast.AlterSearchIndex:
		return a.alterIndexNamed(sqlstmt.Name(n.Name), n.IndexAlteration)
	case *ast.CreateProtoBundle:
		return a.createProtoBundle(n)
	case *ast.AlterProtoBundle:
		return a.alterProtoBundle(n)
	case *ast.DropProtoBundle:
		return a.dropProtoBundle()
	case *ast.AlterIndex:
		return a.alterIndex(n)
	case *ast.CreateView:
		return a.createView(n)
	case *ast.DropView:
		name := sqlstmt.Name(n.Name)
		if s.views[key(name)] == nil {
			if n.IfExists {
				return ""
			}
			return fmt.Sprintf("view %s does not exist", name)
		}
		for _, v := range s.views {
			if contains(v.Refs, key(name)) && !strings.EqualFold(v.Name, name) {
				return fmt.Sprintf("cannot drop view %s: view %s depends on it", name, v.Name)
			}
		}
		delete(s.views, key(name))
		delete(s.viewSeq, key(name))
	case *ast.CreateChangeStream:
		return a.createChangeStream(n)
	case *ast.AlterChangeStream:
		return a.alterChangeStream(n)
	case *ast.DropChangeStream:
		if s.streams[key(n.Name.Name)] == nil {
			return fmt.Sprintf("change stream %s does not exist", n.Name.Name)
		}
		delete(s.streams, key(n.Name.Name))
	case *ast.CreateSequence:
		name := sqlstmt.Name(n.Name)
		if s.sequences[key(name)] != nil {
			if n.IfNotExists {
				return ""
			}
			return fmt.Sprintf("duplicate name in schema: sequence %s already exists", name)
		}
		if msg := a.nameFree(name); msg != "" {
			return msg
		}
		s.sequences[key(name)] = &Sequence{Name: name, Params: joinSQL(n.Params, " "), Options: createOptions(n.Options)}
	case *ast.AlterSequence:
		name := sqlstmt.Name(n.Name)
		q := s.sequences[key(name)]
		if q == nil {
			return fmt.Sprintf("sequence %s does not exist", name)
		}
		for _, o := range options(n.Options) {
			q.Options = q.Options.set(o.Name, o.Value)
		}
	case *ast.DropSequence:
		name := sqlstmt.Name(n.Name)
		if s.sequences[key(name)] == nil {
			if n.IfExists {
				return ""
			}
			return fmt.Sprintf("sequence %s does not exist", name)
		}
		for _, t := range sortedValues(s.tables, func(t *Table) string { return key(t.Name) }) {
			for _, c := range t.Columns {
				for _, e := range []string{c.Default, c.OnUpdate, c.Generated} {
					if e != "" && contains(sequenceRefs(e), key(name)) {
						return fmt.Sprintf("cannot drop sequence %s: column %s.%s uses it", name, t.Name, c.Name)
					}
				}
			}
		}
		delete(s.sequences, key(name))
	case *ast.CreateRole:
		if _, dup := s.roles[key(n.Name.Name)]; dup {
			return fmt.Sprintf("role %s already exists", n.Name.Name)
		}
		s.roles[key(n.Name.Name)] = n.Name.Name
	case *ast.DropRole:
		if _, ok := s.roles[key(n.Name.Name)]; !ok {
			return fmt.Sprintf("role %s does not exist", n.Name.Name)
		}
		for k := range s.grants {
			if strings.HasSuffix(k, " to role "+key(n.Name.Name)) {
				return fmt.Sprintf("cannot drop role %s: it still holds privileges; revoke them first", n.Name.Name)
			}
		}
		delete(s.roles, key(n.Name.Name))
	case *ast.Grant:
		for _, r := range n.Roles {
			if _, ok := s.roles[key(r.Name)]; !ok {
				return fmt.Sprintf("role %s does not exist", r.Name)
			}
		}
		for _, g := range grants(n.Privilege, n.Roles) {
			s.grants[key(g)] = g
		}
	case *ast.Revoke:
		for _, g := range grants(n.Privilege, n.Roles) {
			delete(s.grants, key(g))
		}
	case *ast.AlterDatabase:
		s.DatabaseName = n.Name.Name
		for _, o := range options(n.Options) {
			s.DatabaseOptions = s.DatabaseOptions.set(o.Name, o.Value)
		}
	case *ast.Analyze, *ast.CreateDatabase:
		// No effect on the schema.
	case *ast.BadDDL:
		return "the statement could not be parsed"
	default:
		return a.other(n)
	}
	return ""
}

// nameFree checks that no table, index, view, change stream or sequence
// is called name: they share one namespace.
func (a applier) nameFree(name string) string {
	k := key(name)
	switch {
	case a.s.tables[k] != nil:
		return fmt.Sprintf("duplicate name in schema: %s is a table", name)
	case a.s.indexes[k] != nil:
		return fmt.Sprintf("duplicate name in schema: %s is an index", name)
	case a.s.views[k] != nil:
		return fmt.Sprintf("duplicate name in schema: %s is a view", name)
	case a.s.streams[k] != nil:
		return fmt.Sprintf("duplicate name in schema: %s is a change stream", name)
	case a.s.sequences[k] != nil:
		return fmt.Sprintf("duplicate name in schema: %s is a sequence", name)
	}
	return ""
}

func (a applier) createTable(n *ast.CreateTable) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	if s.tables[key(name)] != nil && n.IfNotExists {
		return ""
	}
	if msg := a.nameFree(name); msg != "" {
		return msg
	}
	t := &Table{Name: name, Options: createOptions(n.Options)}
	for _, cd := range n.Columns {
		if t.Column(cd.Name.Name) != nil {
			return fmt.Sprintf("table %s: duplicate column %s", name, cd.Name.Name)
		}
		t.Columns = append(t.Columns, column(cd))
		if cd.PrimaryKey {
			t.PrimaryKey = append(t.PrimaryKey, KeyPart{Column: cd.Name.Name})
		}
	}
	for _, k := range n.PrimaryKeys {
		t.PrimaryKey = append(t.PrimaryKey, keyPart(k))
	}
	var fks []*ast.TableConstraint
	for _, tc := range n.TableConstraints {
		switch c := tc.Constraint.(type) {
		case *ast.TablePrimaryKey:
			for _, k := range c.Columns {
				t.PrimaryKey = append(t.PrimaryKey, keyPart(k))
			}
		case *ast.ForeignKey:
			fks = append(fks, tc)
		case *ast.Check:
			t.Checks = append(t.Checks, &Check{Name: identName(tc.Name), Expr: c.Expr.SQL()})
		}
	}
	hasPK := !n.PrimaryKeyRparen.Invalid() || len(t.PrimaryKey) > 0
	for _, tc := range n.TableConstraints {
		if _, ok := tc.Constraint.(*ast.TablePrimaryKey); ok {
			hasPK = true
		}
	}
	if !hasPK {
		return fmt.Sprintf("table %s has no PRIMARY KEY clause; Spanner needs one (PRIMARY KEY () for a table of one row)", name)
	}
	for _, c := range t.Columns {
		if msg := a.checkType(name, c); msg != "" {
			return msg
		}
		if msg := checkColumnExprs(t, c); msg != "" {
			return msg
		}
	}
	for _, ck := range t.Checks {
		if msg := checkExprColumns(t, "check constraint "+orAnonymous(ck.Name), ck.Expr); msg != "" {
			return msg
		}
	}
	for _, k := range t.PrimaryKey {
		c := t.Column(k.Column)
		if c == nil {
			return fmt.Sprintf("table %s: primary key column %s is not a column of the table", name, k.Column)
		}
		if c.Type.Array || c.Type.Base == "JSON" {
			return fmt.Sprintf("table %s: column %s of type %s cannot be part of the primary key", name, c.Name, c.Type)
		}
	}
	if n.Cluster != nil {
		t.Parent = sqlstmt.Name(n.Cluster.TableName)
		t.InParent = n.Cluster.Enforced
		t.OnDelete = onDelete(n.Cluster.OnDelete)
		if t.OnDelete == "" {
			t.OnDelete = "NO ACTION"
		}
		if msg := a.checkParent(t, t.Parent); msg != "" {
			return msg
		}
	}
	if n.RowDeletionPolicy != nil {
		t.RowDeletionPolicy = rowDeletionPolicy(n.RowDeletionPolicy.RowDeletionPolicy)
		if msg := checkRDP(t); msg != "" {
			return msg
		}
	}
	for _, syn := range n.Synonyms {
		t.Synonyms = append(t.Synonyms, syn.Name.Name)
	}
	// The table must exist for a self-referencing foreign key.
	s.tables[key(name)] = t
	for _, tc := range fks {
		if a.deferred != nil && s.tables[key(sqlstmt.Name(tc.Constraint.(*ast.ForeignKey).ReferenceTable))] == nil {
			*a.deferred = append(*a.deferred, deferredFK{table: name, tc: tc, line: a.line})
			continue
		}
		if msg := a.addForeignKey(t, tc); msg != "" {
			delete(s.tables, key(name))
			return msg
		}
	}
	for _, ck := range t.Checks {
		if ck.Name != "" {
			if msg := a.constraintFree(ck.Name, t); msg != "" {
				delete(s.tables, key(name))
				return msg
			}
		}
	}
	return ""
}

// checkParent checks that t may be interleaved in parent: the parent
// exists and its primary key is a prefix of t's.
func (a applier) checkParent(t *Table, parent string) string {
	p := a.s.tables[key(parent)]
	if p == nil {
		return fmt.Sprintf("table %s: parent table %s does not exist", t.Name, parent)
	}
	if strings.EqualFold(p.Name, t.Name) {
		return fmt.Sprintf("table %s cannot be interleaved in itself", t.Name)
	}
	if len(p.PrimaryKey) > len(t.PrimaryKey) {
		return fmt.Sprintf("table %s: its primary key must start with the primary key of its parent %s", t.Name, p.Name)
	}
	for i, pk := range p.PrimaryKey {
		ck := t.PrimaryKey[i]
		if !strings.EqualFold(pk.Column, ck.Column) {
			return fmt.Sprintf("table %s: primary key column %d is %s but must be its parent %s's key column %s", t.Name, i+1, ck.Column, p.Name, pk.Column)
		}
		if pk.Desc != ck.Desc {
			return fmt.Sprintf("table %s references parent key column %s with a different order", t.Name, pk.Column)
		}
		pc, cc := p.Column(pk.Column), t.Column(ck.Column)
		if pc != nil && cc != nil && pc.Type != cc.Type {
			return fmt.Sprintf("table %s: key column %s is %s but its parent %s has %s", t.Name, cc.Name, cc.Type, p.Name, pc.Type)
		}
	}
	return ""
}

func checkRDP(t *Table) string {
	c := t.Column(t.RowDeletionPolicy.Column)
	if c == nil {
		return fmt.Sprintf("table %s: row deletion policy column %s does not exist", t.Name, t.RowDeletionPolicy.Column)
	}
	if c.Type.Base != "TIMESTAMP" || c.Type.Array {
		return fmt.Sprintf("table %s: row deletion policy column %s must be a TIMESTAMP, not %s", t.Name, c.Name, c.Type)
	}
	return ""
}

// constraintFree checks that no constraint of any table is called name.
func (a applier) constraintFree(name string, self *Table) string {
	n := 0
	for _, t := range a.s.tables {
		for _, fk := range t.ForeignKeys {
			if strings.EqualFold(fk.Name, name) {
				n++
			}
		}
		for _, ck := range t.Checks {
			if strings.EqualFold(ck.Name, name) {
				n++
			}
		}
	}
	if n > 1 || (n == 1 && self == nil) {
		return fmt.Sprintf("duplicate name in schema: constraint %s already exists", name)
	}
	if a.nameFree(name) != "" {
		return fmt.Sprintf("duplicate name in schema: %s is already used", name)
	}
	return ""
}

func (a applier) addForeignKey(t *Table, tc *ast.TableConstraint) string {
	c := tc.Constraint.(*ast.ForeignKey)
	fk := &ForeignKey{Name: identName(tc.Name), Columns: identNames(c.Columns), RefTable: sqlstmt.Name(c.ReferenceTable),
		RefColumns: identNames(c.ReferenceColumns), OnDelete: onDelete(c.OnDelete), NotEnforced: c.Enforcement == ast.NotEnforced}
	if fk.OnDelete == "" {
		fk.OnDelete = "NO ACTION"
	}
	ref := a.s.tables[key(fk.RefTable)]
	if ref == nil {
		return fmt.Sprintf("table %s: foreign key references table %s, which does not exist", t.Name, fk.RefTable)
	}
	if len(fk.Columns) != len(fk.RefColumns) {
		return fmt.Sprintf("table %s: foreign key has %d columns but references %d", t.Name, len(fk.Columns), len(fk.RefColumns))
	}
	for i, col := range fk.Columns {
		cc := t.Column(col)
		if cc == nil {
			return fmt.Sprintf("table %s: foreign key column %s does not exist", t.Name, col)
		}
		rc := ref.Column(fk.RefColumns[i])
		if rc == nil {
			return fmt.Sprintf("table %s: foreign key references column %s.%s, which does not exist", t.Name, ref.Name, fk.RefColumns[i])
		}
		if cc.Type.Base != rc.Type.Base || cc.Type.Array != rc.Type.Array {
			return fmt.Sprintf("table %s: foreign key column %s (%s) and referenced column %s.%s (%s) have different types", t.Name, cc.Name, cc.Type, ref.Name, rc.Name, rc.Type)
		}
	}
	if fk.Name != "" {
		if msg := a.constraintFree(fk.Name, nil); msg != "" {
			return msg
		}
	}
	t.ForeignKeys = append(t.ForeignKeys, fk)
	return ""
}

func (a applier) alterTable(n *ast.AlterTable) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	t := s.tables[key(name)]
	if t == nil {
		return fmt.Sprintf("table %s does not exist", name)
	}
	switch alt := n.TableAlteration.(type) {
	case *ast.AddColumn:
		if t.Column(alt.Column.Name.Name) != nil {
			if alt.IfNotExists {
				return ""
			}
			return fmt.Sprintf("table %s: duplicate column %s", t.Name, alt.Column.Name.Name)
		}
		c := column(alt.Column)
		if c.NotNull && c.Default == "" && c.Generated == "" && c.Identity == "" {
			return fmt.Sprintf("cannot add NOT NULL column %s.%s to an existing table without a DEFAULT", t.Name, c.Name)
		}
		if msg := a.checkType(t.Name, c); msg != "" {
			return msg
		}
		if msg := checkColumnExprs(t, c); msg != "" {
			return msg
		}
		t.Columns = append(t.Columns, c)
	case *ast.DropColumn:
		return a.dropColumn(t, alt.Name.Name)
	case *ast.AddTableConstraint:
		switch c := alt.TableConstraint.Constraint.(type) {
		case *ast.ForeignKey:
			if ref := s.tables[key(sqlstmt.Name(c.ReferenceTable))]; ref != nil && ref.RowDeletionPolicy != nil {
				return fmt.Sprintf("table %s: a foreign key cannot be added to reference table %s, which has a row deletion policy", t.Name, ref.Name)
			}
			return a.addForeignKey(t, alt.TableConstraint)
		case *ast.Check:
			ck := &Check{Name: identName(alt.TableConstraint.Name), Expr: c.Expr.SQL()}
			if msg := checkExprColumns(t, "check constraint "+orAnonymous(ck.Name), ck.Expr); msg != "" {
				return msg
			}
			if ck.Name != "" {
				if msg := a.constraintFree(ck.Name, nil); msg != "" {
					return msg
				}
			}
			t.Checks = append(t.Checks, ck)
		default:
			return fmt.Sprintf("table %s: a primary key cannot be added to an existing table", t.Name)
		}
	case *ast.DropConstraint:
		cn := alt.Name.Name
		for i, fk := range t.ForeignKeys {
			if strings.EqualFold(fk.Name, cn) {
				t.ForeignKeys = append(t.ForeignKeys[:i:i], t.ForeignKeys[i+1:]...)
				return ""
			}
		}
		for i, ck := range t.Checks {
			if strings.EqualFold(ck.Name, cn) {
				t.Checks = append(t.Checks[:i:i], t.Checks[i+1:]...)
				return ""
			}
		}
		return fmt.Sprintf("table %s has no constraint %s", t.Name, cn)
	case *ast.AddRowDeletionPolicy:
		if t.RowDeletionPolicy != nil {
			return fmt.Sprintf("table %s already has a row deletion policy; use REPLACE ROW DELETION POLICY", t.Name)
		}
		if msg := a.rdpAllowed(t); msg != "" {
			return msg
		}
		prev := t.RowDeletionPolicy
		t.RowDeletionPolicy = rowDeletionPolicy(alt.RowDeletionPolicy)
		if msg := checkRDP(t); msg != "" {
			t.RowDeletionPolicy = prev
			return msg
		}
	case *ast.ReplaceRowDeletionPolicy:
		if t.RowDeletionPolicy == nil {
			return fmt.Sprintf("table %s has no row deletion policy to replace; use ADD ROW DELETION POLICY", t.Name)
		}
		prev := t.RowDeletionPolicy
		t.RowDeletionPolicy = rowDeletionPolicy(alt.RowDeletionPolicy)
		if msg := checkRDP(t); msg != "" {
			t.RowDeletionPolicy = prev
			return msg
		}
	case *ast.DropRowDeletionPolicy:
		if t.RowDeletionPolicy == nil {
			return fmt.Sprintf("table %s has no row deletion policy", t.Name)
		}
		t.RowDeletionPolicy = nil
	case *ast.SetOnDelete:
		if t.Parent == "" {
			return fmt.Sprintf("table %s is not interleaved; SET ON DELETE applies only to interleaved tables", t.Name)
		}
		t.OnDelete = onDelete(alt.OnDelete)
	case *ast.SetInterleaveIn:
		parent := sqlstmt.Name(alt.TableName)
		if t.Parent != "" && !strings.EqualFold(t.Parent, parent) {
			return fmt.Sprintf("table %s is interleaved in %s; its parent cannot be changed to %s", t.Name, t.Parent, parent)
		}
		if msg := a.checkParent(t, parent); msg != "" {
			return msg
		}
		t.Parent, t.InParent, t.OnDelete = parent, alt.Enforced, onDelete(alt.OnDelete)
		if t.OnDelete == "" {
			t.OnDelete = "NO ACTION"
		}
	case *ast.AlterTableSetOptions:
		for _, o := range options(alt.Options) {
			t.Options = t.Options.set(o.Name, o.Value)
		}
	case *ast.AddSynonym:
		t.Synonyms = append(t.Synonyms, alt.Name.Name)
	case *ast.DropSynonym:
		for i, syn := range t.Synonyms {
			if strings.EqualFold(syn, alt.Name.Name) {
				t.Synonyms = append(t.Synonyms[:i:i], t.Synonyms[i+1:]...)
				return ""
			}
		}
		return fmt.Sprintf("table %s has no synonym %s", t.Name, alt.Name.Name)
	case *ast.RenameTo:
		if msg := a.rename(t.Name, alt.Name.Name); msg != "" {
			return msg
		}
		if alt.AddSynonym != nil {
			t.Synonyms = append(t.Synonyms, alt.AddSynonym.Name.Name)
		}
	case *ast.AlterColumn:
		return a.alterColumn(t, alt)
	default:
		return fmt.Sprintf("unsupported ALTER TABLE form: %s", n.SQL())
	}
	return ""
}

func (a applier) dropColumn(t *Table, col string) string {
	c := t.Column(col)
	if c == nil {
		return fmt.Sprintf("table %s has no column %s", t.Name, col)
	}
	if t.IsKey(col) {
		return fmt.Sprintf("cannot drop key column %s of table %s", c.Name, t.Name)
	}
	for _, ix := range a.s.IndexesOn(t.Name) {
		if ix.uses(col) {
			return fmt.Sprintf("cannot drop column %s.%s: index %s uses it; drop the index first", t.Name, c.Name, ix.Name)
		}
	}
	for _, fk := range t.ForeignKeys {
		if containsFold(fk.Columns, col) {
			return fmt.Sprintf("cannot drop column %s.%s: foreign key %s uses it", t.Name, c.Name, orAnonymous(fk.Name))
		}
	}
	for _, other := range a.s.tables {
		for _, fk := range other.ForeignKeys {
			if strings.EqualFold(fk.RefTable, t.Name) && containsFold(fk.RefColumns, col) {
				return fmt.Sprintf("cannot drop column %s.%s: foreign key %s of table %s references it", t.Name, c.Name, orAnonymous(fk.Name), other.Name)
			}
		}
	}
	for _, ck := range t.Checks {
		if exprUses(ck.Expr, col) {
			return fmt.Sprintf("cannot drop column %s.%s: check constraint %s uses it", t.Name, c.Name, orAnonymous(ck.Name))
		}
	}
	for _, other := range t.Columns {
		if other.Generated != "" && !strings.EqualFold(other.Name, col) && exprUses(other.Generated, col) {
			return fmt.Sprintf("cannot drop column %s.%s: generated column %s uses it", t.Name, c.Name, other.Name)
		}
	}
	if t.RowDeletionPolicy != nil && strings.EqualFold(t.RowDeletionPolicy.Column, col) {
		return fmt.Sprintf("cannot drop column %s.%s: the table's row deletion policy uses it", t.Name, c.Name)
	}
	for _, o := range a.s.others {
		if strings.EqualFold(o.Table, t.Name) {
			if exprUsesStatement(o.SQL, col) {
				return fmt.Sprintf("cannot drop column %s.%s: %s %s uses it", t.Name, c.Name, strings.ToLower(strings.TrimPrefix(o.Kind, "CREATE ")), o.Name)
			}
		}
	}
	for i, cc := range t.Columns {
		if cc == c {
			t.Columns = append(t.Columns[:i:i], t.Columns[i+1:]...)
			break
		}
	}
	return ""
}

func (a applier) alterColumn(t *Table, alt *ast.AlterColumn) string {
	c := t.Column(alt.Name.Name)
	if c == nil {
		return fmt.Sprintf("table %s has no column %s", t.Name, alt.Name.Name)
	}
	switch ca := alt.Alteration.(type) {
	case *ast.AlterColumnType:
		nc := *c
		nc.Type, nc.NotNull, nc.Default = schemaType(ca.Type), ca.NotNull, ""
		if ca.DefaultExpr != nil {
			nc.Default = ca.DefaultExpr.Expr.SQL()
		}
		if msg := a.checkType(t.Name, &nc); msg != "" {
			return msg
		}
		if msg := a.columnChange(t, c, nc.Type, nc.NotNull); msg != "" {
			return msg
		}
		switch {
		case c.Generated != "" && ca.GeneratedExpr == nil:
			return fmt.Sprintf("cannot convert generated column %s.%s to a regular column", t.Name, c.Name)
		case c.Generated == "" && ca.GeneratedExpr != nil:
			return fmt.Sprintf("cannot convert column %s.%s to a generated column", t.Name, c.Name)
		case c.Generated != "" && ca.GeneratedExpr.Expr.SQL() != c.Generated:
			return fmt.Sprintf("cannot change the expression of generated column %s.%s", t.Name, c.Name)
		case c.Generated != "" && ca.GeneratedExpr.Stored.Invalid() == c.Stored:
			return fmt.Sprintf("cannot change the STORED attribute of generated column %s.%s", t.Name, c.Name)
		}
		if msg := checkColumnExprs(t, &nc); msg != "" {
			return msg
		}
		c.Type, c.NotNull, c.Default = nc.Type, nc.NotNull, nc.Default
	case *ast.AlterColumnSetOptions:
		opts := options(ca.Options)
		if v, ok := opts.Get("allow_commit_timestamp"); ok && strings.EqualFold(v, "true") {
			if c.Type.Base != "TIMESTAMP" || c.Type.Array {
				return fmt.Sprintf("column %s.%s: allow_commit_timestamp is only allowed on TIMESTAMP columns", t.Name, c.Name)
			}
			if fk := a.foreignKeyOn(t, c.Name); fk != "" {
				return fmt.Sprintf("cannot set allow_commit_timestamp on column %s.%s: foreign key %s uses it", t.Name, c.Name, fk)
			}
			if c.Default != "" {
				return fmt.Sprintf("column %s.%s: a commit timestamp column (allow_commit_timestamp) cannot have a DEFAULT", t.Name, c.Name)
			}
		}
		for _, o := range opts {
			c.Options = c.Options.set(o.Name, o.Value)
		}
	case *ast.AlterColumnSetDefault:
		if c.Generated != "" {
			return fmt.Sprintf("cannot set a default on generated column %s.%s", t.Name, c.Name)
		}
		if c.AllowCommitTimestamp() {
			return fmt.Sprintf("column %s.%s: a commit timestamp column (allow_commit_timestamp) cannot have a DEFAULT", t.Name, c.Name)
		}
		if refs := exprColumnRefs(ca.DefaultExpr.Expr.SQL()); len(refs) > 0 {
			return fmt.Sprintf("the DEFAULT of column %s.%s reads %s; a default cannot read columns", t.Name, c.Name, refs[0])
		}
		c.Default = ca.DefaultExpr.Expr.SQL()
	case *ast.AlterColumnDropDefault:
		c.Default = ""
	case *ast.AlterColumnSetOnUpdate:
		c.OnUpdate = ca.OnUpdate.Expr.SQL()
	case *ast.AlterColumnDropOnUpdate:
		c.OnUpdate = ""
	case *ast.AlterColumnAlterIdentity:
		if c.Identity == "" {
			return fmt.Sprintf("column %s.%s is not an identity column", t.Name, c.Name)
		}
		c.Identity = strings.TrimSpace(c.Identity + " /* altered: " + ca.SQL() + " */")
	}
	return ""
}

// Convertible reports whether Spanner's ALTER COLUMN can change a column
// of type from to type to in place: the same type with another length,
// STRING ↔ BYTES, PROTO ↔ BYTES, one PROTO to another, ENUM ↔ INT64, and
// the same for array elements. The model does not know whether a proto
// bundle type is a message or an enum (only the descriptors say), so a
// named type may change to BYTES, INT64 or another named type; Spanner
// checks the kind.
func Convertible(from, to Type) bool {
	if from.Array != to.Array {
		return false
	}
	if from.Base == to.Base && from.Named == to.Named {
		return from.ArrayArgs == to.ArrayArgs
	}
	if from.ArrayArgs != "" || to.ArrayArgs != "" {
		return false
	}
	sb := func(t Type) bool { return !t.Named && (t.Base == "STRING" || t.Base == "BYTES") }
	switch {
	case sb(from) && sb(to):
		return true
	case from.Named && to.Named:
		return true
	case from.Named:
		return to.Base == "BYTES" || to.Base == "INT64"
	case to.Named:
		return from.Base == "BYTES" || from.Base == "INT64"
	}
	return false
}

// columnChange refuses a change of column c of t to type nt and NOT NULL
// notNull that Spanner refuses: an unconvertible type, anything but a
// length or STRING ↔ BYTES change of a key column (and any change of one
// with interleaved children, or of a child's inherited key column), a NOT
// NULL change of a key column, of a foreign key column or of the key of an
// index that is not NULL_FILTERED, and a type change of a foreign key
// column other than a length.
func (a applier) columnChange(t *Table, c *Column, nt Type, notNull bool) string {
	if nt != c.Type && !Convertible(c.Type, nt) {
		return fmt.Sprintf("cannot change column %s.%s from %s to %s", t.Name, c.Name, c.Type, nt)
	}
	typeChanged := nt != c.Type
	if t.IsKey(c.Name) && (typeChanged || notNull != c.NotNull) {
		if notNull != c.NotNull {
			return fmt.Sprintf("cannot change NOT NULL of key column %s.%s", t.Name, c.Name)
		}
		if p := a.s.tables[key(t.Parent)]; p != nil && p.IsKey(c.Name) {
			return fmt.Sprintf("cannot alter key column %s.%s: it is the key of its parent table %s", t.Name, c.Name, p.Name)
		}
		for _, ch := range sortedValues(a.s.tables, func(t *Table) string { return key(t.Name) }) {
			if strings.EqualFold(ch.Parent, t.Name) {
				return fmt.Sprintf("cannot alter key column %s.%s: table %s is interleaved in %s", t.Name, c.Name, ch.Name, t.Name)
			}
		}
		if nt.Base != c.Type.Base && (nt.Named || c.Type.Named) {
			return fmt.Sprintf("cannot change key column %s.%s from %s to %s", t.Name, c.Name, c.Type, nt)
		}
	}
	if fk := a.foreignKeyOn(t, c.Name); fk != "" {
		if notNull != c.NotNull {
			return fmt.Sprintf("cannot change NOT NULL of column %s.%s: foreign key %s uses it", t.Name, c.Name, fk)
		}
		if nt.Base != c.Type.Base || nt.Named != c.Type.Named {
			return fmt.Sprintf("cannot change the type of column %s.%s from %s to %s: foreign key %s uses it", t.Name, c.Name, c.Type, nt, fk)
		}
	}
	if c.Generated != "" && typeChanged && nt.Base != c.Type.Base {
		return fmt.Sprintf("cannot change the type of generated column %s.%s", t.Name, c.Name)
	}
	if nt.Base != c.Type.Base || nt.Named != c.Type.Named {
		for _, g := range t.Columns {
			if g.Generated != "" && g.Stored && contains(lowerAll(exprColumnRefs(g.Generated)), key(c.Name)) {
				return fmt.Sprintf("cannot change the type of column %s.%s: stored generated column %s reads it", t.Name, c.Name, g.Name)
			}
		}
	}
	if notNull != c.NotNull {
		for _, ix := range a.s.IndexesOn(t.Name) {
			if ix.keyUses(c.Name) && !ix.NullFiltered && !ix.Search {
				return fmt.Sprintf("changing NOT NULL of column %s.%s is not allowed because it is a key of index %s; drop the index, change the column, create the index again (or make the index NULL_FILTERED)", t.Name, c.Name, ix.Name)
			}
		}
	}
	return ""
}

// foreignKeyOn returns the name of a foreign key that uses column col of
// t, on either side, or "".
func (a applier) foreignKeyOn(t *Table, col string) string {
	for _, fk := range t.ForeignKeys {
		if containsFold(fk.Columns, col) {
			return orAnonymous(fk.Name)
		}
	}
	// The first by table name, without sorting every table on every
	// ALTER COLUMN.
	found, from := "", ""
	for _, other := range a.s.tables {
		if len(other.ForeignKeys) == 0 || (from != "" && key(other.Name) > from) {
			continue
		}
		for _, fk := range other.ForeignKeys {
			if strings.EqualFold(fk.RefTable, t.Name) && containsFold(fk.RefColumns, col) {
				found, from = orAnonymous(fk.Name), key(other.Name)
				break
			}
		}
	}
	return found
}

func (a applier) dropTable(n *ast.DropTable) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	t := s.tables[key(name)]
	if t == nil {
		if n.IfExists {
			return ""
		}
		return fmt.Sprintf("table %s does not exist", name)
	}
	if ixs := s.IndexesOn(name); len(ixs) > 0 {
		return fmt.Sprintf("cannot drop table %s with indexes: %s; drop them first", t.Name, ixs[0].Name)
	}
	others := sortedValues(s.tables, func(t *Table) string { return key(t.Name) })
	for _, c := range others {
		if strings.EqualFold(c.Parent, name) {
			return fmt.Sprintf("cannot drop table %s: table %s is interleaved in it; drop the child first", t.Name, c.Name)
		}
	}
	for _, c := range others {
		if strings.EqualFold(c.Name, name) {
			continue
		}
		for _, fk := range c.ForeignKeys {
			if strings.EqualFold(fk.RefTable, name) {
				return fmt.Sprintf("cannot drop table %s: foreign key %s of table %s references it", t.Name, orAnonymous(fk.Name), c.Name)
			}
		}
	}
	for _, v := range s.views {
		if contains(v.Refs, key(name)) {
			return fmt.Sprintf("cannot drop table %s: view %s depends on it", t.Name, v.Name)
		}
	}
	for _, cs := range s.streams {
		if contains(cs.Tables, key(name)) {
			return fmt.Sprintf("cannot drop table %s: change stream %s tracks it", t.Name, cs.Name)
		}
	}
	for _, o := range s.others {
		if strings.EqualFold(o.Table, name) {
			return fmt.Sprintf("cannot drop table %s: %s %s depends on it", t.Name, strings.ToLower(strings.TrimPrefix(o.Kind, "CREATE ")), o.Name)
		}
	}
	delete(s.tables, key(name))
	return ""
}

func (a applier) renameTable(n *ast.RenameTable) string {
	for _, to := range n.Tos {
		if msg := a.rename(to.Old.Name, to.New.Name); msg != "" {
			return msg
		}
	}
	return ""
}

// rename renames a table and every reference to it.
func (a applier) rename(oldName, newName string) string {
	s := a.s
	t := s.tables[key(oldName)]
	if t == nil {
		return fmt.Sprintf("table %s does not exist", oldName)
	}
	if !strings.EqualFold(oldName, newName) {
		if msg := a.nameFree(newName); msg != "" {
			return msg
		}
	}
	delete(s.tables, key(oldName))
	t.Name = newName
	s.tables[key(newName)] = t
	for _, c := range s.tables {
		if strings.EqualFold(c.Parent, oldName) {
			c.Parent = newName
		}
		for _, fk := range c.ForeignKeys {
			if strings.EqualFold(fk.RefTable, oldName) {
				fk.RefTable = newName
			}
		}
	}
	for _, ix := range s.indexes {
		if strings.EqualFold(ix.Table, oldName) {
			ix.Table = newName
		}
		if strings.EqualFold(ix.Interleave, oldName) {
			ix.Interleave = newName
		}
	}
	return ""
}

func (a applier) createIndex(n *ast.CreateIndex) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	if s.indexes[key(name)] != nil && n.IfNotExists {
		return ""
	}
	if msg := a.nameFree(name); msg != "" {
		return msg
	}
	table := sqlstmt.Name(n.TableName)
	t := s.tables[key(table)]
	if t == nil {
		return fmt.Sprintf("index %s: table %s does not exist", name, table)
	}
	if msg := sameNamedSchema(name, t.Name); msg != "" {
		return msg
	}
	ix := &Index{Name: name, Table: t.Name, Unique: n.Unique, NullFiltered: n.NullFiltered, Options: createOptions(n.Options)}
	for _, k := range n.Keys {
		kp := keyPart(k)
		c := t.Column(kp.Column)
		if c == nil {
			return fmt.Sprintf("index %s: table %s has no column %s", name, t.Name, kp.Column)
		}
		if c.Type.Array || c.Type.Base == "JSON" {
			return fmt.Sprintf("index %s: column %s.%s of type %s cannot be an index key", name, t.Name, c.Name, c.Type)
		}
		ix.Keys = append(ix.Keys, kp)
	}
	if n.Storing != nil {
		for _, id := range n.Storing.Columns {
			c := t.Column(id.Name)
			if c == nil {
				return fmt.Sprintf("index %s: stored column %s is not a column of table %s", name, id.Name, t.Name)
			}
			if t.IsKey(id.Name) {
				return fmt.Sprintf("index %s: stored column %s is a key column of table %s and is stored already", name, c.Name, t.Name)
			}
			ix.Storing = append(ix.Storing, id.Name)
		}
	}
	if n.Where != nil {
		ix.Where = n.Where.Expr.SQL()
	}
	if n.InterleaveIn != nil {
		ix.Interleave = n.InterleaveIn.TableName.Name
		if !a.ancestorOrSelf(t, ix.Interleave) {
			return fmt.Sprintf("index %s: table %s is not %s or one of its ancestors", name, ix.Interleave, t.Name)
		}
		p := s.tables[key(ix.Interleave)]
		for i, pk := range p.PrimaryKey {
			if i >= len(ix.Keys) || !strings.EqualFold(ix.Keys[i].Column, pk.Column) {
				return fmt.Sprintf("index %s does not reference index parent key column %s: an index interleaved in %s must start with its primary key", name, pk.Column, p.Name)
			}
		}
	}
	s.indexes[key(name)] = ix
	return ""
}

func (a applier) ancestorOrSelf(t *Table, name string) bool {
	for cur, n := t, 0; cur != nil && n < 64; n++ {
		if strings.EqualFold(cur.Name, name) {
			return true
		}
		cur = a.s.tables[key(cur.Parent)]
	}
	return false
}

func (a applier) alterIndex(n *ast.AlterIndex) string {
	return a.alterIndexNamed(sqlstmt.Name(n.Name), n.IndexAlteration)
}

func (a applier) dropIndex(name string, ifExists bool) string {
	s := a.s
	if s.indexes[key(name)] == nil {
		if ifExists {
			return ""
		}
		return fmt.Sprintf("index %s does not exist", name)
	}
	for _, v := range sortedValues(s.views, func(v *View) string { return key(v.Name) }) {
		if contains(v.Indexes, key(name)) {
			return fmt.Sprintf("cannot drop index %s: view %s names it in a FORCE_INDEX hint", name, v.Name)
		}
	}
	delete(s.indexes, key(name))
	return ""
}

func (a applier) alterIndexNamed(name string, alteration ast.IndexAlteration) string {
	ix := a.s.indexes[key(name)]
	if ix == nil {
		return fmt.Sprintf("index %s does not exist", name)
	}
	t := a.s.tables[key(ix.Table)]
	switch alt := alteration.(type) {
	case *ast.AddStoredColumn:
		if t == nil || t.Column(alt.Name.Name) == nil {
			return fmt.Sprintf("index %s: table %s has no column %s", name, ix.Table, alt.Name.Name)
		}
		if containsFold(ix.Storing, alt.Name.Name) {
			return fmt.Sprintf("index %s already stores %s", name, alt.Name.Name)
		}
		ix.Storing = append(ix.Storing, alt.Name.Name)
	case *ast.DropStoredColumn:
		for i, c := range ix.Storing {
			if strings.EqualFold(c, alt.Name.Name) {
				ix.Storing = append(ix.Storing[:i:i], ix.Storing[i+1:]...)
				return ""
			}
		}
		return fmt.Sprintf("index %s does not store %s", name, alt.Name.Name)
	}
	return ""
}

func (a applier) createView(n *ast.CreateView) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	if s.views[key(name)] == nil {
		if msg := a.nameFree(name); msg != "" {
			return msg
		}
	} else if !n.OrReplace {
		return fmt.Sprintf("duplicate name in schema: view %s already exists; use CREATE OR REPLACE VIEW", name)
	}
	sec := string(n.SecurityType)
	if sec == "" {
		sec = string(ast.SecurityTypeInvoker)
	}
	if n.SecurityType == "" {
		return fmt.Sprintf("view %s has no SQL SECURITY clause; write SQL SECURITY INVOKER", name)
	}
	if msg := viewColumnsProblem(name, n.Query); msg != "" {
		return msg
	}
	v := &View{Name: name, Security: sec, Query: n.Query.SQL(), Refs: queryRefs(n.Query), Indexes: forcedIndexes(n.Query)}
	if contains(v.Refs, key(name)) {
		return fmt.Sprintf("view %s cannot read itself", name)
	}
	ctes := cteNames(n.Query)
	for _, r := range v.Refs {
		if contains(ctes, r) {
			continue
		}
		if s.tables[r] == nil && s.views[r] == nil && !strings.Contains(r, "information_schema") {
			return fmt.Sprintf("view %s reads %s, which is not a table or a view", name, r)
		}
	}
	s.views[key(name)] = v
	if _, ok := s.viewSeq[key(name)]; !ok {
		s.seq++
		s.viewSeq[key(name)] = s.seq
	}
	return ""
}

func (a applier) createChangeStream(n *ast.CreateChangeStream) string {
	s := a.s
	name := n.Name.Name
	if msg := a.nameFree(name); msg != "" {
		return msg
	}
	cs := &ChangeStream{Name: name, Options: createOptions(n.Options)}
	if msg := a.setFor(cs, n.For); msg != "" {
		return msg
	}
	s.streams[key(name)] = cs
	return ""
}

// setFor sets the FOR clause of cs; on a refusal cs is left unchanged.
func (a applier) setFor(cs *ChangeStream, f ast.ChangeStreamFor) string {
	if f == nil {
		cs.For, cs.Tables, cs.Columns = "", nil, nil
		return ""
	}
	var tables, cols []string
	if ft, ok := f.(*ast.ChangeStreamForTables); ok {
		for _, tt := range ft.Tables {
			t := a.s.tables[key(tt.TableName.Name)]
			if t == nil {
				return fmt.Sprintf("change stream %s: table %s does not exist", cs.Name, tt.TableName.Name)
			}
			for _, c := range tt.Columns {
				if t.Column(c.Name) == nil {
					return fmt.Sprintf("change stream %s: table %s has no column %s", cs.Name, t.Name, c.Name)
				}
				if t.IsKey(c.Name) {
					return fmt.Sprintf("change stream %s: the FOR clause lists key column %s of table %s; list non-key columns only (key columns are always tracked)", cs.Name, c.Name, t.Name)
				}
				cols = append(cols, key(t.Name+"."+c.Name))
			}
			tables = append(tables, key(tt.TableName.Name))
		}
	}
	cs.For, cs.Tables, cs.Columns = f.SQL(), tables, cols
	return ""
}

func (a applier) alterChangeStream(n *ast.AlterChangeStream) string {
	cs := a.s.streams[key(n.Name.Name)]
	if cs == nil {
		return fmt.Sprintf("change stream %s does not exist", n.Name.Name)
	}
	switch alt := n.ChangeStreamAlteration.(type) {
	case *ast.ChangeStreamSetFor:
		return a.setFor(cs, alt.For)
	case *ast.ChangeStreamDropForAll:
		cs.For, cs.Tables, cs.Columns = "", nil, nil
	case *ast.ChangeStreamSetOptions:
		for _, o := range options(alt.Options) {
			cs.Options = cs.Options.set(o.Name, o.Value)
		}
	}
	return ""
}

// other keeps a statement the model does not interpret: a CREATE adds it,
// a DROP removes what was created under that name, an ALTER is kept after
// the CREATE it changes.
func (a applier) other(n ast.DDL) string {
	s := a.s
	verb, family, name, table := describeOther(n)
	switch {
	case strings.HasPrefix(verb, "DROP"):
		kept := s.others[:0:0]
		found := false
		for _, o := range s.others {
			if otherFamily(o.Kind) == family && strings.EqualFold(o.Name, name) {
				found = true
				continue
			}
			kept = append(kept, o)
		}
		if !found && !ifExists(n) {
			return fmt.Sprintf("%s %s does not exist", strings.ToLower(family), name)
		}
		if family == "SCHEMA" {
			if user := s.schemaUser(name); user != "" {
				return fmt.Sprintf("cannot drop schema %s while it holds %s; drop what it holds first", name, user)
			}
		}
		if family == "LOCALITY GROUP" {
			if user := s.localityGroupUser(name); user != "" {
				return fmt.Sprintf("cannot drop locality group %s: %s still uses it; set its locality_group option to another group or NULL first", name, user)
			}
		}
		s.others = kept
		return ""
	case strings.HasPrefix(verb, "CREATE"):
		for i, o := range s.others {
			if otherFamily(o.Kind) == family && strings.EqualFold(o.Name, name) && name != "" {
				if strings.Contains(n.SQL(), "OR REPLACE") {
					s.others[i] = &Other{Kind: verb, Name: name, Table: table, SQL: n.SQL()}
					return ""
				}
				if strings.Contains(n.SQL(), "IF NOT EXISTS") {
					return ""
				}
				return fmt.Sprintf("duplicate name in schema: %s %s already exists", strings.ToLower(family), name)
			}
		}
		if family == "SEARCH INDEX" || family == "VECTOR INDEX" {
			if msg := a.nameFree(name); msg != "" {
				return msg
			}
			if s.tables[key(table)] == nil {
				return fmt.Sprintf("%s %s: table %s does not exist", strings.ToLower(family), name, table)
			}
		}
	}
	s.others = append(s.others, &Other{Kind: verb, Name: name, Table: table, SQL: n.SQL()})
	return ""
}

// otherFamily strips CREATE/ALTER/DROP (and OR REPLACE) from a kind.
func otherFamily(kind string) string {
	for _, p := range []string{"CREATE ", "ALTER ", "DROP "} {
		kind = strings.TrimPrefix(kind, p)
	}
	return kind
}

func describeOther(n ast.DDL) (verb, family, name, table string) {
	verb = sqlstmtVerb(n)
	family = otherFamily(verb)
	switch n := n.(type) {
	case *ast.CreateSearchIndex:
		name, table = sqlstmt.Name(n.Name), sqlstmt.Name(n.TableName)
	case *ast.DropSearchIndex:
		name = sqlstmt.Name(n.Name)
	case *ast.AlterSearchIndex:
		name = sqlstmt.Name(n.Name)
	case *ast.CreateVectorIndex:
		name, table = n.Name.Name, n.TableName.Name
	case *ast.DropVectorIndex:
		name = n.Name.Name
	case *ast.AlterVectorIndex:
		name = sqlstmt.Name(n.Name)
	case *ast.CreateModel:
		name = n.Name.Name
	case *ast.AlterModel:
		name = n.Name.Name
	case *ast.DropModel:
		name = n.Name.Name
	case *ast.CreatePropertyGraph:
		name = n.Name.Name
	case *ast.DropPropertyGraph:
		name = n.Name.Name
	case *ast.CreateFunction:
		name = sqlstmt.Name(n.Name)
	case *ast.DropFunction:
		name = sqlstmt.Name(n.Name)
	case *ast.CreateLocalityGroup:
		name = n.Name.Name
	case *ast.AlterLocalityGroup:
		name = n.Name.Name
	case *ast.DropLocalityGroup:
		name = n.Name.Name
	case *ast.CreatePlacement:
		name = n.Name.Name
	case *ast.DropPlacement:
		name = n.Name.Name
	case *ast.CreateSchema:
		name = n.Name.Name
	case *ast.DropSchema:
		name = n.Name.Name
	case *ast.CreateProtoBundle, *ast.AlterProtoBundle, *ast.DropProtoBundle:
		name = "PROTO BUNDLE"
	}
	return verb, family, name, table
}

func ifExists(n ast.DDL) bool {
	switch n := n.(type) {
	case *ast.DropSearchIndex:
		return n.IfExists
	case *ast.DropVectorIndex:
		return n.IfExists
	case *ast.DropModel:
		return n.IfExists
	case *ast.DropPropertyGraph:
		return n.IfExists
	case *ast.DropFunction:
		return n.IfExists
	case *ast.DropSchema:
		return n.IfExists
	}
	return false
}

// checkType refuses a column type that is neither Spanner's nor a type of
// the proto bundle (a misspelled STRNG parses as a proto type name).
func (a applier) checkType(table string, c *Column) string {
	if c.Type.Base == "TOKENLIST" && !c.Type.Array && !c.Hidden && !a.live {
		return fmt.Sprintf("TOKENLIST column %s.%s must be HIDDEN", table, c.Name)
	}
	if !c.Type.Named {
		return ""
	}
	if _, ok := a.s.protoTypes[key(c.Type.Base)]; ok {
		return ""
	}
	if !a.s.bundle {
		return fmt.Sprintf("column %s.%s has type %s, which is not a Spanner type (INT64, STRING(n), BYTES(n), BOOL, FLOAT64, FLOAT32, NUMERIC, JSON, DATE, TIMESTAMP, TOKENLIST, UUID, ARRAY<…>) and no proto bundle declares it", table, c.Name, c.Type.Base)
	}
	return fmt.Sprintf("column %s.%s has type %s, which is not a Spanner type and not a type of the proto bundle; add it with ALTER PROTO BUNDLE INSERT (%s) first", table, c.Name, c.Type.Base, c.Type.Base)
}

// checkExprColumns refuses an expression of table t (a generated column
// or a check) that reads a name that is not a column of t.
func checkExprColumns(t *Table, what, expr string) string {
	for _, ref := range exprColumnRefs(expr) {
		if t.Column(ref) == nil {
			return fmt.Sprintf("%s reads %s, which is not a column of table %s", what, ref, t.Name)
		}
	}
	return ""
}

// checkColumnExprs checks the expressions of column c of t.
func checkColumnExprs(t *Table, c *Column) string {
	if c.Generated != "" {
		if msg := checkExprColumns(t, "generated column "+t.Name+"."+c.Name, c.Generated); msg != "" {
			return msg
		}
	}
	if c.Default != "" && c.AllowCommitTimestamp() {
		return fmt.Sprintf("column %s.%s: a commit timestamp column (allow_commit_timestamp) cannot have a DEFAULT", t.Name, c.Name)
	}
	if c.Default != "" && len(exprColumnRefs(c.Default)) > 0 {
		return fmt.Sprintf("the DEFAULT of column %s.%s reads %s; a default cannot read columns", t.Name, c.Name, exprColumnRefs(c.Default)[0])
	}
	return ""
}

func (a applier) createSearchIndex(n *ast.CreateSearchIndex) string {
	s := a.s
	name := sqlstmt.Name(n.Name)
	if msg := a.nameFree(name); msg != "" {
		return msg
	}
	table := sqlstmt.Name(n.TableName)
	t := s.tables[key(table)]
	if t == nil {
		return fmt.Sprintf("search index %s: table %s does not exist", name, table)
	}
	if msg := sameNamedSchema(name, t.Name); msg != "" {
		return msg
	}
	ix := &Index{Name: name, Table: t.Name, Search: true, Options: createOptions(n.Options)}
	for _, id := range n.TokenListPart {
		if t.Column(id.Name) == nil {
			return fmt.Sprintf("search index %s: table %s has no column %s (its keys must be TOKENLIST columns of the table)", name, t.Name, id.Name)
		}
		ix.Keys = append(ix.Keys, KeyPart{Column: id.Name})
	}
	if n.Storing != nil {
		for _, id := range n.Storing.Columns {
			if t.Column(id.Name) == nil {
				return fmt.Sprintf("search index %s: stored column %s is not a column of table %s", name, id.Name, t.Name)
			}
			ix.Storing = append(ix.Storing, id.Name)
		}
	}
	for _, id := range n.PartitionColumns {
		if t.Column(id.Name) == nil {
			return fmt.Sprintf("search index %s: partition column %s is not a column of table %s", name, id.Name, t.Name)
		}
		ix.PartitionBy = append(ix.PartitionBy, id.Name)
	}
	if n.OrderBy != nil {
		ix.OrderBy = strings.TrimSpace(strings.TrimPrefix(n.OrderBy.SQL(), "ORDER BY"))
	}
	if n.Where != nil {
		ix.Where = n.Where.Expr.SQL()
	}
	if n.Interleave != nil {
		ix.Interleave = n.Interleave.TableName.Name
		if !a.ancestorOrSelf(t, ix.Interleave) {
			return fmt.Sprintf("search index %s: table %s is not %s or one of its ancestors", name, ix.Interleave, t.Name)
		}
	}
	s.indexes[key(name)] = ix
	return ""
}

func protoTypeNames(t *ast.ProtoBundleTypes) []string {
	if t == nil {
		return nil
	}
	out := make([]string, len(t.Types))
	for i, nt := range t.Types {
		out[i] = schemaType(nt).Base
	}
	return out
}

func (a applier) createProtoBundle(n *ast.CreateProtoBundle) string {
	if a.s.bundle {
		return "a proto bundle already exists; change it with ALTER PROTO BUNDLE"
	}
	a.s.bundle = true
	for _, name := range protoTypeNames(n.Types) {
		a.s.protoTypes[key(name)] = name
	}
	return ""
}

func (a applier) alterProtoBundle(n *ast.AlterProtoBundle) string {
	s := a.s
	if !s.bundle {
		return "there is no proto bundle to alter; create it with CREATE PROTO BUNDLE"
	}
	if n.Insert != nil {
		for _, name := range protoTypeNames(n.Insert.Types) {
			if _, dup := s.protoTypes[key(name)]; dup {
				return fmt.Sprintf("proto bundle: type %s is in the bundle already; use UPDATE", name)
			}
		}
	}
	if n.Update != nil {
		for _, name := range protoTypeNames(n.Update.Types) {
			if _, ok := s.protoTypes[key(name)]; !ok {
				return fmt.Sprintf("proto bundle: type %s is not in the bundle; use INSERT", name)
			}
		}
	}
	if n.Delete != nil {
		for _, name := range protoTypeNames(n.Delete.Types) {
			if _, ok := s.protoTypes[key(name)]; !ok {
				return fmt.Sprintf("proto bundle: type %s is not in the bundle", name)
			}
			if col := s.typeUser(name); col != "" {
				return fmt.Sprintf("proto bundle: type %s cannot be deleted: column %s still uses it", name, col)
			}
		}
		for _, name := range protoTypeNames(n.Delete.Types) {
			delete(s.protoTypes, key(name))
		}
	}
	if n.Insert != nil {
		for _, name := range protoTypeNames(n.Insert.Types) {
			s.protoTypes[key(name)] = name
		}
	}
	return ""
}

func (a applier) dropProtoBundle() string {
	s := a.s
	if !s.bundle {
		return "there is no proto bundle to drop"
	}
	for _, name := range sortedValues(s.protoTypes, key) {
		if col := s.typeUser(name); col != "" {
			return fmt.Sprintf("cannot drop the proto bundle: column %s still uses its type %s", col, name)
		}
	}
	s.bundle = false
	s.protoTypes = map[string]string{}
	return ""
}

// typeUser returns "table.column" of a column whose type is the named
// proto or enum type, or "".
func (s *Schema) typeUser(name string) string {
	for _, t := range sortedValues(s.tables, func(t *Table) string { return key(t.Name) }) {
		for _, c := range t.Columns {
			if c.Type.Named && strings.EqualFold(c.Type.Base, name) {
				return t.Name + "." + c.Name
			}
		}
	}
	return ""
}

// localityGroupUser names a table, column or index whose OPTIONS name
// locality group lg, or "".
func (s *Schema) localityGroupUser(lg string) string {
	uses := func(o Options) bool {
		v, ok := o.Get("locality_group")
		return ok && strings.EqualFold(strings.Trim(v, `'"`), lg)
	}
	for _, t := range sortedValues(s.tables, func(t *Table) string { return key(t.Name) }) {
		if uses(t.Options) {
			return "table " + t.Name
		}
		for _, c := range t.Columns {
			if uses(c.Options) {
				return "column " + t.Name + "." + c.Name
			}
		}
	}
	for _, ix := range s.Indexes() {
		if uses(ix.Options) {
			return "index " + ix.Name
		}
	}
	return ""
}

// rdpAllowed refuses a row deletion policy added to a table that foreign
// keys reference, or that has a descendant interleaved with ON DELETE NO
// ACTION.
func (a applier) rdpAllowed(t *Table) string {
	all := sortedValues(a.s.tables, func(t *Table) string { return key(t.Name) })
	for _, other := range all {
		for _, fk := range other.ForeignKeys {
			if strings.EqualFold(fk.RefTable, t.Name) {
				return fmt.Sprintf("cannot add a row deletion policy to table %s: foreign key %s of table %s references it", t.Name, orAnonymous(fk.Name), other.Name)
			}
		}
	}
	var walk func(parent string, depth int) string
	walk = func(parent string, depth int) string {
		for _, c := range all {
			if depth < 8 && strings.EqualFold(c.Parent, parent) {
				if c.OnDelete != "CASCADE" {
					return fmt.Sprintf("cannot add a row deletion policy to table %s: its descendant %s is interleaved with ON DELETE NO ACTION", t.Name, c.Name)
				}
				if msg := walk(c.Name, depth+1); msg != "" {
					return msg
				}
			}
		}
		return ""
	}
	return walk(t.Name, 0)
}

// schemaUser names an object of the named schema sch, or "".
func (s *Schema) schemaUser(sch string) string {
	in := func(name string) bool {
		p, _, ok := strings.Cut(name, ".")
		return ok && strings.EqualFold(p, sch)
	}
	for _, t := range sortedValues(s.tables, func(t *Table) string { return key(t.Name) }) {
		if in(t.Name) {
			return "table " + t.Name
		}
	}
	for _, ix := range s.Indexes() {
		if in(ix.Name) {
			return "index " + ix.Name
		}
	}
	for _, v := range s.Views() {
		if in(v.Name) {
			return "view " + v.Name
		}
	}
	for _, q := range s.Sequences() {
		if in(q.Name) {
			return "sequence " + q.Name
		}
	}
	return ""
}

// sameNamedSchema refuses an index in another named schema than its
// table's.
func sameNamedSchema(index, table string) string {
	schemaOf := func(n string) string {
		p, _, ok := strings.Cut(n, ".")
		if !ok {
			return ""
		}
		return key(p)
	}
	if schemaOf(index) != schemaOf(table) {
		return fmt.Sprintf("index %s must be in the named schema of its table %s", index, table)
	}
	return ""
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = key(n)
	}
	return out
}
