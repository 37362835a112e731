package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeRepo writes a repository with n GitHub workflows (each a plan and
// an apply job running spangate, one in ten leaky), a Bitbucket and a GitLab
// pipeline, and a gateway policy.
func writeRepo(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	ex := examples(t)
	for i := range n {
		body := ex[".github/workflows/spangate.yml"].Data
		if i%10 == 0 {
			body = fmt.Appendf(nil, "on: push\njobs:\n  apply%d:\n    runs-on: ubuntu-latest\n    steps:\n      - run: spangate migrate apply --dir db/%d\n", i, i)
		}
		if err := os.WriteFile(filepath.Join(wf, fmt.Sprintf("service-%03d.yml", i)), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for dst, src := range map[string]string{"bitbucket-pipelines.yml": "bitbucket-pipelines.yml", ".gitlab-ci.yml": ".gitlab-ci.yml", "spangate.yaml": "gateway/bitbucket.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, dst), ex[src].Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestScan200WorkflowsUnderOneSecond is the performance target of spangate
// scan: a repository with 200 workflow files in under a second, CEL
// environment included.
func TestScan200WorkflowsUnderOneSecond(t *testing.T) {
	dir := writeRepo(t, 200)
	start := time.Now()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Scan(os.DirFS(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if r.Pipelines != 202 || r.Errors() != 40 {
		t.Fatalf("read %d pipelines with %d errors, want 202 and 40", r.Pipelines, r.Errors())
	}
	t.Logf("scanned %d files (%d pipelines) in %s", r.Files, r.Pipelines, took)
	if took > time.Second {
		t.Errorf("scan of 200 workflows took %s, want under 1s", took)
	}
}

func BenchmarkScan200Workflows(b *testing.B) {
	dir := writeRepo(b, 200)
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Scan(os.DirFS(dir), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
