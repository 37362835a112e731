package policy

import (
	"fmt"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// DecideStatement decides whether pr may execute sql directly (outside a
// migration) on database. The text must hold exactly one statement: more
// than one, none, or text that does not parse is an error of kind Invalid,
// never a decision. The statement's required actions come from its parsed
// form, so a DROP or a DELETE hidden behind comments, odd case or string
// literals is still seen for what it is.
func (p *Policy) DecideStatement(pr spangate.Principal, database, sql string) (spangate.Decision, error) {
	st, err := sqlstmt.ParseOne(sql)
	if err != nil {
		return spangate.Decision{}, err
	}
	return p.DecideParsed(pr, database, &st), nil
}

// DecideParsed decides whether pr may execute the parsed statement directly
// on database: a query needs read, DML needs write, DDL needs ddl, and a
// destructive statement needs destructive as well. Every required action
// must be allowed.
//
// A statement that names one of spangate's own objects (Spangate* tables,
// see sqlstmt.Statement.CheckCaller) is denied whatever the rules say. An
// UPDATE or DELETE is decided as classified: pass it through
// sqlstmt.Statement.WithKeys first, or one whose WHERE fixes its table's
// key still needs destructive.
func (p *Policy) DecideParsed(pr spangate.Principal, database string, st *sqlstmt.Statement) spangate.Decision {
	if err := st.CheckCaller(); err != nil {
		return deny("", "%s: %s", describe(st), err.Error())
	}
	return p.decideAll(pr, database, describe(st), st.RequiredActions())
}

// DecideMigration decides whether pr may apply a migration made of stmts to
// database. Applying needs migrate, whatever the statements' kinds; a
// destructive statement among them needs destructive as well.
func (p *Policy) DecideMigration(pr spangate.Principal, database string, stmts []sqlstmt.Statement) spangate.Decision {
	required := []spangate.Action{spangate.ActionMigrate}
	what := "the migration"
	for i := range stmts {
		if err := stmts[i].CheckCaller(); err != nil {
			return deny("", "the migration (its statement at line %d: %s): %s", stmts[i].Line, describe(&stmts[i]), err.Error())
		}
	}
	for i := range stmts {
		if stmts[i].Destructive {
			required = append(required, spangate.ActionDestructive)
			what = fmt.Sprintf("the migration (its statement at line %d: %s)", stmts[i].Line, describe(&stmts[i]))
			break
		}
	}
	return p.decideAll(pr, database, what, required)
}

// decideAll allows when every required action is allowed, and otherwise
// returns the first deny, prefixed with what needed the action.
func (p *Policy) decideAll(pr spangate.Principal, database, what string, required []spangate.Action) spangate.Decision {
	if len(required) == 0 {
		return deny("", "%s needs no known action; it is refused", what)
	}
	var grants []string
	var last spangate.Decision
	for _, a := range required {
		d := p.Decide(pr, database, a)
		if !d.Allow {
			d.Reason = fmt.Sprintf("%s needs %s: %s", what, actionNames(required), d.Reason)
			return d
		}
		grants = append(grants, fmt.Sprintf("rule %s grants %s", d.Rule, a))
		last = d
	}
	last.Reason = fmt.Sprintf("%s needs %s on %s: %s", what, actionNames(required), database, strings.Join(grants, "; "))
	return last
}

// describe names a statement briefly, with why it is destructive if it is:
// "DELETE on Orders [destructive: …]".
func describe(st *sqlstmt.Statement) string {
	s := st.Verb
	if s == "" {
		s = st.Kind.String() + " statement"
	}
	if st.Table != "" {
		s += " on " + st.Table
	}
	if st.Destructive && st.DestructiveReason != "" {
		s += " [destructive: " + st.DestructiveReason + "]"
	}
	return s
}
