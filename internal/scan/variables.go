package scan

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scanVariables checks an exported variable list: KEY=VALUE lines
// (dotenv style: # comments, an optional export, quoted values) or a JSON
// array of {"key", "value", "secured"} objects as Bitbucket's pipeline
// variables API returns them (secured values are not returned, so only
// their names can be judged).
func scanVariables(src Source) []Finding {
	trimmed := bytes.TrimSpace(src.Content)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var doc yaml.Node // YAML reads JSON and keeps each value's line
		if err := yaml.Unmarshal(trimmed, &doc); err != nil {
			return []Finding{{Severity: SeverityWarning, Rule: "unreadable", File: src.Name, Line: 1,
				Message: "not a JSON array of {key, value} variables: " + err.Error()}}
		}
		// Lines are relative to the trimmed content.
		offset := bytes.Count(src.Content[:bytes.Index(src.Content, trimmed[:1])], []byte("\n"))
		var out []Finding
		for _, it := range items(resolve(&doc)) {
			key := scalar(get(it, "key"))
			v := get(it, "value")
			line := it.Line + offset
			if v != nil {
				line = v.Line + offset
			}
			out = append(out, variableFindings(src.Name, key, scalar(v), v == nil || truthy(get(it, "secured")), line)...)
		}
		return out
	}
	var out []Finding
	for i, raw := range strings.Split(string(src.Content), "\n") {
		l := strings.TrimSpace(raw)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		l = strings.TrimPrefix(l, "export ")
		key, val, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
			val = strings.ReplaceAll(val, `\n`, "\n")
		}
		out = append(out, variableFindings(src.Name, strings.TrimSpace(key), val, false, i+1)...)
	}
	return out
}

func variableFindings(file, key, value string, hidden bool, line int) []Finding {
	found := findSecretsInValue(value)
	if len(found) > 0 {
		fs := toFindings(file, value, line, found)
		for i := range fs {
			fs[i].Message = fmt.Sprintf("variable %s holds %s", key, strings.TrimPrefix(fs[i].Message, ""))
		}
		return fs
	}
	if suspectVariableName(key) {
		state := "its value"
		if hidden {
			state = "its secured value, which the export does not show,"
		}
		return []Finding{{Severity: SeverityWarning, Rule: RuleSuspectVariable, File: file, Line: line,
			Message: fmt.Sprintf("variable %s is named like a Google key; check %s and replace it with the pipeline's OIDC identity", key, state)}}
	}
	return nil
}
