package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/bitbucket"
	"github.com/spangate/spangate/internal/cireport"
	"github.com/spangate/spangate/internal/migration"
)

// reportFlags are the machine-readable reports `migrate plan` can write
// next to its output, for a later pipeline step to upload.
type reportFlags struct {
	insights string
	publish  bool
	sarif    string
}

func (r *reportFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&r.insights, "report-insights", "", "write a Bitbucket Code Insights report to FILE and its annotations to FILE-annotations.json")
	fs.BoolVar(&r.publish, "publish-insights", false, "in Bitbucket Pipelines: also publish the Code Insights report and its annotations on the commit, through the pipeline's proxy ($SPANGATE_BITBUCKET_PROXY, default "+bitbucket.StepProxy+"; a pipe uses "+bitbucket.PipeProxy+")")
	fs.StringVar(&r.sarif, "report-sarif", "", "write the findings as SARIF 2.1.0 to FILE, for GitHub code scanning")
}

// insightsAnnotationsPath is where the annotations of the Code Insights
// report in file go: report.json → report-annotations.json.
func insightsAnnotationsPath(file string) string {
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + "-annotations" + ext
}

// writeReports writes the reports asked for from the plan view v. They are
// written whether or not the plan is blocked: a blocked plan is what they
// are most useful for.
func (a *app) writeReports(ctx context.Context, r *reportFlags, v migration.View) error {
	return a.writeReportFiles(ctx, r,
		func(opts cireport.InsightsOptions) (cireport.Report, []cireport.Annotation) {
			return cireport.Insights(v, opts)
		},
		func() cireport.Log { return cireport.SARIF(v, buildVersion().Version) })
}

// writeReportFiles writes the Code Insights report (and publishes it) and
// the SARIF log that r asks for, built by insights and sarif: the reports
// of a plan and of a scan take the same flags and the same path.
func (a *app) writeReportFiles(ctx context.Context, r *reportFlags,
	insights func(cireport.InsightsOptions) (cireport.Report, []cireport.Annotation), sarif func() cireport.Log) error {
	if r.publish && r.insights == "" {
		return usageError{err: errors.New("--publish-insights publishes the report --report-insights writes: give --report-insights FILE too")}
	}
	if r.insights != "" {
		run := a.runMetadata()
		link := ""
		if run.CI == "bitbucket" && run.Repository != "" && run.Build != "" {
			link = "https://bitbucket.org/" + run.Repository + "/pipelines/results/" + run.Build
		}
		rep, anns := insights(cireport.InsightsOptions{Link: link})
		if err := writeJSONFile(r.insights, "--report-insights", rep); err != nil {
			return err
		}
		if err := writeJSONFile(insightsAnnotationsPath(r.insights), "--report-insights", anns); err != nil {
			return err
		}
		if r.publish {
			proxy := cmp.Or(a.getenv("SPANGATE_BITBUCKET_PROXY"), bitbucket.StepProxy)
			pub, err := bitbucket.NewPublisher(proxy, cmp.Or(a.getenv("SPANGATE_BITBUCKET_API"), bitbucket.API))
			if err != nil {
				return err
			}
			if err := pub.Publish(ctx, a.getenv("BITBUCKET_REPO_FULL_NAME"), a.getenv("BITBUCKET_COMMIT"), rep, anns); err != nil {
				return err
			}
			a.logger.Info("published the Code Insights report", "annotations", len(anns))
		}
	}
	if r.sarif != "" {
		if err := writeJSONFile(r.sarif, "--report-sarif", sarif()); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONFile(file, flag string, v any) error {
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		return spangate.Errorf(spangate.Internal, "%s: encode: %w", flag, err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return spangate.Errorf(spangate.Invalid, "%s: %w", flag, err).
			WithHint("give a writable path, for example " + flag + " spangate-report.json in the build directory")
	}
	return nil
}

// logGroup folds a command's log lines in CI systems that support it:
// GitHub Actions' ::group:: and ::endgroup:: workflow commands, GitLab CI's
// collapsible section markers. Elsewhere it writes nothing.
type logGroup struct {
	w     io.Writer
	ci    string
	name  string
	now   func() time.Time
	open  bool
	title string
}

// startLogGroup opens a group titled title on w for the CI system ci
// ("github", "gitlab" or anything else for none).
func startLogGroup(w io.Writer, ci, name, title string, now func() time.Time) *logGroup {
	g := &logGroup{w: w, ci: ci, name: name, now: now, title: title}
	switch ci {
	case "github":
		fmt.Fprintf(w, "::group::%s\n", title)
	case "gitlab":
		// \e[0K clears the line GitLab's log viewer replaces by the header.
		fmt.Fprintf(w, "\x1b[0Ksection_start:%d:%s[collapsed=false]\r\x1b[0K%s\n", now().Unix(), name, title)
	default:
		return g
	}
	g.open = true
	return g
}

// end closes the group, once.
func (g *logGroup) end() {
	if g == nil || !g.open {
		return
	}
	g.open = false
	switch g.ci {
	case "github":
		fmt.Fprintln(g.w, "::endgroup::")
	case "gitlab":
		fmt.Fprintf(g.w, "\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", g.now().Unix(), g.name)
	}
}
