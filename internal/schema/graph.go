package schema

import (
	"container/heap"
	"strings"

	"github.com/cloudspannerecosystem/memefish"
	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate/internal/sqlstmt"
)

// The dependency graph of a schema names every object by an id:
//
//	t:<table>             a table
//	c:<table>.<column>    a column
//	k:<table>.<name>      a foreign key or check (an anonymous one by its SQL)
//	rdp:<table>           a row deletion policy
//	i:<index>             an index or search index
//	v:<view>              a view
//	s:<stream>            a change stream
//	q:<sequence>          a sequence
//	r:<role>              a role
//	g:<grant>             a grant (its canonical text)
//	p:<type>              a proto bundle type
//	pb                    the proto bundle
//	o:<FAMILY>:<name>     a statement kept verbatim (model, locality group, named schema…)
//	n:<name>              a name in the schema's shared namespace
//
// deps maps each object to the objects it needs: what Spanner refuses to
// drop (or change) while the object exists. Ids are lower case.

func tableID(t string) string         { return "t:" + key(t) }
func columnID(t, c string) string     { return "c:" + key(t) + "." + key(c) }
func indexID(ix string) string        { return "i:" + key(ix) }
func viewID(v string) string          { return "v:" + key(v) }
func streamID(s string) string        { return "s:" + key(s) }
func sequenceID(q string) string      { return "q:" + key(q) }
func roleID(r string) string          { return "r:" + key(r) }
func grantID(g string) string         { return "g:" + key(g) }
func protoID(p string) string         { return "p:" + key(p) }
func nameID(n string) string          { return "n:" + key(n) }
func otherID(fam, n string) string    { return "o:" + fam + ":" + key(n) }
func rdpID(t string) string           { return "rdp:" + key(t) }
func constraintID(t, n string) string { return "k:" + key(t) + "." + key(n) }

func fkID(t *Table, fk *ForeignKey) string {
	if fk.Name != "" {
		return constraintID(t.Name, fk.Name)
	}
	return constraintID(t.Name, fk.SQL())
}

func checkID(t *Table, ck *Check) string {
	if ck.Name != "" {
		return constraintID(t.Name, ck.Name)
	}
	return constraintID(t.Name, ck.SQL())
}

// schemaOf returns the dependency on the named schema of a dotted name.
func schemaDep(name string) []string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		return []string{otherID("SCHEMA", name[:i])}
	}
	return nil
}

func localityDep(o Options) []string {
	if v, ok := o.Get("locality_group"); ok && !strings.EqualFold(v, "NULL") {
		return []string{otherID("LOCALITY GROUP", strings.Trim(v, `'"`))}
	}
	return nil
}

// tableParts returns the ids that go and come with a table: its columns,
// constraints, row deletion policy and names.
func tableParts(t *Table, inlineFK func(*ForeignKey) bool) []string {
	ids := []string{tableID(t.Name), nameID(t.Name)}
	for _, c := range t.Columns {
		ids = append(ids, columnID(t.Name, c.Name))
	}
	for _, fk := range t.ForeignKeys {
		if inlineFK == nil || inlineFK(fk) {
			ids = append(ids, fkID(t, fk))
			if fk.Name != "" {
				ids = append(ids, nameID(fk.Name))
			}
		}
	}
	for _, ck := range t.Checks {
		ids = append(ids, checkID(t, ck))
		if ck.Name != "" {
			ids = append(ids, nameID(ck.Name))
		}
	}
	if t.RowDeletionPolicy != nil {
		ids = append(ids, rdpID(t.Name))
	}
	return ids
}

// dependencies returns the dependency graph of s.
func (s *Schema) dependencies() map[string][]string {
	g := map[string][]string{}
	add := func(id string, deps ...string) {
		for _, d := range deps {
			if d != id && !contains(g[id], d) {
				g[id] = append(g[id], d)
			}
		}
	}
	for _, t := range s.tables {
		tid := tableID(t.Name)
		if t.Parent != "" {
			add(tid, tableID(t.Parent))
		}
		add(tid, schemaDep(t.Name)...)
		add(tid, localityDep(t.Options)...)
		for _, c := range t.Columns {
			cid := columnID(t.Name, c.Name)
			add(cid, tid)
			if c.Generated != "" {
				for _, r := range exprColumnRefs(c.Generated) {
					add(cid, columnID(t.Name, r))
				}
			}
			for _, e := range []string{c.Default, c.OnUpdate, c.Generated, c.Identity} {
				if e != "" {
					for _, q := range sequenceRefs(e) {
						add(cid, sequenceID(q))
					}
				}
			}
			if c.Type.Named {
				add(cid, protoID(c.Type.Base))
			}
			add(cid, localityDep(c.Options)...)
		}
		for _, fk := range t.ForeignKeys {
			id := fkID(t, fk)
			add(id, tid, tableID(fk.RefTable))
			for _, c := range fk.Columns {
				add(id, columnID(t.Name, c))
			}
			for _, c := range fk.RefColumns {
				add(id, columnID(fk.RefTable, c))
			}
			// Spanner refuses a row deletion policy added to a table
			// that foreign keys reference, but not a foreign key to a
			// table that has one: the policy comes first.
			if ref := s.tables[key(fk.RefTable)]; ref != nil && ref.RowDeletionPolicy != nil {
				add(id, rdpID(ref.Name))
			}
		}
		for _, ck := range t.Checks {
			id := checkID(t, ck)
			add(id, tid)
			for _, r := range exprColumnRefs(ck.Expr) {
				add(id, columnID(t.Name, r))
			}
		}
		if t.RowDeletionPolicy != nil {
			add(rdpID(t.Name), tid, columnID(t.Name, t.RowDeletionPolicy.Column))
		}
	}
	for _, ix := range s.indexes {
		id := indexID(ix.Name)
		add(id, tableID(ix.Table))
		for _, k := range ix.Keys {
			add(id, columnID(ix.Table, k.Column))
		}
		for _, c := range append(append([]string(nil), ix.Storing...), ix.PartitionBy...) {
			add(id, columnID(ix.Table, c))
		}
		if ix.OrderBy != "" {
			for _, r := range exprColumnRefs(ix.OrderBy) {
				add(id, columnID(ix.Table, r))
			}
		}
		if ix.Interleave != "" {
			add(id, tableID(ix.Interleave))
		}
		add(id, schemaDep(ix.Name)...)
		add(id, localityDep(ix.Options)...)
	}
	for _, v := range s.views {
		id := viewID(v.Name)
		idents := queryIdents(v.Query)
		for _, r := range v.Refs {
			switch {
			case s.views[r] != nil:
				add(id, viewID(r))
			case s.tables[r] != nil:
				add(id, tableID(r))
				for _, c := range s.tables[r].Columns {
					if idents[key(c.Name)] {
						add(id, columnID(r, c.Name))
					}
				}
			}
		}
		for _, ix := range v.Indexes {
			add(id, indexID(ix))
		}
		add(id, schemaDep(v.Name)...)
	}
	for _, cs := range s.streams {
		id := streamID(cs.Name)
		for _, t := range cs.Tables {
			add(id, tableID(t))
		}
		for _, c := range cs.Columns {
			add(id, "c:"+c)
		}
	}
	for _, q := range s.sequences {
		add(sequenceID(q.Name), schemaDep(q.Name)...)
	}
	for k, gr := range s.grants {
		add("g:"+k, grantDeps(gr)...)
	}
	for _, o := range s.others {
		if o.Name == "" {
			continue
		}
		id := otherID(otherFamily(o.Kind), o.Name)
		if o.Table != "" {
			add(id, tableID(o.Table))
			if st, err := memefish.ParseDDL("", o.SQL); err == nil {
				t := s.tables[key(o.Table)]
				for _, r := range columnRefs(st) {
					if t != nil && t.Column(r) != nil {
						add(id, columnID(o.Table, r))
					}
				}
			}
		}
		if fam := otherFamily(o.Kind); fam != "SCHEMA" {
			add(id, schemaDep(o.Name)...)
		}
	}
	for _, p := range s.protoTypes {
		add(protoID(p), "pb")
	}
	return g
}

// queryIdents returns the lower-cased identifiers a query names.
func queryIdents(query string) map[string]bool {
	out := map[string]bool{}
	q, err := memefish.ParseQuery("", query)
	if err != nil {
		return out
	}
	ast.Inspect(q, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			out[key(id.Name)] = true
		}
		return true
	})
	return out
}

// grantDeps returns what a grant needs: its role and its object.
func grantDeps(grant string) []string {
	st, err := memefish.ParseDDL("", grant)
	if err != nil {
		return nil
	}
	g, ok := st.(*ast.Grant)
	if !ok {
		return nil
	}
	var deps []string
	for _, r := range g.Roles {
		deps = append(deps, roleID(r.Name))
	}
	switch p := g.Privilege.(type) {
	case *ast.PrivilegeOnTable:
		for _, n := range p.Names {
			t := sqlstmt.Name(n)
			deps = append(deps, tableID(t))
			for _, tp := range p.Privileges {
				for _, c := range privilegeColumns(tp) {
					deps = append(deps, columnID(t, c))
				}
			}
		}
	case *ast.SelectPrivilegeOnView:
		for _, n := range p.Names {
			deps = append(deps, viewID(sqlstmt.Name(n)))
		}
	case *ast.SelectPrivilegeOnChangeStream:
		for _, n := range p.Names {
			deps = append(deps, streamID(sqlstmt.Name(n)))
		}
	case *ast.RolePrivilege:
		for _, n := range p.Names {
			deps = append(deps, roleID(n.Name))
		}
	}
	return deps
}

func privilegeColumns(tp ast.TablePrivilege) []string {
	switch tp := tp.(type) {
	case *ast.SelectPrivilege:
		return identNames(tp.Columns)
	case *ast.InsertPrivilege:
		return identNames(tp.Columns)
	case *ast.UpdatePrivilege:
		return identNames(tp.Columns)
	}
	return nil
}

// step is one statement of a diff with what it does to the dependency
// graph: the ids it drops, creates or alters, and the dependencies it
// releases (no longer needs) and acquires (needs from now on).
type step struct {
	Change
	rank, seq                                  int
	drops, creates, alters, releases, acquires []string
	after                                      []int
}

// order sorts the steps so that every step comes after the steps it
// depends on:
//
//   - a step that drops an id comes after every step that releases it,
//     and before every step that creates it again (names included);
//   - a step that alters an id comes after every step that releases it;
//   - a step that acquires an id comes after every step that creates or
//     alters it.
//
// Among the steps that are ready, the lowest rank (then the earliest
// emitted) goes first, so the output keeps the familiar shape: removals,
// then additions, then indexes, views and change streams. A cycle (which
// a valid target schema does not produce) is broken at the lowest rank.
func order(steps []*step) []*step {
	n := len(steps)
	byID := func(get func(*step) []string) map[string][]int {
		m := map[string][]int{}
		for i, st := range steps {
			for _, id := range get(st) {
				m[id] = append(m[id], i)
			}
		}
		return m
	}
	drops := byID(func(s *step) []string { return s.drops })
	creates := byID(func(s *step) []string { return s.creates })
	alters := byID(func(s *step) []string { return s.alters })
	releases := byID(func(s *step) []string { return s.releases })
	acquires := byID(func(s *step) []string { return s.acquires })
	succ := make([][]int, n)
	indeg := make([]int, n)
	seen := map[[2]int]bool{}
	edge := func(from, to int) {
		if from == to || seen[[2]int{from, to}] {
			return
		}
		seen[[2]int{from, to}] = true
		succ[from] = append(succ[from], to)
		indeg[to]++
	}
	for id, ds := range drops {
		for _, d := range ds {
			for _, c := range creates[id] {
				edge(d, c)
			}
			for _, r := range releases[id] {
				edge(r, d)
			}
		}
	}
	for id, as := range alters {
		for _, a := range as {
			for _, r := range releases[id] {
				edge(r, a)
			}
			for _, q := range acquires[id] {
				edge(a, q)
			}
		}
	}
	for id, cs := range creates {
		for _, c := range cs {
			for _, q := range acquires[id] {
				edge(c, q)
			}
		}
	}
	for i, st := range steps {
		for _, p := range st.after {
			edge(p, i)
		}
	}
	h := &stepHeap{steps: steps}
	for i := range steps {
		if indeg[i] == 0 {
			heap.Push(h, i)
		}
	}
	out := make([]*step, 0, n)
	done := make([]bool, n)
	for len(out) < n {
		if h.Len() == 0 {
			// A cycle: place the lowest remaining step.
			best := -1
			for i := range steps {
				if !done[i] && (best < 0 || h.less(i, best)) {
					best = i
				}
			}
			indeg[best] = 0
			heap.Push(h, best)
		}
		i := heap.Pop(h).(int)
		if done[i] {
			continue
		}
		done[i] = true
		out = append(out, steps[i])
		for _, j := range succ[i] {
			indeg[j]--
			if indeg[j] == 0 && !done[j] {
				heap.Push(h, j)
			}
		}
	}
	return out
}

type stepHeap struct {
	steps []*step
	items []int
}

func (h *stepHeap) less(i, j int) bool {
	a, b := h.steps[i], h.steps[j]
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.seq < b.seq
}
func (h *stepHeap) Len() int           { return len(h.items) }
func (h *stepHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *stepHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *stepHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *stepHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
