// Package finding is the one shape of what spangate's checks report: a
// problem or remark with its severity and rule, located at a file and line.
// Migration plans (lint, drift, file problems) and `spangate scan` report
// findings, and internal/cireport turns any list of them into Bitbucket Code
// Insights and SARIF.
package finding

import (
	"cmp"
	"slices"

	"github.com/spangate/spangate"
)

// Severity ranks a finding.
type Severity string

// The severities. Errors block (a plan, a scan); warnings and remarks do not.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one problem or remark, located in a file.
type Finding struct {
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Message  string   `json:"message"`
	// Fingerprint names a secret without revealing it (sha256:…), for
	// secret findings.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Blocks is the exit class of an error finding of a migration plan:
	// Invalid (the input is wrong, exit 2) or Blocked (the plan refuses,
	// exit 4).
	Blocks spangate.Kind `json:"-"`
}

// rank orders severities from the most to the least serious.
func rank(s Severity) int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	default:
		return 2
	}
}

// Sorted returns a copy of fs, errors first, then by file and line (a
// stable sort: findings at one line keep their order), so that reports are
// stable and the most important survive truncation.
func Sorted(fs []Finding) []Finding {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(rank(a.Severity), rank(b.Severity)), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return out
}

// Count returns the numbers of errors and warnings in fs.
func Count(fs []Finding) (errors, warnings int) {
	for _, f := range fs {
		switch f.Severity {
		case SeverityError:
			errors++
		case SeverityWarning:
			warnings++
		}
	}
	return errors, warnings
}
