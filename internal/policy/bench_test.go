package policy_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/policy"
)

// bigPolicy returns a policy of n rules over 50 databases, shaped like a
// large organisation's config: each rule ties one repository and deployment
// environment to one database, and every tenth rule grants read on every
// database to a workspace's release branches.
func bigPolicy(tb testing.TB, n int, allDatabases bool) *policy.Policy {
	tb.Helper()
	var b strings.Builder
	b.WriteString("issuers:\n  - name: bitbucket\n    url: https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc\n    audiences: [a]\n")
	b.WriteString("  - name: github\n    url: https://token.actions.githubusercontent.com\n    audiences: [a]\n")
	b.WriteString("databases:\n")
	for d := range 50 {
		fmt.Fprintf(&b, "  db%d: projects/acme/instances/prod/databases/db%d\n", d, d)
	}
	b.WriteString("rules:\n")
	actions := spangate.Actions()
	for i := range n {
		db := fmt.Sprintf("db%d", i%50)
		if allDatabases {
			db = `"*"`
		}
		switch {
		case i%10 == 9:
			fmt.Fprintf(&b, "  - name: release-read-%d\n    when: issuer == \"github\" && claims.repository_owner == \"org%d\" && claims.ref.startsWith(\"refs/heads/release/\")\n    databases: [%s]\n    allow: [read]\n", i, i, db)
		default:
			a1, a2 := actions[i%len(actions)], actions[(i+3)%len(actions)]
			fmt.Fprintf(&b, "  - name: deploy-%d\n    when: issuer == \"bitbucket\" && claims.repositoryUuid == \"{repo-%d}\" && claims.deploymentEnvironmentUuid == \"{env-%d}\"\n    databases: [%s]\n    allow: [%s, %s]\n", i, i, i, db, a1, a2)
		}
	}
	p, err := policy.Load(strings.NewReader(b.String()), "big.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

type request struct {
	pr     spangate.Principal
	db     string
	action spangate.Action
}

// requests returns a mix of requests: a third allowed, a third denied by
// the condition (wrong environment), a third asking for an action or
// database the pipeline's rule does not grant.
func requests(n int) []request {
	rng := rand.New(rand.NewPCG(1, 2))
	actions := spangate.Actions()
	out := make([]request, 0, 1024)
	for len(out) < cap(out) {
		i := rng.IntN(n)
		if i%10 == 9 {
			continue
		}
		pr := spangate.Principal{Issuer: "bitbucket", Subject: "{pipeline}", Claims: map[string]any{
			"repositoryUuid": fmt.Sprintf("{repo-%d}", i), "deploymentEnvironmentUuid": fmt.Sprintf("{env-%d}", i),
			"workspaceUuid": "{ws}", "branchName": "main", "pipelineUuid": "{p}", "stepUuid": "{s}",
		}}
		req := request{pr: pr, db: fmt.Sprintf("db%d", i%50), action: actions[i%len(actions)]}
		switch len(out) % 3 {
		case 1:
			pr.Claims = map[string]any{"repositoryUuid": pr.Claims["repositoryUuid"], "deploymentEnvironmentUuid": "{env-other}"}
			req.pr = pr
		case 2:
			req.action = actions[(i+1)%len(actions)]
		}
		out = append(out, req)
	}
	return out
}

// BenchmarkDecide1000Rules measures one decision against a config of 1,000
// rules and reports the median and 99th percentile latency (target: p50
// under 50 µs).
func BenchmarkDecide1000Rules(b *testing.B) {
	for _, tc := range []struct {
		name string
		all  bool
	}{{"by-database", false}, {"all-rules-on-star", true}} {
		b.Run(tc.name, func(b *testing.B) {
			p := bigPolicy(b, 1000, tc.all)
			reqs := requests(1000)
			allowed := 0
			for _, r := range reqs {
				if p.Decide(r.pr, r.db, r.action).Allow {
					allowed++
				}
			}
			if allowed == 0 || allowed == len(reqs) {
				b.Fatalf("%d of %d requests allowed; the mix should have both", allowed, len(reqs))
			}
			var lat []time.Duration
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := &reqs[i%len(reqs)]
				start := time.Now()
				_ = p.Decide(r.pr, r.db, r.action)
				lat = append(lat, time.Since(start))
				i++
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			b.ReportMetric(float64(allowed)/float64(len(reqs))*100, "%allowed")
		})
	}
}
