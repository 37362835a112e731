// Package scan checks a repository's CI configuration for what spangate
// exists to remove: long-lived Google credentials (service-account keys,
// private keys, user refresh tokens, API keys) in files or exported
// pipeline variables; steps that run spangate without an OIDC identity;
// apply steps outside a deployment environment; and gateway policies whose
// rules trust claims that anyone who can push chooses.
//
// It reads bitbucket-pipelines.yml, .github/workflows/*.y(a)ml and
// .gitlab-ci.yml with yaml.v3 nodes (so every finding has its line),
// analyses policy conditions with CEL's parser (never with patterns), and
// never reports a secret's value: a finding names it by a fingerprint, a
// truncated SHA-256 of the value.
package scan

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/finding"
	"github.com/spangate/spangate/internal/policy"
)

// Severity and Finding are the findings every spangate check reports
// (internal/finding), so a scan's report takes the same forms as a plan's
// (SARIF, Code Insights). Errors make `spangate scan` exit 4.
type (
	Severity = finding.Severity
	Finding  = finding.Finding
)

// The severities a scan reports.
const (
	SeverityError   = finding.SeverityError
	SeverityWarning = finding.SeverityWarning
)

// The rules of pipeline findings.
const (
	RuleNoOIDC         = "spangate-without-oidc"
	RuleTokenNotPassed = "id-token-not-passed"
	RuleApplyNoDeploy  = "apply-without-deployment"
)

// Source is a file given by name and content.
type Source struct {
	Name    string
	Content []byte
}

// Options are the inputs besides the repository's files.
type Options struct {
	// Variables are exported pipeline variable lists: KEY=VALUE lines, or
	// a JSON array of {"key", "value"} objects as Bitbucket's API lists
	// them.
	Variables []Source
	// Policies are gateway config files to analyse in addition to those
	// found in the repository.
	Policies []Source
	// MaxFileSize bounds the files read for secrets; 0 means 1 MiB.
	MaxFileSize int64
}

// Report is the result of a scan.
type Report struct {
	// Findings are sorted by file and line.
	Findings []Finding `json:"findings"`
	// Files counts the files read.
	Files int `json:"files"`
	// Pipelines counts the pipeline files read.
	Pipelines int `json:"pipelines"`
	// Policies counts the gateway configs analysed.
	Policies int `json:"policies"`
}

// Errors counts the error findings.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			n++
		}
	}
	return n
}

// skipDirs are never descended into.
var skipDirs = []string{".git", ".hg", ".svn", "node_modules", "vendor", ".terraform"}

// Scanner scans repositories. It holds the CEL environment of policy
// conditions; it is safe for concurrent use.
type Scanner struct {
	env *cel.Env
}

// New returns a Scanner.
func New() (*Scanner, error) {
	env, err := policy.NewEnv()
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "CEL environment: %w", err)
	}
	return &Scanner{env: env}, nil
}

// Scan reads the repository fsys (rooted at the repository's top) and the
// extra inputs in opts. A file that cannot be parsed is a finding, not an
// error; Scan fails only when fsys cannot be walked.
func (s *Scanner) Scan(fsys fs.FS, opts Options) (*Report, error) {
	limit := cmp.Or(opts.MaxFileSize, 1<<20)
	r := &Report{Findings: []Finding{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // an unreadable entry is skipped
		}
		if d.IsDir() {
			if p != "." && slices.Contains(skipDirs, d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > limit {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil
		}
		r.Files++
		s.scanFile(r, p, b)
		return nil
	})
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "scan: %w", err).WithHint("pass --dir with the path of a readable repository checkout")
	}
	for _, src := range opts.Variables {
		r.Files++
		r.Findings = append(r.Findings, scanVariables(src)...)
	}
	for _, src := range opts.Policies {
		r.Files++
		root, err := decode(src.Name, src.Content)
		if err != nil {
			r.Findings = append(r.Findings, unreadable(src.Name, err))
			r.Findings = append(r.Findings, secretFindings(src.Name, string(src.Content), 0)...)
			continue
		}
		r.Policies++
		r.Findings = append(r.Findings, analysePolicy(s.env, src.Name, root)...)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), strings.Compare(a.Rule, b.Rule))
	})
	return r, nil
}

// pipelineParser returns the parser of the pipeline file at p, or nil.
func pipelineParser(p string) func(string, []byte) (*Pipeline, error) {
	switch {
	case p == "bitbucket-pipelines.yml":
		return ParseBitbucket
	case p == ".gitlab-ci.yml":
		return ParseGitLab
	case path.Dir(p) == ".github/workflows" && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")):
		return ParseGitHub
	}
	return nil
}

// scanFile looks at one file: a pipeline file is checked as a pipeline,
// a policy as a policy, and every text file, whatever it is and whether
// or not it parses, is searched for secrets as text.
func (s *Scanner) scanFile(r *Report, p string, b []byte) {
	isYAML := strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")
	binary := slices.Contains(b[:min(len(b), 8000)], 0)
	if parse := pipelineParser(p); parse != nil {
		r.Pipelines++
		pl, err := parse(p, b)
		if err != nil {
			r.Findings = append(r.Findings, unreadable(p, err))
			if !binary {
				r.Findings = append(r.Findings, secretFindings(p, string(b), 0)...)
			}
			return
		}
		r.Findings = append(r.Findings, checkPipeline(pl)...)
		root, _ := decode(p, b)
		values := scanYAMLValues(p, root)
		r.Findings = append(r.Findings, values...)
		// Comments and anything the values do not show (a key pasted into
		// a comment) are found in the text; what the values found already
		// is not repeated.
		for _, f := range secretFindings(p, string(b), 0) {
			if !slices.ContainsFunc(values, func(v Finding) bool { return v.Rule == f.Rule && (v.Line == f.Line || v.Message == f.Message) }) {
				r.Findings = append(r.Findings, f)
			}
		}
		if pl.CI == CIGitHub {
			r.Findings = append(r.Findings, keyJSONInputs(p, root)...)
		}
		return
	}
	if binary {
		return
	}
	if isYAML {
		if root, err := decode(p, b); err == nil && isPolicy(root) {
			r.Policies++
			r.Findings = append(r.Findings, analysePolicy(s.env, p, root)...)
		}
	}
	r.Findings = append(r.Findings, secretFindings(p, string(b), 0)...)
}

func unreadable(file string, err error) Finding {
	msg := err.Error()
	var e *spangate.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	return Finding{Severity: SeverityWarning, Rule: "unreadable", File: file, Line: 1, Message: msg}
}

// secretFindings turns the secrets in text into findings; line0, when not
// 0, is the line of a value whose offsets are not positions in the file.
func secretFindings(file, text string, line0 int) []Finding {
	return toFindings(file, text, line0, findSecrets(text))
}

func toFindings(file, text string, line0 int, found []secret) []Finding {
	out := make([]Finding, 0, len(found))
	for _, sc := range found {
		line := line0
		if line == 0 {
			line = lineAt(text, sc.offset)
		}
		out = append(out, Finding{
			Severity: SeverityError, Rule: sc.rule, File: file, Line: line, Fingerprint: fingerprint(sc.value),
			Message: fmt.Sprintf("%s (%s): remove it, revoke it, and let the pipeline use its OIDC identity (spangate gateway or spangate wif config)",
				sc.what, fingerprint(sc.value)),
		})
	}
	return out
}

// scanYAMLValues looks for secrets in each value of a pipeline file,
// base64-encoded ones included.
func scanYAMLValues(file string, root *yaml.Node) []Finding {
	var out []Finding
	walkScalars(root, func(n *yaml.Node) {
		if len(n.Value) < 30 {
			return
		}
		line := n.Line
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			line++
		}
		found := findSecretsInValue(n.Value)
		for i := range found {
			if found[i].offset > 0 {
				found[i].offset = 0
			}
		}
		for _, f := range toFindings(file, n.Value, line, found) {
			out = append(out, f)
		}
	})
	return out
}

// keyJSONInputs finds GitHub steps that pass a key file to an action
// (google-github-actions/auth's credentials_json): the key lives in a
// repository secret.
func keyJSONInputs(file string, root *yaml.Node) []Finding {
	var out []Finding
	for _, job := range pairs(get(root, "jobs")) {
		for _, st := range items(get(job[1], "steps")) {
			with := get(st, "with")
			for _, kv := range pairs(with) {
				if kv[0].Value == "credentials_json" {
					out = append(out, Finding{Severity: SeverityError, Rule: RuleKeyFileUse, File: file, Line: kv[0].Line,
						Message: fmt.Sprintf("job %s passes a service-account key (credentials_json) to %s; use workload_identity_provider with permissions id-token: write instead, and delete the key",
							job[0].Value, cmp.Or(scalar(get(st, "uses")), "an action"))})
				}
			}
		}
	}
	return out
}

// checkPipeline reports the steps that run spangate without an identity,
// or apply outside a deployment environment, and script lines that use a
// key file.
func checkPipeline(p *Pipeline) []Finding {
	var out []Finding
	for _, st := range p.Steps {
		lines := append(slices.Clone(st.Script), st.AfterScript...)
		for _, l := range lines {
			if keyFileUse(l.Text) {
				out = append(out, Finding{Severity: SeverityError, Rule: RuleKeyFileUse, File: p.File, Line: l.Line,
					Message: fmt.Sprintf("step %q authenticates with a service-account key file; use the step's OIDC identity (spangate wif config) instead", st.Name)})
			}
			for _, args := range SpangateCommands(l.Text) {
				cmd := subcommand(args)
				if !needsIdentity(cmd) {
					continue
				}
				if !st.OIDC {
					out = append(out, Finding{Severity: SeverityError, Rule: RuleNoOIDC, File: p.File, Line: l.Line,
						Message: fmt.Sprintf("step %q runs spangate %s without an OIDC identity token; %s", st.Name, cmd, oidcFix(p.CI, st.Name))})
				} else if p.CI == CIGitLab && !gitlabTokenReachable(st, l.Text, args) {
					out = append(out, Finding{Severity: SeverityWarning, Rule: RuleTokenNotPassed, File: p.File, Line: l.Line,
						Message: fmt.Sprintf("job %q declares id_tokens %s, but spangate reads SPANGATE_ID_TOKEN; name the token SPANGATE_ID_TOKEN or pass --id-token-file",
							st.Name, strings.Join(slices.Sorted(mapKeys(st.IDTokens)), ", "))})
				}
				if cmd == "migrate apply" && st.Deployment == "" {
					out = append(out, Finding{Severity: SeverityError, Rule: RuleApplyNoDeploy, File: p.File, Line: l.Line,
						Message: fmt.Sprintf("step %q applies migrations outside a deployment environment; %s", st.Name, deployFix(p.CI))})
				}
			}
		}
	}
	return out
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func oidcFix(ci, step string) string {
	switch ci {
	case CIGitHub:
		return "give job " + step + " permissions: id-token: write"
	case CIGitLab:
		return "declare id_tokens: SPANGATE_ID_TOKEN: aud: <gateway URL> in job " + step
	}
	return "add oidc: true to the step"
}

func deployFix(ci string) string {
	switch ci {
	case CIGitHub:
		return "give the job environment: production (an environment with protection rules) and key the policy on it"
	case CIGitLab:
		return "give the job environment: production (a protected environment) and key the policy on it"
	}
	return "add deployment: production (an environment restricted to your main branch) and key the policy on deploymentEnvironmentUuid"
}

// gitlabTokenReachable reports whether a GitLab job's spangate command can
// find one of the job's ID tokens.
func gitlabTokenReachable(st Step, line string, args []string) bool {
	if _, ok := st.IDTokens["SPANGATE_ID_TOKEN"]; ok {
		return true
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--id-token-file") }) {
		return true
	}
	for name := range st.IDTokens {
		if strings.Contains(line, "$"+name) || strings.Contains(line, "${"+name+"}") {
			return true
		}
		for _, v := range st.Env {
			if strings.Contains(v, "$"+name) {
				return true
			}
		}
	}
	return false
}

// keyFileUse reports a shell line that logs in with a key file.
func keyFileUse(line string) bool {
	return strings.Contains(line, "activate-service-account") && strings.Contains(line, "--key-file")
}

// needsIdentity reports whether a spangate command presents the CI's
// identity (through a gateway, or to Google in direct mode).
func needsIdentity(cmd string) bool {
	first, _, _ := strings.Cut(cmd, " ")
	switch first {
	case "migrate", "exec", "audit", "login":
		return true
	}
	return false
}

// subcommand returns the command words of spangate's arguments ("migrate
// apply", "exec"), without flags.
func subcommand(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || a == ">" || a == ">>" {
			break
		}
		words = append(words, a)
		if len(words) == 2 || (len(words) == 1 && (a == "exec" || a == "login" || a == "version" || a == "scan")) {
			break
		}
	}
	return strings.Join(words, " ")
}
