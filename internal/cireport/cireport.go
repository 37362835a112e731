// Package cireport turns findings (a migration plan's, a pipeline scan's)
// into the machine-readable reports CI systems show next to a pull request:
// a Bitbucket Code Insights report with its annotations, and a SARIF 2.1.0
// log for GitHub code scanning.
//
// The builders are pure: they take a plan view and return values that encode
// to the documented JSON shapes; the caller writes them where a later step
// can upload them. Nothing here reads the environment or the network.
package cireport

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/spangate/spangate/internal/finding"
	"github.com/spangate/spangate/internal/migration"
)

// ToolName is the name reports give as their reporter or tool driver.
const ToolName = "spangate"

// InformationURI is the tool's documentation link in SARIF logs.
const InformationURI = "https://github.com/spangate/spangate"

// Limits Bitbucket sets on Code Insights: an annotations request holds at
// most 100 annotations, a summary at most 450 characters, a report's details
// at most 2000.
const (
	MaxAnnotations   = 100
	maxSummaryLength = 450
	maxDetailsLength = 2000
)

// Report is a Bitbucket Code Insights report: the body of
// PUT /2.0/repositories/{workspace}/{repo}/commit/{commit}/reports/{id}.
type Report struct {
	Title      string  `json:"title"`
	Details    string  `json:"details"`
	ExternalID string  `json:"external_id"`
	Reporter   string  `json:"reporter"`
	Link       string  `json:"link,omitempty"`
	ReportType string  `json:"report_type"`
	Result     string  `json:"result"`
	Data       []Datum `json:"data"`
}

// Datum is one field shown on a Code Insights report card. Type is one of
// BOOLEAN, DATE, DURATION, LINK, NUMBER, PERCENTAGE or TEXT.
type Datum struct {
	Title string `json:"title"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Annotation is one Code Insights annotation, an element of the body of
// POST …/reports/{id}/annotations.
type Annotation struct {
	ExternalID     string `json:"external_id"`
	AnnotationType string `json:"annotation_type"`
	Path           string `json:"path,omitempty"`
	Line           int    `json:"line,omitempty"`
	Summary        string `json:"summary"`
	Details        string `json:"details,omitempty"`
	Severity       string `json:"severity"`
	Result         string `json:"result"`
}

// InsightsOptions say what a Code Insights report refers to.
type InsightsOptions struct {
	// ReportID is the report's external_id and the {id} of its URL; ""
	// means "spangate-plan".
	ReportID string
	// Link, when set, links the report to the pipeline run.
	Link string
}

// Insights returns the Code Insights report and annotations of the plan v.
// The report fails when the plan is blocked, and passes otherwise; each
// finding becomes an annotation on its file and line, errors HIGH and
// warnings MEDIUM. At most MaxAnnotations annotations are returned, errors
// first; the report's details say how many were left out.
func Insights(v migration.View, opts InsightsOptions) (Report, []Annotation) {
	id := cmp.Or(opts.ReportID, "spangate-plan")
	errs, warns := finding.Count(v.Findings)
	result := "PASSED"
	if v.Blocked {
		result = "FAILED"
	}
	details := fmt.Sprintf("Database %s: %d applied, %d pending migration(s), %d statement(s) in %d schema operation(s); %d error(s), %d warning(s).",
		v.Database, len(v.Applied), len(v.Pending), v.Statements, v.SchemaOperations, errs, warns)
	if v.Blocked {
		details += " The plan is blocked: fix the errors before applying."
	}
	findings, cut := annotated(v.Findings, "spangate migrate plan")
	details += cut
	r := Report{
		Title:      "spangate migration plan",
		Details:    truncate(details, maxDetailsLength),
		ExternalID: id,
		Reporter:   ToolName,
		Link:       opts.Link,
		ReportType: "BUG",
		Result:     result,
		Data: []Datum{
			{Title: "Pending migrations", Type: "NUMBER", Value: len(v.Pending)},
			{Title: "Statements", Type: "NUMBER", Value: v.Statements},
			{Title: "Schema operations", Type: "NUMBER", Value: v.SchemaOperations},
			{Title: "Errors", Type: "NUMBER", Value: errs},
			{Title: "Warnings", Type: "NUMBER", Value: warns},
			{Title: "Safe to apply", Type: "BOOLEAN", Value: !v.Blocked},
		},
	}
	return r, annotations(id, findings)
}

// ScanInsights returns the Code Insights report and annotations of a
// pipeline scan's findings (spangate scan) over files files: it fails when
// a finding is an error.
func ScanInsights(findings []finding.Finding, files int, opts InsightsOptions) (Report, []Annotation) {
	id := cmp.Or(opts.ReportID, "spangate-scan")
	errs, warns := finding.Count(findings)
	result := "PASSED"
	if errs > 0 {
		result = "FAILED"
	}
	details := fmt.Sprintf("%d file(s) scanned: %d error(s), %d warning(s).", files, errs, warns)
	findings, cut := annotated(findings, "spangate scan")
	details += cut
	r := Report{
		Title:      "spangate pipeline scan",
		Details:    truncate(details, maxDetailsLength),
		ExternalID: id,
		Reporter:   ToolName,
		Link:       opts.Link,
		ReportType: "SECURITY",
		Result:     result,
		Data: []Datum{
			{Title: "Files", Type: "NUMBER", Value: files},
			{Title: "Errors", Type: "NUMBER", Value: errs},
			{Title: "Warnings", Type: "NUMBER", Value: warns},
		},
	}
	return r, annotations(id, findings)
}

// annotated returns the findings a report annotates, errors first, at most
// MaxAnnotations, and a sentence for the report's details when some were
// left out (command lists them all).
func annotated(fs []finding.Finding, command string) ([]finding.Finding, string) {
	fs = finding.Sorted(fs)
	if len(fs) <= MaxAnnotations {
		return fs, ""
	}
	return fs[:MaxAnnotations], fmt.Sprintf(" %d finding(s) are not annotated; run %s to see them all.", len(fs)-MaxAnnotations, command)
}

// annotations are the findings as Code Insights annotations of report id:
// errors HIGH, warnings MEDIUM, remarks LOW.
func annotations(id string, findings []finding.Finding) []Annotation {
	anns := make([]Annotation, 0, len(findings))
	seen := map[string]int{}
	for _, f := range findings {
		// external_id must be unique within the report: a repeated finding
		// (same rule, file and message) gets its occurrence number.
		ext := id + "-" + fingerprint(f)
		if seen[ext]++; seen[ext] > 1 {
			ext += fmt.Sprintf("-%d", seen[ext])
		}
		sev, typ, res := "MEDIUM", "CODE_SMELL", "PASSED"
		switch f.Severity {
		case finding.SeverityError:
			sev, typ, res = "HIGH", "BUG", "FAILED"
		case finding.SeverityInfo:
			sev = "LOW"
		}
		anns = append(anns, Annotation{
			ExternalID:     ext,
			AnnotationType: typ,
			Path:           repoPath(f.File),
			Line:           max(f.Line, 0),
			Summary:        truncate(fmt.Sprintf("[%s] %s", f.Rule, f.Message), maxSummaryLength),
			Severity:       sev,
			Result:         res,
		})
	}
	return anns
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type (
	// Log is a SARIF log with one run.
	Log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []Run  `json:"runs"`
	}
	// Run is the tool and the results of one analysis.
	Run struct {
		Tool    Tool     `json:"tool"`
		Results []Result `json:"results"`
	}
	// Tool names the analysis tool.
	Tool struct {
		Driver Driver `json:"driver"`
	}
	// Driver is the tool's component that produced the results.
	Driver struct {
		Name           string `json:"name"`
		Version        string `json:"version,omitempty"`
		InformationURI string `json:"informationUri"`
		Rules          []Rule `json:"rules"`
	}
	// Rule describes one finding rule.
	Rule struct {
		ID                   string        `json:"id"`
		ShortDescription     Message       `json:"shortDescription"`
		DefaultConfiguration Configuration `json:"defaultConfiguration"`
	}
	// Configuration is a rule's default level.
	Configuration struct {
		Level string `json:"level"`
	}
	// Message is a plain-text message.
	Message struct {
		Text string `json:"text"`
	}
	// Result is one finding.
	Result struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Level               string            `json:"level"`
		Message             Message           `json:"message"`
		Locations           []Location        `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
	}
	// Location is where a result is.
	Location struct {
		PhysicalLocation PhysicalLocation `json:"physicalLocation"`
	}
	// PhysicalLocation is a file and a region in it.
	PhysicalLocation struct {
		ArtifactLocation ArtifactLocation `json:"artifactLocation"`
		Region           Region           `json:"region"`
	}
	// ArtifactLocation is a file, relative to the repository root.
	ArtifactLocation struct {
		URI       string `json:"uri"`
		URIBaseID string `json:"uriBaseId"`
	}
	// Region is a line; SARIF lines start at 1.
	Region struct {
		StartLine int `json:"startLine"`
	}
)

// SARIFSchema is the schema URI SARIF 2.1.0 logs name.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// SARIF returns the SARIF 2.1.0 log of the plan's findings, for GitHub code
// scanning (upload it with github/codeql-action/upload-sarif). toolVersion
// is spangate's version. Errors have level error, warnings warning, and
// anything else note.
func SARIF(v migration.View, toolVersion string) Log {
	return SARIFOf(v.Findings, toolVersion, describe)
}

// SARIFOf returns the SARIF 2.1.0 log of any findings; describe gives each
// rule's short description.
func SARIFOf(fs []finding.Finding, toolVersion string, describe func(rule string) string) Log {
	findings := finding.Sorted(fs)
	var rules []Rule
	index := map[string]int{}
	results := make([]Result, 0, len(findings))
	for _, f := range findings {
		level := sarifLevel(f.Severity)
		i, ok := index[f.Rule]
		if !ok {
			i = len(rules)
			index[f.Rule] = i
			rules = append(rules, Rule{
				ID:                   f.Rule,
				ShortDescription:     Message{Text: describe(f.Rule)},
				DefaultConfiguration: Configuration{Level: level},
			})
		}
		results = append(results, Result{
			RuleID:    f.Rule,
			RuleIndex: i,
			Level:     level,
			Message:   Message{Text: f.Message},
			Locations: []Location{{PhysicalLocation: PhysicalLocation{
				ArtifactLocation: ArtifactLocation{URI: repoPath(f.File), URIBaseID: "%SRCROOT%"},
				Region:           Region{StartLine: max(f.Line, 1)},
			}}},
			PartialFingerprints: map[string]string{"spangateFinding/v1": fingerprint(f)},
		})
	}
	if rules == nil {
		rules = []Rule{}
	}
	return Log{
		Schema:  SARIFSchema,
		Version: "2.1.0",
		Runs: []Run{{
			Tool: Tool{Driver: Driver{
				Name: ToolName, Version: toolVersion, InformationURI: InformationURI, Rules: rules,
			}},
			Results: results,
		}},
	}
}

func sarifLevel(s finding.Severity) string {
	switch s {
	case finding.SeverityError:
		return "error"
	case finding.SeverityWarning:
		return "warning"
	}
	return "note"
}

// descriptions of the rules migration files produce; rules added later get
// a generic description.
var descriptions = map[string]string{
	migration.RuleSyntax:            "A statement does not parse as Spanner SQL",
	migration.RuleFileName:          "A migration file is not named <version>_<description>.sql",
	migration.RuleDuplicateVersion:  "Two migration files share a version",
	migration.RuleEmptyFile:         "A migration file holds no statement",
	migration.RuleQueryInMigration:  "A migration holds a query, which changes nothing",
	migration.RulePartitionedInsert: "Partitioned DML that Spanner would reject",
	migration.RuleUnknownDirective:  "An unknown spangate directive",
	migration.RuleModified:          "An applied migration file was edited",
}

func describe(rule string) string {
	if d, ok := descriptions[rule]; ok {
		return d
	}
	return "spangate migration rule " + rule
}

// fingerprint identifies a finding across runs: its rule, file and message
// (not its line, which moves when lines are added above it).
func fingerprint(f finding.Finding) string {
	sum := sha256.Sum256([]byte(f.Rule + "\x00" + repoPath(f.File) + "\x00" + f.Message))
	return hex.EncodeToString(sum[:8])
}

// repoPath writes a finding's file as a path relative to the repository
// root with forward slashes, as both Bitbucket and GitHub want it.
func repoPath(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	if p == "" {
		return ""
	}
	return strings.TrimPrefix(path.Clean(p), "./")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
