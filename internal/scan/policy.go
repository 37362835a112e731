package scan

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"go.yaml.in/yaml/v3"
)

// The rules of policy findings.
const (
	RulePolicyPushControlled = "policy-push-controlled"
	RulePolicyAnyToken       = "policy-any-token"
	RulePolicyNoRepository   = "policy-no-repository"
	RulePolicyNoDeployGate   = "policy-no-deploy-gate"
	RulePolicyUnreadable     = "policy-unreadable"
)

// Claims by what they prove about a token. A claim in none of these sets
// (iat, jti, runner ids…) constrains nothing an attacker cares about.
var (
	// bindingClaims name one repository (or one environment of one, for
	// Bitbucket's UUID): a push cannot change them.
	bindingClaims = []string{"repositoryUuid", "deploymentEnvironmentUuid", "repository_id", "repository",
		"project_id", "project_path", "job_workflow_ref", "workflow_ref", "subject", "sub"}
	// ownerClaims name a workspace, organization or group: every
	// repository in it matches.
	ownerClaims = []string{"workspaceUuid", "repository_owner", "repository_owner_id", "namespace_id", "namespace_path", "enterprise", "enterprise_id"}
	// gateClaims are set only for runs an administrator controls:
	// deployment environments and protected refs.
	gateClaims = []string{"deploymentEnvironmentUuid", "environment", "ref_protected", "environment_protected"}
	// pushClaims are chosen by whoever pushes: branch and tag names,
	// commits, workflow files, events.
	pushClaims = []string{"branchName", "ref", "ref_name", "head_ref", "base_ref", "ref_path", "ref_type", "sha",
		"workflow", "event_name", "pipeline_source", "actor", "user_login", "user_email"}
	// writeActions change data or schema.
	writeActions = []string{"migrate", "write", "ddl", "destructive"}
)

// policyRule is a rule of a gateway config as scan reads it.
type policyRule struct {
	name  string
	when  string
	line  int
	allow []string
}

// isPolicy reports whether a YAML document is a spangate gateway config.
func isPolicy(root *yaml.Node) bool {
	return get(root, "issuers") != nil && get(root, "rules") != nil
}

// analysePolicy reports the rules of a gateway config whose condition
// trusts claims a push can forge, or no repository at all.
func analysePolicy(env *cel.Env, file string, root *yaml.Node) []Finding {
	var rules []policyRule
	for _, r := range items(get(root, "rules")) {
		when := get(r, "when")
		line := r.Line
		if when != nil {
			line = when.Line
		}
		rules = append(rules, policyRule{name: scalar(get(r, "name")), when: scalar(when), line: line, allow: stringList(get(r, "allow"))})
	}
	var out []Finding
	for _, r := range rules {
		out = append(out, analyseRule(env, file, r)...)
	}
	return out
}

func analyseRule(env *cel.Env, file string, r policyRule) []Finding {
	at := func(sev Severity, rule, format string, args ...any) Finding {
		return Finding{Severity: sev, Rule: rule, File: file, Line: r.line, Message: fmt.Sprintf("rule %q: ", r.name) + fmt.Sprintf(format, args...)}
	}
	parsed, iss := env.Parse(r.when)
	if iss != nil && iss.Err() != nil {
		return []Finding{at(SeverityWarning, RulePolicyUnreadable, "the condition does not parse as CEL; spangate policy check --config %s says why", file)}
	}
	grants := strings.Join(r.allow, ", ")
	writes := slices.ContainsFunc(r.allow, func(a string) bool { return slices.Contains(writeActions, a) })
	var out []Finding
	for _, branch := range dnf(parsed.NativeRep().Expr(), 0) {
		has := func(set []string) []string {
			var hit []string
			for _, c := range branch {
				if slices.Contains(set, c) {
					hit = append(hit, c)
				}
			}
			return hit
		}
		binding, owner, gate, push := has(bindingClaims), has(ownerClaims), has(gateClaims), has(pushClaims)
		switch {
		case len(binding) == 0 && len(owner) == 0 && len(push) > 0:
			out = append(out, at(SeverityError, RulePolicyPushControlled,
				"grants %s on %s alone, which anyone who can push chooses; add the repository (repositoryUuid, repository_id, project_id) and a deployment environment",
				grants, strings.Join(push, ", ")))
		case len(binding) == 0 && len(owner) == 0:
			out = append(out, at(SeverityError, RulePolicyAnyToken,
				"grants %s to every token its issuer signs%s; name the repository (repositoryUuid, repository_id, project_id)",
				grants, suffix(gate, " in an environment named by ")))
		case len(binding) == 0:
			out = append(out, at(SeverityWarning, RulePolicyNoRepository,
				"grants %s to every repository of the %s; name the repository too", grants, strings.Join(owner, ", ")))
		case writes && len(gate) == 0:
			why := "every branch and pull request of the repository gets it"
			if len(push) > 0 {
				why = strings.Join(push, ", ") + " is chosen by whoever pushes"
			}
			out = append(out, at(SeverityWarning, RulePolicyNoDeployGate,
				"grants %s without a deployment gate: %s; require deploymentEnvironmentUuid (Bitbucket), environment (GitHub, with protection rules) or ref_protected (GitLab)",
				grants, why))
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return strings.Compare(string(a.Severity), string(b.Severity)) })
	return slices.CompactFunc(out, func(a, b Finding) bool { return a.Rule == b.Rule && a.Message == b.Message })
}

func suffix(list []string, prefix string) string {
	if len(list) == 0 {
		return ""
	}
	return prefix + strings.Join(list, ", ")
}

// maxBranches bounds the disjunctive normal form of one condition.
const maxBranches = 64

// dnf returns the condition as a disjunction of branches, each the list of
// claims (and subject) that the branch compares with a constant. Any
// branch being true lets a token in, so each is judged on its own. Negated
// or computed comparisons constrain nothing here: the analysis only
// credits what a condition positively requires.
func dnf(e ast.Expr, depth int) [][]string {
	if depth > 50 {
		return [][]string{nil}
	}
	switch e.Kind() {
	case ast.LiteralKind:
		if e.AsLiteral() == types.False {
			return nil
		}
		return [][]string{nil}
	case ast.CallKind:
	default:
		return [][]string{nil}
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.LogicalOr:
		var out [][]string
		for _, a := range args {
			out = append(out, dnf(a, depth+1)...)
		}
		return capBranches(out)
	case operators.LogicalAnd:
		out := [][]string{nil}
		for _, a := range args {
			var next [][]string
			for _, left := range out {
				for _, right := range dnf(a, depth+1) {
					next = append(next, append(slices.Clone(left), right...))
				}
			}
			out = capBranches(next)
		}
		return out
	case operators.Equals:
		if len(args) == 2 {
			if c := claimRef(args[0]); c != "" && constant(args[1]) {
				return [][]string{{c}}
			}
			if c := claimRef(args[1]); c != "" && constant(args[0]) {
				return [][]string{{c}}
			}
		}
	case operators.In:
		if len(args) == 2 {
			if c := claimRef(args[0]); c != "" && constant(args[1]) {
				return [][]string{{c}}
			}
		}
	case "startsWith", "endsWith", "matches", "contains":
		if call.IsMemberFunction() && len(args) == 1 {
			if c := claimRef(call.Target()); c != "" && constant(args[0]) {
				return [][]string{{c}}
			}
		}
	}
	return [][]string{nil}
}

func capBranches(b [][]string) [][]string {
	if len(b) > maxBranches {
		return b[:maxBranches]
	}
	return b
}

// claimRef returns the claim an expression reads (claims.X, claims["X"]),
// "subject", "issuer", or "".
func claimRef(e ast.Expr) string {
	switch e.Kind() {
	case ast.IdentKind:
		if n := e.AsIdent(); n == "subject" || n == "issuer" {
			return n
		}
	case ast.SelectKind:
		s := e.AsSelect()
		if !s.IsTestOnly() && s.Operand().Kind() == ast.IdentKind && s.Operand().AsIdent() == "claims" {
			return s.FieldName()
		}
	case ast.CallKind:
		c := e.AsCall()
		if c.FunctionName() == operators.Index && len(c.Args()) == 2 {
			obj, key := c.Args()[0], c.Args()[1]
			if obj.Kind() == ast.IdentKind && obj.AsIdent() == "claims" && key.Kind() == ast.LiteralKind {
				if s, ok := key.AsLiteral().Value().(string); ok {
					return s
				}
			}
		}
	}
	return ""
}

// constant reports whether e is a literal or a list of literals.
func constant(e ast.Expr) bool {
	switch e.Kind() {
	case ast.LiteralKind:
		return true
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			if el.Kind() != ast.LiteralKind {
				return false
			}
		}
		return true
	}
	return false
}
