package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleRepo lays the shipped examples out as a repository in a temporary
// directory, with the example migrations, and returns it.
func exampleRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join("..", "..", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("examples/bitbucket-pipelines.yml", "bitbucket-pipelines.yml")
	copyFile("examples/github/workflows/spangate.yml", ".github/workflows/spangate.yml")
	copyFile("examples/gitlab-ci.yml", ".gitlab-ci.yml")
	ents, err := os.ReadDir("../../examples/migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFile("examples/migrations/"+e.Name(), "migrations/"+e.Name())
	}
	return dir
}

func TestScanCommand(t *testing.T) {
	clean := exampleRepo(t)
	out, stderr, code := cli(t, nil, "scan", "--dir", clean, "--policy", "../../examples/policies/bitbucket.yaml",
		"--policy", "../../examples/policies/github.yaml", "--policy", "../../examples/policies/gitlab.yaml")
	if code != 0 || !strings.Contains(out, "3 pipeline file(s), 3 policy file(s): 0 error(s), 0 warning(s)") {
		t.Fatalf("clean examples: exit %d\n%s%s", code, out, stderr)
	}

	leaky := t.TempDir()
	secret := "AIza" + strings.Repeat("k3y_", 8) + "xyz"
	must(t, os.WriteFile(filepath.Join(leaky, "bitbucket-pipelines.yml"), []byte(
		"pipelines:\n  branches:\n    main:\n      - step:\n          script:\n            - spangate migrate apply\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(leaky, "spangate.yaml"), []byte(
		"issuers: [{name: bb, url: https://x, audiences: [a]}]\ndatabases: {db: projects/p/instances/i/databases/d}\nrules:\n  - name: main\n    when: claims.branchName == \"main\"\n    databases: [db]\n    allow: [migrate]\n"), 0o644))
	vars := filepath.Join(t.TempDir(), "vars.env")
	must(t, os.WriteFile(vars, []byte("MAPS_KEY="+secret+"\n"), 0o644))

	out, stderr, code = cli(t, nil, "scan", "--dir", leaky, "--vars", vars)
	if code != exitBlocked {
		t.Fatalf("leaky: exit %d, want %d\n%s%s", code, exitBlocked, out, stderr)
	}
	for _, want := range []string{
		filepath.Join(leaky, "bitbucket-pipelines.yml") + ":6: error [spangate-without-oidc]",
		filepath.Join(leaky, "bitbucket-pipelines.yml") + ":6: error [apply-without-deployment]",
		filepath.Join(leaky, "spangate.yaml") + ":5: error [policy-push-controlled]",
		vars + ":1: error [google-api-key]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+stderr, secret[4:20]) {
		t.Error("scan printed a secret")
	}

	out, _, code = cli(t, nil, "scan", "--dir", leaky, "--vars", vars, "--format", "json")
	var doc struct {
		Findings []struct{ Severity, Rule, File, Message, Fingerprint string }
		Errors   int
	}
	if code != exitBlocked || json.Unmarshal([]byte(out), &doc) != nil || doc.Errors != 4 || len(doc.Findings) != 4 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	if _, _, code := cli(t, nil, "scan", "--dir", filepath.Join(leaky, "missing")); code != exitInvalid {
		t.Errorf("missing dir: exit %d, want %d", code, exitInvalid)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanReports checks that a scan writes the same CI reports as a plan:
// SARIF for GitHub code scanning and a Code Insights report with one
// annotation per finding, failed when a finding is an error.
func TestScanReports(t *testing.T) {
	leaky := t.TempDir()
	must(t, os.WriteFile(filepath.Join(leaky, "bitbucket-pipelines.yml"), []byte(
		"pipelines:\n  branches:\n    main:\n      - step:\n          script:\n            - spangate migrate apply\n"), 0o644))
	out := t.TempDir()
	sarif, insights := filepath.Join(out, "scan.sarif"), filepath.Join(out, "scan-insights.json")
	stdout, stderr, code := cli(t, nil, "scan", "--dir", leaky, "--report-sarif", sarif, "--report-insights", insights, "--format", "json")
	if code != exitBlocked {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitBlocked, stdout, stderr)
	}
	var doc struct {
		Findings []struct{ Rule, File string }
	}
	must(t, json.Unmarshal([]byte(stdout), &doc))
	if len(doc.Findings) == 0 {
		t.Fatal("no findings")
	}

	var log struct {
		Runs []struct {
			Tool    struct{ Driver struct{ Name string } }
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	b, err := os.ReadFile(sarif)
	must(t, err)
	must(t, json.Unmarshal(b, &log))
	if len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "spangate" || len(log.Runs[0].Results) != len(doc.Findings) {
		t.Fatalf("SARIF = %s", b)
	}
	for _, r := range log.Runs[0].Results {
		if r.RuleID == "" || r.Level == "" || len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.Region.StartLine < 1 ||
			!strings.HasSuffix(r.Locations[0].PhysicalLocation.ArtifactLocation.URI, "bitbucket-pipelines.yml") {
			t.Errorf("SARIF result = %+v", r)
		}
	}

	var rep struct {
		Result     string
		ExternalID string `json:"external_id"`
	}
	b, err = os.ReadFile(insights)
	must(t, err)
	must(t, json.Unmarshal(b, &rep))
	if rep.Result != "FAILED" || rep.ExternalID != "spangate-scan" {
		t.Errorf("report = %s", b)
	}
	var anns []struct{ Severity, Path string }
	b, err = os.ReadFile(filepath.Join(out, "scan-insights-annotations.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &anns))
	if len(anns) != len(doc.Findings) {
		t.Errorf("%d annotations for %d findings", len(anns), len(doc.Findings))
	}
}
