package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spangate/spangate/internal/migration"
	"github.com/spangate/spangate/internal/schema"
)

func kindsString(ks []migration.StatementKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func writePlanText(w io.Writer, db string, p *migration.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Database: %s\n", db)
	fmt.Fprintf(&b, "Applied:  %d migration(s)\n", len(p.Applied))
	if len(p.Pending) == 0 {
		b.WriteString("Pending:  none\n")
	} else {
		fmt.Fprintf(&b, "Pending:  %d migration(s), %d statement(s), %d schema operation(s)\n", len(p.Pending), p.Statements, p.SchemaOperations)
		for _, pd := range p.Pending {
			resume := ""
			switch {
			case pd.InFlight != "":
				resume = fmt.Sprintf(", in flight up to statement %d (schema operation %s of an earlier run): apply re-attaches to it", pd.ResumeAt, pd.InFlight)
			case pd.ResumeAt > 0:
				resume = fmt.Sprintf(", resumes at statement %d", pd.ResumeAt+1)
			}
			fmt.Fprintf(&b, "  %s  %d statement(s): %s%s\n", pd.File.Base(), pd.Statements, kindsString(pd.Kinds), resume)
		}
		b.WriteString("Steps:\n")
		for i, s := range p.Steps {
			fmt.Fprintf(&b, "  %d. %s\n", i+1, stepLine(&s))
		}
	}
	if sc := p.SchemaChanges; sc != nil && !sc.Empty() {
		b.WriteString("Schema after apply:\n")
		for _, l := range schemaSummaryLines(sc) {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if len(p.Findings) > 0 {
		b.WriteString("Findings:\n")
		for _, f := range p.Findings {
			fmt.Fprintf(&b, "  %-7s %s:%d [%s] %s\n", f.Severity, f.File, f.Line, f.Rule, f.Message)
		}
	}
	if p.Blocked() {
		b.WriteString("Result:   BLOCKED: fix the errors above before applying.\n")
	} else if len(p.Pending) > 0 {
		b.WriteString("Result:   ready: spangate migrate apply\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stepLine(s *migration.Step) string {
	var files []string
	for _, p := range s.Parts {
		files = append(files, p.File.Base())
	}
	switch s.Kind {
	case migration.StepDDL:
		return fmt.Sprintf("schema operation: %d DDL statement(s), %d needing validation or backfill (%s)", s.Len(), s.Heavy, strings.Join(files, ", "))
	case migration.StepDML:
		return fmt.Sprintf("transaction: %d DML statement(s) with the history row (%s)", s.Len(), strings.Join(files, ", "))
	default:
		return fmt.Sprintf("Partitioned DML (%s)", strings.Join(files, ", "))
	}
}

func writePlanMarkdown(w io.Writer, db string, p *migration.Plan) error {
	var b strings.Builder
	status := "✅ ready to apply"
	if p.Blocked() {
		status = "⛔ blocked"
	} else if len(p.Pending) == 0 {
		status = "✅ up to date"
	}
	fmt.Fprintf(&b, "### spangate migration plan: %s\n\n", status)
	fmt.Fprintf(&b, "Database `%s`: %d applied, %d pending, **%d schema operation(s)**, %d statement(s).\n\n",
		db, len(p.Applied), len(p.Pending), p.SchemaOperations, p.Statements)
	if len(p.Pending) > 0 {
		b.WriteString("| Version | Name | Statements | Kinds |\n|---:|---|---:|---|\n")
		for _, pd := range p.Pending {
			name := mdEscape(pd.Name)
			if pd.InFlight != "" {
				name += " (in flight: apply re-attaches to `" + pd.InFlight + "`)"
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %s |\n", pd.Version, name, pd.Statements, kindsString(pd.Kinds))
		}
		b.WriteString("\n")
	}
	if sc := p.SchemaChanges; sc != nil && !sc.Empty() {
		b.WriteString("**Resulting schema**\n\n")
		for _, l := range schemaSummaryLines(sc) {
			fmt.Fprintf(&b, "- %s\n", mdEscape(l))
		}
		b.WriteString("\n")
	}
	if len(p.Findings) > 0 {
		b.WriteString("**Findings**\n\n")
		for _, f := range p.Findings {
			icon := "⚠️"
			if f.Severity == migration.SeverityError {
				icon = "❌"
			}
			fmt.Fprintf(&b, "- %s `%s:%d` **%s**: %s\n", icon, f.File, f.Line, f.Rule, mdEscape(f.Message))
		}
		b.WriteString("\n")
	}
	if len(p.Steps) > 0 {
		b.WriteString("<details><summary>Steps and statements</summary>\n\n")
		for i, s := range p.Steps {
			fmt.Fprintf(&b, "%d. %s\n\n```sql\n%s\n```\n\n", i+1, stepLine(&s), strings.Join(s.Statements(), ";\n"))
		}
		b.WriteString("</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;").Replace(s)
}

// schemaSummaryLines describes what the pending migrations change in the
// schema, one line per kind of change.
func schemaSummaryLines(sc *schema.Summary) []string {
	var lines []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			lines = append(lines, fmt.Sprintf("%s (%d): %s", what, len(names), abridge(names, 10)))
		}
	}
	add("tables added", sc.TablesAdded)
	add("tables changed", sc.TablesChanged)
	add("tables dropped", sc.TablesDropped)
	add("indexes added", sc.IndexesAdded)
	add("indexes changed", sc.IndexesChanged)
	add("indexes dropped", sc.IndexesDropped)
	add("other", sc.Other)
	return lines
}

func abridge(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … and %d more", len(names)-n)
}
