package scan

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeKeys are credentials made for the test, so no key material is
// committed: a PEM private key and a service-account key file holding it.
type fakeKeys struct {
	pem, saJSON, saBase64, userJSON, apiKey string
}

func newFakeKeys(t testing.TB) fakeKeys {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	sa, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "acme-prod", "private_key_id": "0123456789abcdef",
		"private_key": p, "client_email": "migrator@acme-prod.iam.gserviceaccount.com",
	}, "", "  ")
	user, _ := json.Marshal(map[string]string{"type": "authorized_user", "client_id": "x.apps.googleusercontent.com",
		"client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0gLs9Z-secret-refresh-token-value"})
	return fakeKeys{pem: p, saJSON: string(sa), saBase64: base64.StdEncoding.EncodeToString(sa), userJSON: string(user),
		apiKey: "AIza" + strings.Repeat("Xy9_", 8) + "abc"}
}

// examples returns the shipped examples laid out as a repository.
func examples(t testing.TB) fstest.MapFS {
	t.Helper()
	fs := fstest.MapFS{}
	for dst, src := range map[string]string{
		"bitbucket-pipelines.yml":        "bitbucket-pipelines.yml",
		".github/workflows/spangate.yml": "github/workflows/spangate.yml",
		".gitlab-ci.yml":                 "gitlab-ci.yml",
		"gateway/bitbucket.yaml":         "policies/bitbucket.yaml",
		"gateway/github.yaml":            "policies/github.yaml",
		"gateway/gitlab.yaml":            "policies/gitlab.yaml",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", src))
		if err != nil {
			t.Fatal(err)
		}
		fs[dst] = &fstest.MapFile{Data: b}
	}
	return fs
}

func run(t *testing.T, fsys fstest.MapFS, opts Options) *Report {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Scan(fsys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// want is an expected finding: rule at file:line (line 0: any line).
type want struct {
	rule string
	file string
	line int
}

func check(t *testing.T, r *Report, wants []want, secrets ...string) {
	t.Helper()
	got := map[want]int{}
	for _, f := range r.Findings {
		got[want{f.Rule, f.File, f.Line}]++
		got[want{f.Rule, f.File, 0}]++
		for _, s := range secrets {
			for _, part := range strings.Split(s, "\n") {
				if len(part) > 20 && strings.Contains(f.Message+f.Fingerprint, part) {
					t.Errorf("finding %s:%d shows secret material: %s", f.File, f.Line, f.Message)
				}
			}
		}
	}
	for _, w := range wants {
		if got[w] == 0 {
			t.Errorf("missing finding %s at %s:%d", w.rule, w.file, w.line)
		}
	}
	if t.Failed() || len(r.Findings) != len(wants) {
		var b strings.Builder
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "  %s:%d %s %s: %s\n", f.File, f.Line, f.Severity, f.Rule, f.Message)
		}
		if len(r.Findings) != len(wants) {
			t.Errorf("%d findings, want %d:\n%s", len(r.Findings), len(wants), b.String())
		} else {
			t.Logf("findings:\n%s", b.String())
		}
	}
}

func TestExamplesAreClean(t *testing.T) {
	r := run(t, examples(t), Options{})
	check(t, r, nil)
	if r.Pipelines != 3 || r.Policies != 3 {
		t.Errorf("read %d pipelines and %d policies, want 3 and 3", r.Pipelines, r.Policies)
	}
}

func TestLeakyPipelines(t *testing.T) {
	keys := newFakeKeys(t)
	indented := "        " + strings.ReplaceAll(strings.TrimSpace(keys.saJSON), "\n", "\n        ")
	tests := []struct {
		name  string
		fs    fstest.MapFS
		opts  Options
		wants []want
	}{
		{"bitbucket", fstest.MapFS{
			"bitbucket-pipelines.yml": {Data: []byte(`image: golang:1.26
definitions:
  steps:
    - step: &plan
        name: Plan
        script:
          - spangate migrate plan --format markdown > plan.md
pipelines:
  pull-requests:
    '**':
      - step: *plan
  branches:
    main:
      - step:
          name: Apply
          oidc: true
          script:
            - echo "$GCP_SA_KEY" | base64 -d > key.json
            - gcloud auth activate-service-account --key-file key.json
            - SPANGATE_URL=https://gw spangate migrate apply
      - parallel:
          - step:
              name: Deploy with key
              deployment: production
              script:
                - ./bin/spangate migrate apply && echo done
  custom:
    seed:
      - variables:
          - name: X
      - step:
          name: Inline key
          script:
            - export KEY='` + keys.saBase64 + `'
`)},
		}, Options{}, []want{
			{RuleNoOIDC, "bitbucket-pipelines.yml", 7},
			{RuleKeyFileUse, "bitbucket-pipelines.yml", 19},
			{RuleApplyNoDeploy, "bitbucket-pipelines.yml", 20},
			{RuleNoOIDC, "bitbucket-pipelines.yml", 26},
			{RuleServiceAccountKey, "bitbucket-pipelines.yml", 34},
		}},
		{"invalid YAML still searched for secrets", fstest.MapFS{
			"bitbucket-pipelines.yml": {Data: []byte("pipelines:\n  default:\n    - step:\n      script: [unclosed\n" +
				"        - export GOOGLE_CREDENTIALS='" + strings.ReplaceAll(strings.TrimSpace(keys.saJSON), "\n", " ") + "'\n")},
		}, Options{}, []want{
			{"unreadable", "bitbucket-pipelines.yml", 1},
			{RuleServiceAccountKey, "bitbucket-pipelines.yml", 5},
		}},
		{"a key in a valid pipeline's comment", fstest.MapFS{
			"bitbucket-pipelines.yml": {Data: []byte("# old key: " + keys.apiKey + "\npipelines:\n  default:\n    - step:\n        oidc: true\n        script:\n          - echo hi\n")},
		}, Options{}, []want{
			{RuleAPIKey, "bitbucket-pipelines.yml", 1},
		}},
		{"github", fstest.MapFS{
			".github/workflows/deploy.yaml": {Data: []byte(`on: push
permissions:
  contents: read
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - run: |
          go install github.com/spangate/spangate/cmd/spangate@latest
          spangate migrate plan \
            --format markdown
  apply:
    runs-on: ubuntu-latest
    permissions: write-all
    steps:
      - uses: google-github-actions/auth@v2
        with:
          credentials_json: ${{ secrets.GCP_SA_KEY }}
      - run: spangate migrate apply
`)},
			".github/workflows/other.yml": {Data: []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: spangate version && spangate policy check --config c.yaml\n")},
		}, Options{}, []want{
			{RuleNoOIDC, ".github/workflows/deploy.yaml", 10},
			{RuleKeyFileUse, ".github/workflows/deploy.yaml", 18},
			{RuleApplyNoDeploy, ".github/workflows/deploy.yaml", 19},
		}},
		{"gitlab", fstest.MapFS{
			".gitlab-ci.yml": {Data: []byte(`variables:
  SPANGATE_URL: https://gw.example.com
.spangate:
  id_tokens:
    GITLAB_OIDC_TOKEN:
      aud: https://gw.example.com
plan:
  script:
    - spangate migrate plan
apply:
  extends: .spangate
  environment: production
  script:
    - spangate migrate apply
apply-passed:
  extends: .spangate
  environment:
    name: production
  script:
    - spangate migrate apply --id-token-file "$GITLAB_OIDC_TOKEN_FILE"
staging:
  id_tokens:
    SPANGATE_ID_TOKEN:
      aud: https://gw.example.com
  script:
    - spangate migrate apply
`)},
		}, Options{}, []want{
			{RuleNoOIDC, ".gitlab-ci.yml", 9},
			{RuleTokenNotPassed, ".gitlab-ci.yml", 14},
			{RuleApplyNoDeploy, ".gitlab-ci.yml", 26},
		}},
		{"files and variables", fstest.MapFS{
			"deploy/key.json":       {Data: []byte(keys.saJSON)},
			"deploy/tls.key":        {Data: []byte("# server key\n" + keys.pem)},
			"config/app.properties": {Data: []byte("maps.key=" + keys.apiKey + "\n")},
			"home/adc.json":         {Data: []byte(keys.userJSON)},
			"deploy/public.pem":     {Data: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
			"deploy/wif.json":       {Data: []byte(`{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q"}`)},
		}, Options{Variables: []Source{
			{Name: "vars.json", Content: []byte(`[
  {"key": "SPANGATE_URL", "value": "https://gw", "secured": false},
  {"key": "GCP_SA_KEY", "value": "` + keys.saBase64 + `", "secured": false},
  {"key": "GOOGLE_CREDENTIALS", "secured": true}
]`)},
			{Name: "vars.env", Content: []byte("# exported\nexport SPANGATE_DATABASE=orders\nDEPLOY_KEY=\"" + strings.ReplaceAll(keys.pem, "\n", `\n`) + "\"\n")},
		}}, []want{
			{RuleServiceAccountKey, "deploy/key.json", 3},
			{RulePrivateKey, "deploy/tls.key", 2},
			{RuleAPIKey, "config/app.properties", 1},
			{RuleUserCredential, "home/adc.json", 1},
			{RuleServiceAccountKey, "vars.json", 3},
			{RuleSuspectVariable, "vars.json", 4},
			{RulePrivateKey, "vars.env", 3},
		}},
		{"inline key in a pipeline variable", fstest.MapFS{
			".gitlab-ci.yml": {Data: []byte("variables:\n  GOOGLE_KEY: |\n" + indented + "\njob:\n  script: [echo]\n")},
		}, Options{}, []want{{RuleServiceAccountKey, ".gitlab-ci.yml", 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, run(t, tt.fs, tt.opts), tt.wants, keys.pem, keys.saBase64, keys.apiKey, "secret-refresh-token-value")
		})
	}
}

func TestPolicyRules(t *testing.T) {
	tests := []struct {
		name  string
		when  string
		allow string
		want  string // rule, or "" for none
	}{
		{"branch alone", `claims.branchName == "main"`, "migrate", RulePolicyPushControlled},
		{"branch and issuer", `issuer == "bitbucket" && claims["branchName"] == "main"`, "plan", RulePolicyPushControlled},
		{"github ref in list", `claims.ref in ["refs/heads/main", "refs/heads/release"]`, "write", RulePolicyPushControlled},
		{"negated repository is no constraint", `!(claims.repositoryUuid == "{x}") && claims.branchName == "main"`, "migrate", RulePolicyPushControlled},
		{"or lets the branch in alone", `claims.repositoryUuid == "{x}" && claims.deploymentEnvironmentUuid == "{e}" || claims.branchName == "main"`, "migrate", RulePolicyPushControlled},
		{"issuer only", `issuer == "github"`, "plan", RulePolicyAnyToken},
		{"true", `true`, "read", RulePolicyAnyToken},
		{"environment name alone", `claims.environment == "production"`, "migrate", RulePolicyAnyToken},
		{"workspace only", `claims.workspaceUuid == "{w}"`, "plan", RulePolicyNoRepository},
		{"repository and branch for migrate", `claims.repositoryUuid == "{x}" && claims.branchName == "main"`, "migrate", RulePolicyNoDeployGate},
		{"repository for migrate", `claims.repository_id == "1"`, "migrate", RulePolicyNoDeployGate},
		{"repository for plan", `claims.repositoryUuid == "{x}"`, "plan", ""},
		{"repository and environment", `claims.repositoryUuid == "{x}" && claims.deploymentEnvironmentUuid == "{e}"`, "migrate", ""},
		{"subject prefix and protected ref", `subject.startsWith("project_path:acme/app:") && claims.ref_protected == "true"`, "migrate", ""},
		{"false", `false`, "migrate", ""},
		{"does not parse", `claims.x ==`, "plan", RulePolicyUnreadable},
		// The policy's own environment and size limit: a condition the
		// gateway would refuse is not analysed as if it were fine.
		{"over the policy's size limit", `claims.repositoryUuid == "{x}" && claims.deploymentEnvironmentUuid == "` + strings.Repeat("e", 5000) + `"`, "migrate", RulePolicyUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fmt.Sprintf("issuers: [{name: x, url: https://x, audiences: [a]}]\ndatabases: {db: projects/p/instances/i/databases/d}\nrules:\n  - name: r\n    when: '%s'\n    databases: [db]\n    allow: [%s]\n",
				strings.ReplaceAll(tt.when, "'", "''"), tt.allow)
			r := run(t, fstest.MapFS{}, Options{Policies: []Source{{Name: "gw.yaml", Content: []byte(doc)}}})
			var wants []want
			if tt.want != "" {
				wants = []want{{tt.want, "gw.yaml", 5}}
			}
			check(t, r, wants)
		})
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string]string{
		`spangate migrate plan --format markdown > plan.md`: `spangate|migrate|plan|--format|markdown|>|plan.md`,
		`A=1 "spangate" exec --sql 'SELECT 1; x' # c`:       `A=1|spangate|exec|--sql|SELECT 1; x`,
		`x && y||z; w | v 2>&1`:                             `x|&&|y||||z|;|w|||v|2|>&|1`,
		`echo "a \"b\" $C"`:                                 `echo|a "b" $C`,
	} {
		if got := strings.Join(Words(in), "|"); got != want {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
	got := SpangateCommands(`go install x/cmd/spangate@latest && FOO=1 ./bin/spangate migrate apply --dir m | tee log`)
	if len(got) != 1 || strings.Join(got[0], " ") != "migrate apply --dir m" {
		t.Errorf("SpangateCommands = %q", got)
	}
}
