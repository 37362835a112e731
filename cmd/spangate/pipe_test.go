package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/scan"
)

// TestBitbucketPipe runs the Pipe's entry script the way Bitbucket runs the
// pipe's container: with the image's busybox shell, a spangate binary on
// PATH, Bitbucket's variables and the step's OIDC token from the dev
// issuer, against spangate dev with the example policy. The plan publishes
// its Code Insights report through a stand-in for the pipeline's proxy;
// the deployment step applies; a step without oidc: true is told what to
// add.
func TestBitbucketPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds spangate and starts spangate dev")
	}
	sh, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox (Debian's busybox-static, the image's shell) is not installed; .ci/run installs it")
	}
	script, err := filepath.Abs("../../integrations/bitbucket-pipe/pipe.sh")
	must(t, err)
	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(bin, "spangate"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var mu sync.Mutex
	var published []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		published = append(published, r.Method+" "+r.URL.String())
		mu.Unlock()
		if !json.Valid(b) {
			http.Error(w, "not JSON", http.StatusBadRequest)
		}
	}))
	defer proxy.Close()

	h := newCIHarness(t, "examples/bitbucket-pipelines.yml", "examples/policies/bitbucket.yaml", scan.ParseBitbucket)
	pipe := func(vars map[string]string, deployment bool, commit string, oidc bool) (int, string, string) {
		t.Helper()
		env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir(),
			"CI=true", "BITBUCKET_BUILD_NUMBER=201", "BITBUCKET_COMMIT=" + commit, "BITBUCKET_BRANCH=main",
			"BITBUCKET_REPO_FULL_NAME=acme/orders", "BITBUCKET_WORKSPACE=acme", "BITBUCKET_REPO_SLUG=orders",
			"BITBUCKET_REPO_UUID=" + devoidc.BitbucketRepositoryUUID, "BITBUCKET_CLONE_DIR=" + h.repo,
			"SPANGATE_BITBUCKET_PROXY=" + proxy.URL,
		}
		claims := map[string]string{"branchName": "main"}
		if deployment {
			env = append(env, "BITBUCKET_DEPLOYMENT_ENVIRONMENT=production", "BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID="+devoidc.BitbucketEnvironmentUUID)
		} else {
			env = append(env, "BITBUCKET_PR_ID=9")
			claims["deploymentEnvironmentUuid"] = ""
		}
		if oidc {
			aud, _ := json.Marshal([]string{"ari:cloud:bitbucket::workspace/" + strings.Trim(devoidc.BitbucketWorkspaceUUID, "{}"), h.url})
			claims["aud"] = string(aud)
			env = append(env, "BITBUCKET_STEP_OIDC_TOKEN="+h.mint("bitbucket", "", claims))
		}
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
		cmd := exec.CommandContext(t.Context(), sh, "sh", script)
		cmd.Dir, cmd.Env = h.repo, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	vars := func(command string) map[string]string {
		return map[string]string{"COMMAND": command, "GATEWAY_URL": h.url, "DATABASE": "orders", "DIR": "migrations"}
	}

	// A pull request's step plans and publishes the report.
	code, out, stderr := pipe(vars("plan"), false, "dddd000000000000000000000000000000000001", true)
	if code != 0 || !strings.Contains(out, "### spangate migration plan: ✅ ready to apply") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, stderr)
	}
	h.checkPlanComment("spangate-plan.md")
	mu.Lock()
	got := strings.Join(published, "\n")
	mu.Unlock()
	// A clean plan has no annotations: the report alone is published
	// (TestPublish covers the annotations).
	if want := "PUT http://api.bitbucket.org/2.0/repositories/acme/orders/commit/dddd000000000000000000000000000000000001/reports/spangate-plan"; got != want {
		t.Errorf("the proxy got:\n%s\nwant %s", got, want)
	}

	// The same pipe in a plain step may not apply; in the deployment step
	// it does.
	if code, _, stderr := pipe(vars("apply"), false, "dddd000000000000000000000000000000000002", true); code != exitDenied {
		t.Errorf("apply outside the deployment: exit %d, want %d\n%s", code, exitDenied, stderr)
	}
	if code, _, stderr := pipe(vars("apply"), true, "dddd000000000000000000000000000000000003", true); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	h.checkSchema()
	h.findAudit("migrate", "ok", "dddd000000000000000000000000000000000003")
	if code, out, stderr := pipe(vars("status"), true, "dddd000000000000000000000000000000000004", true); code != 0 || !strings.Contains(out+stderr, "applied") {
		t.Errorf("status: exit %d\n%s%s", code, out, stderr)
	}

	// Mistakes are named, with what to do.
	if code, _, stderr := pipe(vars("plan"), false, "dddd000000000000000000000000000000000005", false); code != 2 || !strings.Contains(stderr, "oidc: true") {
		t.Errorf("no OIDC token: exit %d %s", code, stderr)
	}
	noURL := vars("plan")
	delete(noURL, "GATEWAY_URL")
	if code, _, stderr := pipe(noURL, false, "dddd000000000000000000000000000000000006", true); code != 2 || !strings.Contains(stderr, "GATEWAY_URL") {
		t.Errorf("no GATEWAY_URL: exit %d %s", code, stderr)
	}
	if code, _, stderr := pipe(vars("aply"), false, "dddd000000000000000000000000000000000007", true); code != 2 || !strings.Contains(stderr, "plan, apply or status") {
		t.Errorf("COMMAND=aply: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(h.repo, "spangate-insights.json")); err != nil {
		t.Error(err)
	}
}
