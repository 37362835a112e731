package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
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

// TestScan200Workflows reads the repository that BenchmarkScan200Workflows
// times (its target, under a second for 200 workflows with the CEL
// environment, lives in docs/benchmarks.md) and checks what it finds.
func TestScan200Workflows(t *testing.T) {
	dir := writeRepo(t, 200)
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Scan(os.DirFS(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pipelines != 202 || r.Errors() != 40 {
		t.Fatalf("read %d pipelines with %d errors, want 202 and 40", r.Pipelines, r.Errors())
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
