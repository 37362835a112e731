// Package policy decides, deny by default, what a verified principal may do
// on a database. Rules come from the config: a CEL condition over the
// token's issuer, subject and claims, the databases the rule covers and the
// actions it grants. A request is allowed when any rule that covers the
// database and grants the action has a true condition.
//
// Conditions are compiled once, in New; type errors and non-bool conditions
// are refused there with the rule's name and file position. Evaluation is
// bounded in cost, and an evaluation error (a claim the token lacks, say) is
// a deny with its reason, never an allow. Every deny names the nearest rule
// and the part of its condition that failed, so `spangate policy explain`
// can say why.
//
// Statements are decided from their parsed form (internal/sqlstmt): a query
// needs read, DML needs write, DDL outside a migration needs ddl, and a
// destructive statement needs destructive as well: DDL that is not on the
// allow-list of additive changes, and DML that is not provably bounded (an
// UPDATE or DELETE whose WHERE does not fix or range its table's primary
// key, INSERT … SELECT, Partitioned DML). A statement that names one of
// spangate's own tables is always denied.
package policy

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
)

// Policy is a compiled, immutable set of rules. It is safe for concurrent
// use.
type Policy struct {
	cfg   *config.Config
	rules []*rule
	// byDatabase lists, per logical database, the rules that cover it
	// (named or through "*"), in config order.
	byDatabase map[string][]*rule
	// grants lists, per database and action, the rules that grant the
	// action on the database, in config order. Decide evaluates only these.
	grants map[string]map[spangate.Action][]*rule
	// issuers holds the configured issuer names.
	issuers map[string]bool
}

// rule is a compiled config rule.
type rule struct {
	name      string
	index     int
	databases []string
	allow     []spangate.Action
	conj      []conjunct
}

func (r *rule) grants(a spangate.Action) bool { return slices.Contains(r.allow, a) }

// New validates cfg and compiles its rules. It reports every problem — the
// config's own (see config.Validate) and each condition that does not
// compile, is not bool or is too large — in one *spangate.Error of kind
// Invalid wrapping config.Problems.
func New(cfg *config.Config) (*Policy, error) {
	var problems config.Problems
	if err := cfg.Validate(); err != nil {
		if !errors.As(err, &problems) {
			return nil, err
		}
	}
	env, err := NewEnv()
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "policy: create CEL environment: %w", err)
	}
	p := &Policy{
		cfg:        cfg,
		byDatabase: map[string][]*rule{},
		grants:     map[string]map[spangate.Action][]*rule{},
		issuers:    map[string]bool{},
	}
	for _, is := range cfg.Issuers {
		p.issuers[is.Name] = true
	}
	for i, r := range cfg.Rules {
		path := fmt.Sprintf("rules[%d].when", i)
		if strings.TrimSpace(r.When) == "" {
			continue // reported by Validate
		}
		conj, ps := compileRule(env, cfg, path, r)
		problems = append(problems, ps...)
		p.rules = append(p.rules, &rule{name: r.Name, index: i, databases: r.Databases, allow: r.Allow, conj: conj})
	}
	if err := problems.Err(cfg.File()); err != nil {
		return nil, err
	}

	for _, db := range slices.Sorted(maps.Keys(cfg.Databases)) {
		p.grants[db] = map[spangate.Action][]*rule{}
		for _, r := range p.rules {
			if !slices.Contains(r.databases, db) && !slices.Contains(r.databases, config.AllDatabases) {
				continue
			}
			p.byDatabase[db] = append(p.byDatabase[db], r)
			for _, a := range r.allow {
				p.grants[db][a] = append(p.grants[db][a], r)
			}
		}
	}
	return p, nil
}

// Load parses, validates and compiles the config read from r, reporting
// every problem — structural, semantic and in rule conditions — in one
// *spangate.Error of kind Invalid wrapping config.Problems. filename is
// used in messages.
func Load(r io.Reader, filename string) (*Policy, error) {
	cfg, err := config.Parse(r, filename)
	if cfg == nil {
		return nil, err
	}
	var parsed config.Problems
	if err != nil && !errors.As(err, &parsed) {
		return nil, err
	}
	p, err := New(cfg)
	var found config.Problems
	if err != nil && !errors.As(err, &found) {
		return nil, err
	}
	if err := parsed.Merge(found).Err(filename); err != nil {
		return nil, err
	}
	return p, nil
}

// Config returns the config the policy was compiled from. It must not be
// modified.
func (p *Policy) Config() *config.Config { return p.cfg }

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// verdict is one rule's evaluation against a principal.
type verdict struct {
	rule *rule
	// holds is true when the condition is true.
	holds bool
	// satisfied counts the conjuncts found true before the first false one;
	// the rule with the most is the nearest miss.
	satisfied int
	// failed is the first false conjunct, or the first that could not be
	// evaluated when none is false.
	failed *conjunct
	// err is failed's evaluation error, if that is why.
	err error
}

// evaluate evaluates r's conjuncts in order, with CEL's semantics for &&:
// any false conjunct makes the condition false, otherwise any error makes
// it an error, otherwise it is true. An error is never an allow.
func evaluate(r *rule, in *input) verdict {
	v := verdict{rule: r}
	for i := range r.conj {
		c := &r.conj[i]
		res, err := c.eval(in)
		switch res {
		case outcomeTrue:
			v.satisfied++
		case outcomeFalse:
			v.failed, v.err = c, nil
			return v
		case outcomeError:
			if v.err == nil {
				v.failed, v.err = c, err
			}
		}
	}
	v.holds = v.err == nil
	return v
}

// Decide decides whether pr may perform action on the logical database.
// It allows when a rule that covers the database and grants the action has
// a true condition, and denies otherwise; a deny names the nearest rule and
// what failed: the database, the action or the condition.
func (p *Policy) Decide(pr spangate.Principal, database string, action spangate.Action) spangate.Decision {
	if !action.Valid() {
		return deny("", "unknown action %q (known: %s)", action, actionList())
	}
	rulesByAction, ok := p.grants[database]
	if !ok {
		return deny("", "unknown database %q (known: %s)", database, strings.Join(slices.Sorted(maps.Keys(p.grants)), ", "))
	}
	if !p.issuers[pr.Issuer] {
		return deny("", "issuer %q is not configured; only tokens from the configured issuers are accepted", pr.Issuer)
	}
	in := newInput(&pr)
	candidates := rulesByAction[action]
	var nearest verdict
	for _, r := range candidates {
		v := evaluate(r, in)
		if v.holds {
			return spangate.Decision{
				Allow:  true,
				Rule:   r.name,
				Reason: fmt.Sprintf("rule %s grants %s on %s to %s", r.name, action, database, pr),
			}
		}
		if nearest.rule == nil || v.satisfied > nearest.satisfied {
			nearest = v
		}
	}
	if nearest.rule != nil {
		reason := fmt.Sprintf("rule %s: %s", nearest.rule.name, nearest.describe(in))
		if n := len(candidates) - 1; n > 0 {
			reason += fmt.Sprintf(" (%d other %s granting %s on %s did not match either)", n, plural(n, "rule", "rules"), action, database)
		}
		return spangate.Decision{Rule: nearest.rule.name, Reason: reason}
	}
	return p.explainNoGrant(in, database, action)
}

// explainNoGrant explains a deny when no rule grants action on database: a
// rule that covers the database but grants other actions is nearest (one
// whose condition holds first), then a rule that grants the action on other
// databases.
func (p *Policy) explainNoGrant(in *input, database string, action spangate.Action) spangate.Decision {
	var nearest verdict
	for _, r := range p.byDatabase[database] {
		v := evaluate(r, in)
		if v.holds {
			nearest = v
			break
		}
		if nearest.rule == nil || v.satisfied > nearest.satisfied {
			nearest = v
		}
	}
	if r := nearest.rule; r != nil {
		granted := actionNames(r.allow)
		if nearest.holds {
			return deny(r.name, "rule %s matches this token but grants only %s on %s, not %s", r.name, granted, database, action)
		}
		return deny(r.name, "rule %s covers %s but grants only %s, not %s; and %s", r.name, database, granted, action, nearest.describe(in))
	}
	for _, r := range p.rules {
		if r.grants(action) {
			return deny(r.name, "rule %s grants %s only on %s, not on %s; no rule covers %s", r.name, action, strings.Join(r.databases, ", "), database, database)
		}
	}
	return deny("", "no rule covers database %s; nothing is allowed unless a rule allows it", database)
}

// describe says what failed in a rule's condition.
func (v verdict) describe(in *input) string {
	if v.failed == nil {
		return "condition false"
	}
	if v.err != nil {
		return fmt.Sprintf("condition could not be evaluated: %s: %s", v.failed.text, describeEvalError(v.err))
	}
	s := "condition false: " + v.failed.text
	if obs := v.failed.observed(in); obs != "" {
		s += " (" + obs + ")"
	}
	return s
}

func deny(rule, format string, args ...any) spangate.Decision {
	return spangate.Decision{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

func actionList() string { return actionNames(spangate.Actions()) }

func actionNames(acts []spangate.Action) string {
	names := make([]string, len(acts))
	for i, a := range acts {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
