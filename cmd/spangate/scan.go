package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/cireport"
	"github.com/spangate/spangate/internal/scan"
)

// scanRule is the short description of a scan rule in SARIF logs.
func scanRule(rule string) string {
	return "spangate scan: " + rule
}

// scanOptions are the flags of `spangate scan`.
type scanOptions struct {
	dir      string
	vars     []string
	policies []string
	format   string
	reports  reportFlags // the same CI reports as migrate plan (cireport.go)
}

func (a *app) scanCommand() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Check a repository's pipelines for long-lived keys, missing OIDC and weak policies",
		Long: `scan reads bitbucket-pipelines.yml, .github/workflows/*.yml and .gitlab-ci.yml
under --dir, every other text file there, the exported variable lists given
with --vars, and the gateway configs it finds (or --policy), and reports
with file:line:

  - Google service-account keys, PEM private keys, user refresh tokens and
    API keys, in files or variables (plain or base64-encoded), and steps
    that log in with a key file;
  - steps that run spangate without an OIDC token: Bitbucket oidc: true,
    GitHub permissions id-token: write, GitLab id_tokens;
  - steps that run spangate migrate apply outside a deployment environment;
  - policy rules whose condition trusts only claims a push controls (a
    branch name), or no repository at all (analysed with CEL's parser).

A secret is never printed: findings name it by a fingerprint (sha256:…).
--vars reads KEY=VALUE lines or a JSON array of {"key", "value"} objects as
Bitbucket's pipeline variables API lists them.

--report-sarif and --report-insights write the findings for GitHub code
scanning and Bitbucket Code Insights, as migrate plan does.

Exit 0 when no error is found (warnings allowed), 4 when one is.`,
		Example: `  spangate scan
  spangate scan --dir ../billing --vars bitbucket-variables.json --policy gateway/spangate.yaml
  spangate scan --format json | jq '.findings[] | select(.severity == "error")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".", "repository to scan")
	f.StringArrayVar(&o.vars, "vars", nil, "exported pipeline variables: KEY=VALUE lines or a JSON array of {key, value} (repeatable)")
	f.StringArrayVar(&o.policies, "policy", nil, "gateway config file to analyse besides those found in --dir (repeatable)")
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	o.reports.register(f)
	return cmd
}

func (a *app) runScan(ctx context.Context, o scanOptions) error {
	if err := checkFormat(o.format, "text", "json"); err != nil {
		return err
	}
	read := func(flag string, names []string) ([]scan.Source, error) {
		var out []scan.Source
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, spangate.Errorf(spangate.Invalid, "%s: %w", flag, err).WithHint("give the path of a readable file")
			}
			out = append(out, scan.Source{Name: n, Content: b})
		}
		return out, nil
	}
	vars, err := read("--vars", o.vars)
	if err != nil {
		return err
	}
	pols, err := read("--policy", o.policies)
	if err != nil {
		return err
	}
	if st, err := os.Stat(o.dir); err != nil || !st.IsDir() {
		return spangate.Errorf(spangate.Invalid, "--dir %s is not a readable directory", o.dir).
			WithHint("pass --dir with the path of a repository checkout")
	}
	s, err := scan.New()
	if err != nil {
		return err
	}
	rep, err := s.Scan(os.DirFS(o.dir), scan.Options{Variables: vars, Policies: pols})
	if err != nil {
		return err
	}
	if o.dir != "." {
		for i := range rep.Findings {
			if !filepath.IsAbs(rep.Findings[i].File) && !slices.Contains(o.vars, rep.Findings[i].File) && !slices.Contains(o.policies, rep.Findings[i].File) {
				rep.Findings[i].File = filepath.Join(o.dir, rep.Findings[i].File)
			}
		}
	}
	err = a.writeReportFiles(ctx, &o.reports,
		func(opts cireport.InsightsOptions) (cireport.Report, []cireport.Annotation) {
			opts.ReportID = "spangate-scan"
			return cireport.ScanInsights(rep.Findings, rep.Files, opts)
		},
		func() cireport.Log { return cireport.SARIFOf(rep.Findings, buildVersion().Version, scanRule) })
	if err != nil {
		return err
	}
	if o.format == "json" {
		err = writeJSON(a.stdout, map[string]any{
			"findings": rep.Findings, "errors": rep.Errors(), "warnings": len(rep.Findings) - rep.Errors(),
			"files": rep.Files, "pipelines": rep.Pipelines, "policies": rep.Policies,
		})
	} else {
		var b strings.Builder
		for _, f := range rep.Findings {
			fmt.Fprintf(&b, "%s:%d: %s [%s] %s\n", f.File, f.Line, f.Severity, f.Rule, f.Message)
		}
		fmt.Fprintf(&b, "scanned %d file(s), %d pipeline file(s), %d policy file(s): %d error(s), %d warning(s)\n",
			rep.Files, rep.Pipelines, rep.Policies, rep.Errors(), len(rep.Findings)-rep.Errors())
		_, err = fmt.Fprint(a.stdout, b.String())
	}
	if err != nil {
		return err
	}
	if n := rep.Errors(); n > 0 {
		return silentError{code: exitBlocked, err: spangate.Errorf(spangate.Blocked, "scan found %d error(s)", n)}
	}
	return nil
}
