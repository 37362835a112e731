package cireport

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spangate/spangate/internal/migration"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// blockedView is a plan with an error, a warning and an info finding, out
// of order, with the paths a user's --dir gives.
func blockedView() migration.View {
	return migration.View{
		Database: "orders",
		Applied:  []int64{1, 2},
		Pending: []migration.PendingView{
			{Version: 3, Name: "add_email", Statements: 2, Kinds: []migration.StatementKind{"ddl"}},
		},
		Findings: []migration.Finding{
			{Severity: migration.SeverityWarning, Rule: "out-of-order", File: "./migrations/0003_add_email.sql", Line: 1, Message: "version 3 sorts before applied version 4"},
			{Severity: migration.SeverityError, Rule: migration.RuleSyntax, File: "migrations/0003_add_email.sql", Line: 2, Message: "syntax error: unexpected token \"TABL\""},
			{Severity: migration.SeverityInfo, Rule: "add-column-default", File: "migrations/0003_add_email.sql", Line: 4, Message: "adding a column with a default rewrites no rows"},
		},
		SchemaOperations: 1,
		Statements:       2,
		Blocked:          true,
	}
}

func cleanView() migration.View {
	return migration.View{Database: "orders", Applied: []int64{1}, Pending: []migration.PendingView{
		{Version: 2, Name: "seed", Statements: 1, Kinds: []migration.StatementKind{"dml"}},
	}, Findings: []migration.Finding{}, Statements: 1}
}

func TestInsightsGolden(t *testing.T) {
	for name, v := range map[string]migration.View{"blocked": blockedView(), "clean": cleanView()} {
		t.Run(name, func(t *testing.T) {
			r, anns := Insights(v, InsightsOptions{Link: "https://bitbucket.org/acme/orders/pipelines/results/42"})
			golden(t, "insights-"+name+".json", encode(t, r))
			golden(t, "insights-"+name+"-annotations.json", encode(t, anns))
		})
	}
}

func TestSARIFGolden(t *testing.T) {
	for name, v := range map[string]migration.View{"blocked": blockedView(), "clean": cleanView()} {
		t.Run(name, func(t *testing.T) {
			golden(t, "sarif-"+name+".json", encode(t, SARIF(v, "1.2.3")))
		})
	}
}

// TestInsightsFormat checks the documented enums and limits, whatever the
// golden files say.
func TestInsightsFormat(t *testing.T) {
	v := blockedView()
	for i := range 150 {
		v.Findings = append(v.Findings, migration.Finding{Severity: migration.SeverityWarning, Rule: "lint", File: "m/0004_x.sql",
			Line: i + 1, Message: strings.Repeat("long message ", 60)})
	}
	r, anns := Insights(v, InsightsOptions{})
	if r.Result != "FAILED" || r.ReportType != "BUG" || r.ExternalID != "spangate-plan" {
		t.Errorf("report = %+v", r)
	}
	if len(anns) != MaxAnnotations || anns[0].Severity != "HIGH" || anns[0].Result != "FAILED" {
		t.Fatalf("%d annotations, first %+v", len(anns), anns[0])
	}
	if !strings.Contains(r.Details, "53 finding(s) are not annotated") {
		t.Errorf("details do not say how many were left out: %s", r.Details)
	}
	ids := map[string]bool{}
	for _, a := range anns {
		if len([]rune(a.Summary)) > maxSummaryLength {
			t.Errorf("summary of %d runes", len([]rune(a.Summary)))
		}
		if !strings.Contains("VULNERABILITY CODE_SMELL BUG", a.AnnotationType) || !strings.Contains("CRITICAL HIGH MEDIUM LOW", a.Severity) {
			t.Errorf("annotation %+v uses an undocumented enum", a)
		}
		if ids[a.ExternalID] {
			t.Errorf("external_id %s repeats", a.ExternalID)
		}
		ids[a.ExternalID] = true
	}
	for _, d := range r.Data {
		if !strings.Contains("BOOLEAN DATE DURATION LINK NUMBER PERCENTAGE TEXT", d.Type) {
			t.Errorf("datum %+v has an undocumented type", d)
		}
	}
	if len(r.Data) > 10 {
		t.Errorf("%d data fields; Bitbucket shows at most 10", len(r.Data))
	}
	_, again := Insights(v, InsightsOptions{})
	if fmt.Sprint(again) != fmt.Sprint(anns) {
		t.Error("annotations are not deterministic")
	}
}

func TestSARIFShape(t *testing.T) {
	log := SARIF(blockedView(), "dev")
	b := encode(t, log)
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if generic["version"] != "2.1.0" || generic["$schema"] != SARIFSchema {
		t.Errorf("header = %v %v", generic["version"], generic["$schema"])
	}
	run := log.Runs[0]
	if len(run.Results) != 3 || run.Results[0].Level != "error" || run.Results[2].Level != "note" {
		t.Fatalf("results = %+v", run.Results)
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("ruleIndex %d does not name %s", r.RuleIndex, r.RuleID)
		}
		loc := r.Locations[0].PhysicalLocation
		if loc.Region.StartLine < 1 || strings.HasPrefix(loc.ArtifactLocation.URI, "./") {
			t.Errorf("location %+v", loc)
		}
	}
	empty := SARIF(migration.View{}, "dev")
	if b := encode(t, empty); !bytes.Contains(b, []byte(`"results": []`)) || !bytes.Contains(b, []byte(`"rules": []`)) {
		t.Errorf("an empty log must list no results as []:\n%s", b)
	}
}
