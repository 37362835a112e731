package main

// A simulated CI run of each example pipeline: the harness reads the
// example pipeline file as the CI system would, sets the variables the CI
// system sets, gives each step the OIDC token the CI system would give it
// (minted by the dev issuer with the CI's claim set), and runs the step's
// spangate lines in-process against `spangate dev` started with the
// example gateway policy. Only the policy's issuer URL, its audience (the
// example gateway URL) and its database paths are pointed at the dev stack;
// its conditions are the shipped ones, so they decide.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/emulator"
	"github.com/spangate/spangate/internal/scan"
)

// exampleGatewayURL is the gateway URL the examples use.
const exampleGatewayURL = "https://spangate.example.com"

// ciHarness is one example pipeline against one dev stack.
type ciHarness struct {
	t        *testing.T
	dev      *devRun
	url      string // the dev gateway, standing in for exampleGatewayURL
	pipeline *scan.Pipeline
	repo     string // the working directory of the steps
}

// newCIHarness starts `spangate dev` with the example policy and reads the
// example pipeline, both pointed at the dev stack. The test's working
// directory becomes a repository holding the example migrations.
func newCIHarness(t *testing.T, pipelineFile, policyFile string, parse func(string, []byte) (*scan.Pipeline, error)) *ciHarness {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	h := &ciHarness{t: t, url: "http://" + addr}

	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, h.pointPolicyAtDev(t, policyFile), 0o600))
	h.dev = startDev(t, map[string]string{"PATH": "/usr/bin:/bin"}, emulator.Find,
		"--addr", addr, "--spanner-addr", "127.0.0.1:0", "--config", policy)

	b, err := os.ReadFile(filepath.Join("..", "..", pipelineFile))
	must(t, err)
	h.pipeline, err = parse(pipelineFile, []byte(strings.ReplaceAll(string(b), exampleGatewayURL, h.url)))
	must(t, err)

	h.repo = exampleRepo(t)
	t.Chdir(h.repo)
	return h
}

// pointPolicyAtDev rewrites the example policy's issuer URLs to the dev
// issuer, its audience to the dev gateway URL and its databases to the dev
// database, and leaves everything else, the rules above all, as shipped.
func (h *ciHarness) pointPolicyAtDev(t *testing.T, file string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", file))
	must(t, err)
	var doc yaml.Node
	must(t, yaml.Unmarshal(b, &doc))
	root := doc.Content[0]
	field := func(m *yaml.Node, key string) *yaml.Node {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
		t.Fatalf("%s: no %s", file, key)
		return nil
	}
	for _, is := range field(root, "issuers").Content {
		field(is, "url").Value = h.url + "/dev/oidc"
		for _, aud := range field(is, "audiences").Content {
			aud.Value = strings.ReplaceAll(aud.Value, exampleGatewayURL, h.url)
		}
	}
	dbs := field(root, "databases")
	for i := 1; i < len(dbs.Content); i += 2 {
		dbs.Content[i].Value = devDatabase
	}
	field(root, "listen").Value = strings.TrimPrefix(h.url, "http://")
	out, err := yaml.Marshal(&doc)
	must(t, err)
	return out
}

// step returns the pipeline's step whose name contains name.
func (h *ciHarness) step(name string) scan.Step {
	for _, s := range h.pipeline.Steps {
		if strings.Contains(s.Name, name) {
			return s
		}
	}
	h.t.Fatalf("%s has no step %q", h.pipeline.File, name)
	return scan.Step{}
}

// mint returns a dev-issuer token for provider with claims set (an empty
// value removes a claim) and audience.
func (h *ciHarness) mint(provider, audience string, claims map[string]string) string {
	args := []string{"dev", "token", "--gateway", h.url, "--provider", provider}
	if audience != "" {
		args = append(args, "--audience", audience)
	}
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		args = append(args, "--claim", k+"="+claims[k])
	}
	out, stderr, code := cli(h.t, nil, args...)
	if code != 0 {
		h.t.Fatalf("dev token: exit %d: %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

// stepRun is what running a step's script produced.
type stepRun struct {
	code   int    // exit code of the first failing spangate line, or 0
	stderr string // stderr of all spangate lines
	ran    int    // spangate lines run
}

// run runs the step's script as the CI would, in order, stopping at the
// first failing line: export lines set variables, spangate lines run
// in-process with their > redirection, other lines (installing spangate,
// curl to the CI's API) are skipped. env is what the CI sets.
func (h *ciHarness) run(st scan.Step, env map[string]string) stepRun {
	t := h.t
	t.Helper()
	env = maps.Clone(env)
	for k, v := range st.Env {
		env[k] = os.Expand(v, func(k string) string { return env[k] })
	}
	var r stepRun
	for _, line := range st.Script {
		words := scan.Words(line.Text)
		if len(words) > 0 && words[0] == "export" {
			for _, w := range words[1:] {
				if k, v, ok := strings.Cut(w, "="); ok {
					env[k] = os.Expand(v, func(k string) string { return env[k] })
				}
			}
			continue
		}
		for _, args := range scan.SpangateCommands(line.Text) {
			var redirect string
			if i := slices.Index(args, ">"); i >= 0 {
				if i+1 >= len(args) {
					t.Fatalf("%s:%d: > without a file", h.pipeline.File, line.Line)
				}
				redirect = args[i+1]
				args = append(args[:i:i], args[i+2:]...)
			}
			for i, a := range args {
				args[i] = os.Expand(a, func(k string) string { return env[k] })
			}
			out, stderr, code := cli(t, env, args...)
			r.ran++
			r.stderr += stderr
			if redirect != "" {
				must(t, os.WriteFile(filepath.Join(h.repo, redirect), []byte(out), 0o644))
			}
			if code != 0 {
				r.code = code
				return r
			}
		}
	}
	return r
}

// auditEntries returns the dev database's audit trail, read in direct mode.
func (h *ciHarness) auditEntries() []auditEntryJSON {
	h.t.Helper()
	direct := map[string]string{"SPANNER_EMULATOR_HOST": h.dev.spannerHost, "SPANGATE_DATABASE": h.dev.database, "USER": "harness"}
	out, stderr, code := cli(h.t, direct, "audit", "list", "--limit", "1000", "--format", "json")
	if code != 0 {
		h.t.Fatalf("audit list: exit %d %s", code, stderr)
	}
	var doc struct {
		Entries []auditEntryJSON `json:"entries"`
	}
	must(h.t, json.Unmarshal([]byte(out), &doc))
	return doc.Entries
}

type auditEntryJSON struct {
	Action, Principal, Result, Commit, Pipeline, Reason, Issuer string
	Run                                                         struct {
		CI, Repository, Branch, Environment string
		PullRequest                         string `json:"pull_request"`
	}
}

// findAudit returns the entry of action with result for commit.
func (h *ciHarness) findAudit(action, result, commit string) auditEntryJSON {
	h.t.Helper()
	var seen []string
	for _, e := range h.auditEntries() {
		if e.Action == action && e.Result == result && e.Commit == commit {
			return e
		}
		seen = append(seen, fmt.Sprintf("%s/%s/%s", e.Action, e.Result, e.Commit))
	}
	h.t.Fatalf("no audit entry %s/%s for commit %s; entries: %v", action, result, commit, seen)
	return auditEntryJSON{}
}

// checkSchema checks, in direct mode, that the example migrations were
// applied: their tables and the column the last one adds exist.
func (h *ciHarness) checkSchema() {
	h.t.Helper()
	direct := map[string]string{"SPANNER_EMULATOR_HOST": h.dev.spannerHost, "SPANGATE_DATABASE": h.dev.database, "USER": "harness"}
	out, stderr, code := cli(h.t, direct, "exec", "--format", "json", "--sql",
		"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '' AND table_name IN ('Customers', 'Orders') ORDER BY table_name, column_name")
	if code != 0 {
		h.t.Fatalf("schema query: exit %d %s", code, stderr)
	}
	for _, want := range []string{`"Customers"`, `"Orders"`, `"Channel"`, `"CreatedAt"`} {
		if !strings.Contains(out, want) {
			h.t.Errorf("applied schema lacks %s:\n%s", want, out)
		}
	}
	out, _, _ = cli(h.t, direct, "migrate", "status", "--dir", "migrations", "--format", "json")
	if strings.Count(out, `"state": "applied"`) != 4 {
		h.t.Errorf("not all example migrations are applied:\n%s", out)
	}
}

// checkPlanComment checks the markdown plan a pull-request step wrote.
func (h *ciHarness) checkPlanComment(file string) {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.repo, file))
	must(h.t, err)
	md := string(b)
	for _, want := range []string{"### spangate migration plan: ✅ ready to apply", "4 pending", "| 1 | create_orders |", "| 4 | backfill_notes |", "```sql"} {
		if !strings.Contains(md, want) {
			h.t.Errorf("%s lacks %q:\n%s", file, want, md)
		}
	}
}

func TestBitbucketPipelineExample(t *testing.T) {
	h := newCIHarness(t, "examples/bitbucket-pipelines.yml", "examples/policies/bitbucket.yaml", scan.ParseBitbucket)
	plan, apply := h.step("Plan"), h.step("Apply")
	if plan.Trigger != "pull-requests/**" || !plan.OIDC || apply.Trigger != "branches/main" || apply.Deployment != "production" {
		t.Fatalf("the example's steps changed: %+v / %+v", plan, apply)
	}
	// What Bitbucket sets in every step, and the step's token: the
	// workspace's default audience plus the custom ones the file asks for.
	bitbucket := func(st scan.Step, branch, commit, build string, claims map[string]string) map[string]string {
		env := map[string]string{
			"CI": "true", "BITBUCKET_BUILD_NUMBER": build, "BITBUCKET_COMMIT": commit, "BITBUCKET_BRANCH": branch,
			"BITBUCKET_REPO_FULL_NAME": "acme/orders", "BITBUCKET_WORKSPACE": "acme", "BITBUCKET_REPO_SLUG": "orders",
			"BITBUCKET_REPO_UUID": devoidc.BitbucketRepositoryUUID, "BITBUCKET_PIPELINE_UUID": "{9f1c2d3e-0000-4000-8000-00000000" + build + "}",
			"BITBUCKET_STEP_UUID": "{1a2b3c4d-0000-4000-8000-0000000000" + build[len(build)-2:] + "}",
		}
		c := map[string]string{"branchName": branch}
		if st.Deployment != "" {
			env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] = st.Deployment
			env["BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"] = devoidc.BitbucketEnvironmentUUID
		} else {
			env["BITBUCKET_PR_ID"] = "7"
			c["deploymentEnvironmentUuid"] = "" // only deployment steps carry it
		}
		for k, v := range claims {
			c[k] = v
		}
		if st.OIDC {
			aud, _ := json.Marshal(append([]string{"ari:cloud:bitbucket::workspace/" + strings.Trim(devoidc.BitbucketWorkspaceUUID, "{}")}, st.Audiences...))
			c["aud"] = string(aud)
			env["BITBUCKET_STEP_OIDC_TOKEN"] = h.mint("bitbucket", "", c)
		}
		return env
	}

	// A pull request from another repository's pipeline (a fork, say) may
	// not even plan. It has no right at all on the database, so it is
	// refused before the database is opened: the refusal is in the
	// gateway's log, not in the database's audit trail.
	r := h.run(plan, bitbucket(plan, "feature/channel", "ffff000000000000000000000000000000000001", "100",
		map[string]string{"repositoryUuid": "{00000000-0000-4000-8000-000000000bad}"}))
	if r.code != exitDenied || !strings.Contains(r.stderr, "no right on database") {
		t.Fatalf("plan from another repository: exit %d, want %d and the refusal\n%s", r.code, exitDenied, r.stderr)
	}

	// The pull-request step: the plan comment and the Code Insights report.
	r = h.run(plan, bitbucket(plan, "feature/channel", "aaaa000000000000000000000000000000000001", "101", nil))
	if r.code != 0 || r.ran != 1 {
		t.Fatalf("pull-request step: exit %d after %d spangate line(s)\n%s", r.code, r.ran, r.stderr)
	}
	h.checkPlanComment("spangate-plan.md")
	var report struct {
		Result     string `json:"result"`
		ReportType string `json:"report_type"`
	}
	b, err := os.ReadFile(filepath.Join(h.repo, "spangate-insights.json"))
	must(t, err)
	if json.Unmarshal(b, &report) != nil || report.Result != "PASSED" || report.ReportType == "" {
		t.Errorf("Code Insights report: %s", b)
	}
	if _, err := os.Stat(filepath.Join(h.repo, "spangate-insights-annotations.json")); err != nil {
		t.Error(err)
	}

	// The apply script in a step without the deployment environment (a
	// branch pipeline someone added) is refused, and the refusal audited.
	noDeploy := apply
	noDeploy.Deployment = ""
	r = h.run(noDeploy, bitbucket(noDeploy, "feature/channel", "bbbb000000000000000000000000000000000002", "102", nil))
	if r.code != exitDenied || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("apply without the deployment environment: exit %d, want %d\n%s", r.code, exitDenied, r.stderr)
	}
	e := h.findAudit("migrate", "denied", "bbbb000000000000000000000000000000000002")
	if e.Run.PullRequest != "7" || e.Run.Branch != "feature/channel" || !strings.Contains(e.Pipeline, "#102") || e.Reason == "" {
		t.Errorf("denied apply audit entry = %+v", e)
	}

	// The deployment step applies, as the pipeline's identity.
	r = h.run(apply, bitbucket(apply, "main", "cccc000000000000000000000000000000000003", "103", nil))
	if r.code != 0 {
		t.Fatalf("deployment step: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "applied 0004_backfill_notes") || strings.Contains(r.stderr, "\r") {
		t.Errorf("apply progress in CI should be plain lines:\n%q", r.stderr)
	}
	h.checkSchema()
	e = h.findAudit("migrate", "ok", "cccc000000000000000000000000000000000003")
	if !strings.Contains(e.Pipeline, "#103") || e.Run.CI != "bitbucket" || e.Run.Repository != "acme/orders" ||
		e.Run.Environment != "production" || !strings.Contains(e.Principal, devoidc.BitbucketRepositoryUUID) {
		t.Errorf("apply audit entry = %+v", e)
	}
}

func TestGitHubWorkflowExample(t *testing.T) {
	h := newCIHarness(t, "examples/github/workflows/spangate.yml", "examples/policies/github.yaml", scan.ParseGitHub)
	plan, apply := h.step("plan"), h.step("apply")
	if !plan.OIDC || !apply.OIDC || apply.Deployment != "production" || plan.Deployment != "" {
		t.Fatalf("the example's jobs changed: %+v / %+v", plan, apply)
	}
	// The Actions runtime's token endpoint: it checks the request token and
	// mints a token with the audience asked for and the job's claims.
	var claims map[string]string
	const requestToken = "runtime-request-token"
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aud := r.URL.Query().Get("audience")
		if r.Header.Get("Authorization") != "Bearer "+requestToken || r.URL.Query().Get("api-version") != "2.0" || aud == "" {
			http.Error(w, "bad token request", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": h.mint("github", aud, claims)})
	}))
	defer runtime.Close()
	github := func(st scan.Step, ref, commit, run string, c map[string]string) map[string]string {
		env := map[string]string{
			"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SHA": commit, "GITHUB_RUN_NUMBER": run, "GITHUB_RUN_ID": "9" + run,
			"GITHUB_REPOSITORY": devoidc.GitHubRepository, "GITHUB_REF": ref, "GITHUB_ACTOR": "octocat",
		}
		claims = map[string]string{"ref": ref, "sha": commit, "run_number": run}
		if st.Deployment == "" {
			env["GITHUB_HEAD_REF"] = "feature/channel"
			claims["environment"] = ""
			claims["event_name"] = "pull_request"
			claims["head_ref"] = "feature/channel"
		}
		for k, v := range c {
			claims[k] = v
		}
		if st.OIDC {
			env["ACTIONS_ID_TOKEN_REQUEST_URL"] = runtime.URL + "/token?api-version=2.0"
			env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = requestToken
		}
		return env
	}

	r := h.run(plan, github(plan, "refs/pull/7/merge", "aaaa000000000000000000000000000000000011", "11", nil))
	if r.code != 0 || !strings.Contains(r.stderr, "") {
		t.Fatalf("plan job: exit %d\n%s", r.code, r.stderr)
	}
	h.checkPlanComment("spangate-plan.md")
	var sarif struct {
		Version string
		Runs    []struct{ Results []any }
	}
	b, err := os.ReadFile(filepath.Join(h.repo, "spangate.sarif"))
	must(t, err)
	if json.Unmarshal(b, &sarif) != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Errorf("SARIF: %s", b)
	}

	// The apply job's script from a job outside the environment, and from
	// another repository with the same environment name: refused, audited.
	noEnv := apply
	noEnv.Deployment = ""
	if r := h.run(noEnv, github(noEnv, "refs/heads/main", "bbbb000000000000000000000000000000000012", "12", nil)); r.code != exitDenied {
		t.Fatalf("apply outside the environment: exit %d\n%s", r.code, r.stderr)
	}
	e := h.findAudit("migrate", "denied", "bbbb000000000000000000000000000000000012")
	if e.Run.CI != "github" || !strings.Contains(e.Pipeline, "#12") {
		t.Errorf("denied apply audit entry = %+v", e)
	}
	if r := h.run(apply, github(apply, "refs/heads/main", "bbbb000000000000000000000000000000000013", "13",
		map[string]string{"repository": "mallory/app", "repository_id": "666"})); r.code != exitDenied {
		t.Fatalf("apply from another repository: exit %d\n%s", r.code, r.stderr)
	}

	r = h.run(apply, github(apply, "refs/heads/main", "cccc000000000000000000000000000000000014", "14", nil))
	if r.code != 0 {
		t.Fatalf("apply job: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "::group::spangate migrate apply\n") || !strings.Contains(r.stderr, "::endgroup::") {
		t.Errorf("apply log is not grouped for GitHub:\n%s", r.stderr)
	}
	h.checkSchema()
	e = h.findAudit("migrate", "ok", "cccc000000000000000000000000000000000014")
	if !strings.Contains(e.Pipeline, "#14") || e.Run.Repository != devoidc.GitHubRepository {
		t.Errorf("apply audit entry = %+v", e)
	}
}

func TestGitLabPipelineExample(t *testing.T) {
	h := newCIHarness(t, "examples/gitlab-ci.yml", "examples/policies/gitlab.yaml", scan.ParseGitLab)
	plan, apply := h.step("spangate-plan"), h.step("spangate-apply")
	if len(plan.IDTokens["SPANGATE_ID_TOKEN"]) != 1 || apply.Deployment != "production" {
		t.Fatalf("the example's jobs changed: %+v / %+v", plan, apply)
	}
	gitlab := func(st scan.Step, commit, job string, c map[string]string) map[string]string {
		env := map[string]string{
			"CI": "true", "GITLAB_CI": "true", "CI_COMMIT_SHA": commit, "CI_JOB_ID": job, "CI_PIPELINE_ID": "77" + job,
			"CI_PROJECT_PATH": devoidc.GitLabProjectPath, "CI_COMMIT_BRANCH": "main", "GITLAB_USER_LOGIN": "dev-user",
		}
		claims := map[string]string{"sha": commit, "job_id": job}
		if st.Deployment != "" {
			env["CI_ENVIRONMENT_NAME"] = st.Deployment
		} else {
			env["CI_MERGE_REQUEST_IID"] = "7"
			env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = "feature/channel"
			for k, v := range map[string]string{"ref": "feature/channel", "ref_path": "refs/heads/feature/channel", "ref_protected": "false",
				"pipeline_source": "merge_request_event", "environment": "", "environment_protected": "", "deployment_tier": ""} {
				claims[k] = v
			}
		}
		for k, v := range c {
			claims[k] = v
		}
		// GitLab puts each declared ID token in the variable it names.
		for name, auds := range st.IDTokens {
			env[name] = h.mint("gitlab", strings.Join(auds, ","), claims)
		}
		return env
	}

	r := h.run(plan, gitlab(plan, "aaaa000000000000000000000000000000000021", "21", nil))
	if r.code != 0 {
		t.Fatalf("plan job: exit %d\n%s", r.code, r.stderr)
	}
	h.checkPlanComment("spangate-plan.md")

	noEnv := apply
	noEnv.Deployment = ""
	if r := h.run(noEnv, gitlab(noEnv, "bbbb000000000000000000000000000000000022", "22", nil)); r.code != exitDenied {
		t.Fatalf("apply from an unprotected branch: exit %d\n%s", r.code, r.stderr)
	}
	h.findAudit("migrate", "denied", "bbbb000000000000000000000000000000000022")

	r = h.run(apply, gitlab(apply, "cccc000000000000000000000000000000000023", "23", nil))
	if r.code != 0 {
		t.Fatalf("apply job: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "section_start:") || !strings.Contains(r.stderr, "section_end:") {
		t.Errorf("apply log is not a GitLab section:\n%q", r.stderr)
	}
	h.checkSchema()
	e := h.findAudit("migrate", "ok", "cccc000000000000000000000000000000000023")
	if !strings.Contains(e.Pipeline, "#23") || e.Run.Environment != "production" || e.Run.CI != "gitlab" {
		t.Errorf("apply audit entry = %+v", e)
	}
}
