package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWIFConfigCommand(t *testing.T) {
	const pool = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/bb"
	const sa = "migrator@acme-prod.iam.gserviceaccount.com"
	out := filepath.Join(t.TempDir(), "gcp-wif.json")
	stdout, stderr, code := cli(t, nil, "wif", "config", "--provider", "bitbucket", "--pool-provider", pool, "--service-account", sa,
		"--repository", "{7c1e}", "--environment", "{a12f}", "--output", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var cfg struct {
		TokenURL         string `json:"token_url"`
		CredentialSource struct {
			File string `json:"file"`
		} `json:"credential_source"`
	}
	b, err := os.ReadFile(out)
	must(t, err)
	must(t, json.Unmarshal(b, &cfg))
	if cfg.TokenURL != "https://sts.googleapis.com/v1/token" || cfg.CredentialSource.File != "/tmp/spangate-oidc-token" {
		t.Errorf("config: %s", b)
	}
	for _, want := range []string{"attribute.repositoryuuid=assertion.repositoryUuid",
		"attribute.repositoryuuid == '{7c1e}' && attribute.deploymentenvironmentuuid == '{a12f}'",
		"principalSet://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/attribute.deploymentenvironmentuuid/{a12f}",
		`printf '%s' "$BITBUCKET_STEP_OIDC_TOKEN" > /tmp/spangate-oidc-token`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	// GitHub: the request token goes into a private file, never the log.
	if _, _, code := cli(t, nil, "wif", "config", "--provider", "github", "--pool-provider", pool, "--service-account", sa); code != exitInvalid {
		t.Errorf("github without --output: exit %d", code)
	}
	env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.example/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-secret"}
	stdout, stderr, code = cli(t, env, "wif", "config", "--provider", "github", "--pool-provider", pool, "--service-account", sa, "--output", out)
	if code != 0 || strings.Contains(stdout+stderr, "request-secret") {
		t.Fatalf("github: exit %d\n%s%s", code, stdout, stderr)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), `"subject_token_field_name": "value"`) || !strings.Contains(string(b), "audience=https%3A%2F%2Fiam.googleapis.com") {
		t.Errorf("github config: %s", b)
	}

	// A pool instead of a provider: exit 2 with a hint.
	_, stderr, code = cli(t, nil, "wif", "config", "--provider", "gitlab", "--pool-provider", strings.TrimSuffix(pool, "/providers/bb"), "--service-account", sa)
	if code != exitInvalid || !strings.Contains(stderr, "hint:") {
		t.Errorf("pool: exit %d %s", code, stderr)
	}

	// Direct mode refuses a credential file that would send the token elsewhere.
	evil := filepath.Join(t.TempDir(), "evil.json")
	must(t, os.WriteFile(evil, []byte(`{"type":"external_account","token_url":"https://attacker.example/v1/token"}`), 0o600))
	_, stderr, code = cli(t, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": evil, "SPANGATE_DATABASE": "projects/p/instances/i/databases/d"},
		"exec", "--sql", "SELECT 1")
	if code != exitInvalid || !strings.Contains(stderr, "not a Google endpoint") {
		t.Errorf("evil credentials: exit %d %s", code, stderr)
	}
}
