package policy_test

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/policy"
)

func load(t testing.TB, file string) *policy.Policy {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := policy.Load(f, file)
	if err != nil {
		t.Fatalf("Load(%s): %v", file, err)
	}
	return p
}

func loadText(text string) (*policy.Policy, error) {
	return policy.Load(strings.NewReader(text), "p.yaml")
}

// Principals shaped like the tokens of testdata/policy.yaml's issuers.
var (
	deployProd = spangate.Principal{Issuer: "bitbucket", Subject: "{pipeline}", Claims: map[string]any{
		"repositoryUuid": "{repo-orders}", "deploymentEnvironmentUuid": "{env-prod}"}}
	deployTest = spangate.Principal{Issuer: "bitbucket", Subject: "{pipeline}", Claims: map[string]any{
		"repositoryUuid": "{repo-orders}", "deploymentEnvironmentUuid": "{env-test}"}}
	prBuild = spangate.Principal{Issuer: "bitbucket", Subject: "{pipeline}", Claims: map[string]any{
		"repositoryUuid": "{repo-orders}"}}
	otherRepo = spangate.Principal{Issuer: "bitbucket", Subject: "{pipeline}", Claims: map[string]any{
		"repositoryUuid": "{repo-other}", "deploymentEnvironmentUuid": "{env-prod}"}}
	ghMain = spangate.Principal{Issuer: "github", Subject: "repo:acme/payments:ref:refs/heads/main", Claims: map[string]any{
		"repository": "acme/payments", "ref": "refs/heads/main", "repository_owner_id": float64(42)}}
	ghFeature = spangate.Principal{Issuer: "github", Subject: "repo:acme/payments:ref:refs/heads/x", Claims: map[string]any{
		"repository": "acme/payments", "ref": "refs/heads/x"}}
	ghCleanup = spangate.Principal{Issuer: "github", Subject: "repo:acme/payments:environment:cleanup", Claims: map[string]any{
		"repository": "acme/payments", "ref": "refs/heads/main", "environment": "cleanup"}}
	ghOutside = spangate.Principal{Issuer: "github", Subject: "repo:other/x", Claims: map[string]any{
		"repository": "other/x", "repository_owner_id": float64(42)}}
	stranger = spangate.Principal{Issuer: "gitlab", Subject: "x", Claims: map[string]any{"repository": "acme/payments"}}
	noClaims = spangate.Principal{Issuer: "github", Subject: "nobody"}
)

func TestDecide(t *testing.T) {
	p := load(t, "testdata/policy.yaml")
	tests := []struct {
		name     string
		pr       spangate.Principal
		database string
		action   spangate.Action
		allow    bool
		rule     string
		reason   string // substring
	}{
		{"deploy migrates orders", deployProd, "orders", spangate.ActionMigrate, true, "orders-deploy", "rule orders-deploy grants migrate on orders to bitbucket:{pipeline}"},
		{"deploy plans orders", deployProd, "orders", spangate.ActionPlan, true, "orders-deploy", "grants plan"},
		{"test environment may not migrate", deployTest, "orders", spangate.ActionMigrate, false, "orders-deploy",
			`rule orders-deploy: condition false: claims.deploymentEnvironmentUuid == "{env-prod}" (token has "{env-test}")`},
		{"pull request build plans through the second rule", deployTest, "orders", spangate.ActionPlan, true, "orders-pr-plan", ""},
		{"missing claim is a deny with its reason", prBuild, "orders", spangate.ActionMigrate, false, "orders-deploy",
			`condition could not be evaluated: claims.deploymentEnvironmentUuid == "{env-prod}": token has no claim "deploymentEnvironmentUuid"`},
		{"other repository: nearest rule names the repository check", otherRepo, "orders", spangate.ActionMigrate, false, "orders-deploy",
			`claims.repositoryUuid == "{repo-orders}" (token has "{repo-other}")`},
		{"more than one candidate is counted", otherRepo, "orders", spangate.ActionPlan, false, "orders-deploy", "1 other rule granting plan on orders did not match either"},
		{"action not granted by a matching rule", deployProd, "orders", spangate.ActionWrite, false, "orders-deploy",
			"rule orders-deploy matches this token but grants only plan, migrate on orders, not write"},
		{"read through the wildcard rule", deployProd, "payments", spangate.ActionRead, true, "sandbox-anything", ""},
		{"audit never granted on orders", ghMain, "orders", spangate.ActionAudit, false, "sandbox-anything", "grants only read on orders, not audit"},
		{"write on main", ghMain, "payments", spangate.ActionWrite, true, "payments-backfill", ""},
		{"write on a feature branch", ghFeature, "payments", spangate.ActionWrite, false, "payments-backfill",
			`claims.ref == "refs/heads/main" (token has "refs/heads/x")`},
		{"destructive needs the cleanup environment", ghMain, "payments", spangate.ActionDestructive, false, "payments-cleanup",
			`token has no claim "environment"`},
		{"destructive in the cleanup environment", ghCleanup, "payments", spangate.ActionDestructive, true, "payments-cleanup", ""},
		{"number claims compare with ints", ghMain, "sandbox", spangate.ActionDDL, true, "sandbox-ddl", ""},
		{"ddl elsewhere: the nearest rule covering the database", ghOutside, "orders", spangate.ActionDDL, false, "orders-deploy",
			`rule orders-deploy covers orders but grants only plan, migrate, not ddl; and condition false: issuer == "bitbucket" (token has "github")`},
		{"no claims at all", noClaims, "sandbox", spangate.ActionDDL, false, "sandbox-ddl", `token has no claim "repository_owner_id"`},
		{"unknown issuer", stranger, "sandbox", spangate.ActionRead, false, "", `issuer "gitlab" is not configured`},
		{"unknown database", deployProd, "nope", spangate.ActionRead, false, "", `unknown database "nope" (known: orders, payments, sandbox)`},
		{"unknown action", deployProd, "orders", "delete", false, "", `unknown action "delete"`},
		{"empty action", deployProd, "orders", "", false, "", `unknown action ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.pr, tt.database, tt.action)
			if d.Allow != tt.allow || d.Rule != tt.rule || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v\nwant allow=%v rule=%q reason containing %q", d, tt.allow, tt.rule, tt.reason)
			}
		})
	}
}

// TestEveryAction checks each action is granted exactly by the rules that
// list it.
func TestEveryAction(t *testing.T) {
	for _, granted := range spangate.Actions() {
		p, err := loadText(base + "rules:\n  - name: only-" + string(granted) + "\n    when: \"true\"\n    databases: [db]\n    allow: [" + string(granted) + "]\n")
		if err != nil {
			t.Fatal(err)
		}
		for _, asked := range spangate.Actions() {
			d := p.Decide(who, "db", asked)
			if d.Allow != (asked == granted) {
				t.Errorf("rule granting %s, asked %s: %+v", granted, asked, d)
			}
		}
	}
}

const base = `issuers:
  - name: gh
    url: https://token.actions.githubusercontent.com
    audiences: [spangate]
databases:
  db: projects/p/instances/i/databases/d
  other: projects/p/instances/i/databases/o
`

var who = spangate.Principal{Issuer: "gh", Subject: "s", Claims: map[string]any{
	"repository": "acme/app", "list": []any{"a", "b"}, "n": float64(3), "flag": true}}

func TestActionOnlyElsewhere(t *testing.T) {
	p, err := loadText(base + "rules:\n  - name: other-ddl\n    when: \"true\"\n    databases: [other]\n    allow: [ddl]\n")
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(who, "db", spangate.ActionDDL)
	if d.Allow || d.Rule != "other-ddl" || d.Reason != "rule other-ddl grants ddl only on other, not on db; no rule covers db" {
		t.Errorf("Decide = %+v", d)
	}
}

func TestNoRules(t *testing.T) {
	p, err := loadText(base)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(who, "db", spangate.ActionRead)
	if d.Allow || d.Rule != "" || !strings.Contains(d.Reason, "no rule covers database db") {
		t.Errorf("Decide = %+v", d)
	}
}

// TestConditionSemantics checks CEL semantics the policy relies on: &&
// with errors, || , macros, and that errors and non-bool values deny.
func TestConditionSemantics(t *testing.T) {
	tests := []struct {
		when  string
		allow bool
		why   string
	}{
		{`true`, true, ""},
		{`false`, false, "condition false: false"},
		{`claims.repository == "acme/app"`, true, ""},
		{`claims["repository"] == "acme/app"`, true, ""},
		{`"acme/app" == claims.repository`, true, ""},
		{`claims.missing == "x" && false`, false, "condition false: false"},
		{`claims.missing == "x" && true`, false, `token has no claim "missing"`},
		{`claims.missing == "x" || true`, true, ""},
		{`has(claims.missing)`, false, "condition false: has(claims.missing)"},
		{`"b" in claims.list`, true, ""},
		{`claims.list.exists(x, x == "c")`, false, "condition false"},
		{`claims.n > 2 && claims.n < 4.5`, true, ""},
		{`claims.n == 3`, true, ""},
		{`claims.flag`, false, "not bool"}, // dyn: refused at load? no: allowed as dyn — see below
		{`claims.repository.startsWith("acme/")`, true, ""},
		{`claims.repository.startsWith("other/")`, false, `(token has "acme/app")`},
		{`claims.repository.matches("^acme/[a-z]+$")`, true, ""},
		{`subject == "s" && issuer == "gh"`, true, ""},
		{`claims.n == "3"`, false, "condition false"},
		{`claims.repository == 3`, false, "condition false"},
		{`int(claims.repository) == 3`, false, "could not be evaluated"},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			p, err := loadText(base + "rules:\n  - name: r\n    when: '" + strings.ReplaceAll(tt.when, "'", "''") + "'\n    databases: [db]\n    allow: [read]\n")
			if err != nil {
				if tt.why == "not bool" && strings.Contains(err.Error(), "not bool") {
					return
				}
				t.Fatal(err)
			}
			d := p.Decide(who, "db", spangate.ActionRead)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.why) {
				t.Errorf("Decide = %+v; want allow=%v, reason containing %q", d, tt.allow, tt.why)
			}
		})
	}
}

// TestCompileProblems checks that conditions are compiled at load and that
// their problems carry the rule name and file:line:column.
func TestCompileProblems(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want []string
	}{
		{"syntax error", "    when: issuer == \"gh\" &&\n", []string{`p.yaml:10:28: rules[0].when: rule "r": Syntax error`}},
		{"undeclared variable", "    when: issuer == \"gh\" && repo == \"x\"\n", []string{`p.yaml:10:29: rules[0].when: rule "r": undeclared reference to 'repo'`}},
		{"type error", "    when: issuer == 3\n", []string{`p.yaml:10:18: rules[0].when: rule "r": found no matching overload for '_==_'`}},
		{"non-bool", "    when: claims.repository\n", []string{`p.yaml:10:11: rules[0].when: rule "r": condition is of type dyn, not bool`}},
		{"string result", "    when: issuer + \"x\"\n", []string{`condition is of type string, not bool`}},
		{"block scalar error position", "    when: |\n      issuer == \"gh\" &&\n        nope\n", []string{`p.yaml:12:9: rules[0].when: rule "r": undeclared reference to 'nope'`}},
		{"folded scalar error position", "    when: >-\n      issuer == \"gh\" &&\n      claims.x == 1 && nope\n", []string{`p.yaml:12:24: rules[0].when: rule "r": undeclared reference to 'nope'`}},
		{"plain multi-line error position", "    when: issuer == \"gh\" &&\n      nope\n", []string{`p.yaml:11:7: rules[0].when: rule "r": undeclared reference to 'nope'`}},
		{"too large", "    when: '" + strings.Repeat("true && ", 1000) + "true'\n", []string{`expression code point size exceeds limit`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := base + "rules:\n  - name: r\n" + tt.rule + "    databases: [db]\n    allow: [read]\n" +
				"  - name: bad-action\n    when: \"true\"\n    databases: [db]\n    allow: [drop]\n"
			_, err := loadText(text)
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %v; want problems", err)
			}
			for _, w := range append(tt.want, `rules[1].allow[0]: unknown action "drop"`) {
				found := false
				for _, p := range ps {
					found = found || strings.Contains(p.String(), w)
				}
				if !found {
					t.Errorf("missing %q in:\n%s", w, ps)
				}
			}
		})
	}
}

func TestLoadMergesParseProblems(t *testing.T) {
	_, err := loadText(base + "unknown: 1\nrules:\n  - name: r\n    when: nope\n    databases: [db]\n    allow: [read]\n")
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("Load = %v; want the unknown key and the bad condition", err)
	}
	if spangate.KindOf(err) != spangate.Invalid {
		t.Errorf("kind = %s", spangate.KindOf(err))
	}
}

// TestCostLimit checks a condition that would run away is stopped and
// denies.
func TestCostLimit(t *testing.T) {
	p, err := loadText(base + "rules:\n  - name: slow\n    when: claims.list.all(x, claims.list.all(y, claims.list.all(z, x + y + z != \"\")))\n    databases: [db]\n    allow: [read]\n")
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, 300)
	for i := range list {
		list[i] = "item"
	}
	pr := spangate.Principal{Issuer: "gh", Claims: map[string]any{"list": list}}
	d := p.Decide(pr, "db", spangate.ActionRead)
	if d.Allow || !strings.Contains(d.Reason, "cost limit") {
		t.Errorf("Decide = %+v; want a deny for the cost limit", d)
	}
}

func TestConcurrentDecide(t *testing.T) {
	p := load(t, "testdata/policy.yaml")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				pr := []spangate.Principal{deployProd, deployTest, ghMain, prBuild}[i%4]
				_ = p.Decide(pr, "orders", spangate.ActionMigrate)
			}
		})
	}
	wg.Wait()
}

// FuzzDecide evaluates the policy on random claims: it must never panic and
// never allow a principal that no rule's condition admits.
func FuzzDecide(f *testing.F) {
	f.Add("bitbucket", "{repo-orders}", "{env-prod}", "orders", "migrate", 3.0, true)
	f.Add("github", "acme/payments", "refs/heads/main", "payments", "write", 42.0, false)
	f.Add("", "", "", "", "", 0.0, false)
	p := load(f, "testdata/policy.yaml")
	f.Fuzz(func(t *testing.T, issuer, a, b, database, action string, n float64, flag bool) {
		claims := map[string]any{
			"repositoryUuid": a, "deploymentEnvironmentUuid": b, "repository": a, "ref": b,
			"repository_owner_id": n, "environment": flag, "list": []any{a, n, flag, nil},
			"nested": map[string]any{"a": a},
		}
		if flag {
			delete(claims, "repositoryUuid")
			claims["repository"] = n
		}
		pr := spangate.Principal{Issuer: issuer, Subject: a, Claims: claims}
		d := p.Decide(pr, database, spangate.Action(action))
		if d.Reason == "" {
			t.Fatalf("decision without a reason: %+v", d)
		}
		if d.Allow {
			if issuer != "bitbucket" && issuer != "github" {
				t.Fatalf("allowed an unconfigured issuer: %+v", d)
			}
			if !spangate.Action(action).Valid() || d.Rule == "" {
				t.Fatalf("allowed without a rule or with a bad action: %+v", d)
			}
		}
		_, _ = p.DecideStatement(pr, database, a)
	})
}
