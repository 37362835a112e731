package migration

import (
	"fmt"
	"strings"

	"github.com/cloudspannerecosystem/memefish"
	"github.com/cloudspannerecosystem/memefish/token"

	"github.com/spangate/spangate"
)

// Rules of findings about client commands in migration files.
const (
	RuleClientCommand   = "client-command"
	RuleProtoDescriptor = "proto-descriptors"
)

// clientCommands finds the statements of a file that are commands of a
// client (the Spanner JDBC driver's, which Liquibase changesets carry), not
// SQL Spanner runs: START BATCH DDL, RUN BATCH and ABORT BATCH, which
// spangate does not need since it batches DDL itself, and SET
// PROTO_DESCRIPTORS, which it refuses in favour of the proto-descriptors
// directive. It returns the text with the batch commands blanked out
// (newlines kept, so lines stay where they were) and findings for each.
// It reads tokens with memefish's lexer; text the lexer cannot read is
// returned unchanged, for the parser to report.
func clientCommands(name, text string) (string, []Finding) {
	raws, err := memefish.SplitRawStatements(name, text)
	if err != nil {
		return text, nil
	}
	var (
		findings []Finding
		out      []byte
	)
	for _, raw := range raws {
		words, firstPos, ok := leadingWords(name, raw.Statement, 3)
		if !ok || len(words) == 0 {
			continue
		}
		line := 1 + strings.Count(text[:int(raw.Pos)+firstPos], "\n")
		cmd := strings.Join(words, " ")
		switch {
		case cmd == "START BATCH DDL" && len(words) == 3, cmd == "RUN BATCH" && len(words) == 2, cmd == "ABORT BATCH" && len(words) == 2:
			findings = append(findings, Finding{Severity: SeverityInfo, Rule: RuleClientCommand, File: name, Line: line,
				Message: fmt.Sprintf("%s is a command of the Spanner JDBC driver, not SQL; spangate batches DDL by itself, so it is ignored", cmd)})
			if out == nil {
				out = []byte(text)
			}
			blank(out[raw.Pos:raw.End])
		case len(words) >= 2 && words[0] == "SET" && words[1] == "PROTO_DESCRIPTORS":
			findings = append(findings, Finding{Severity: SeverityError, Rule: RuleProtoDescriptor, File: name, Line: line, Blocks: spangate.Invalid,
				Message: "SET PROTO_DESCRIPTORS is a command of the Spanner JDBC driver, not SQL; spangate takes the descriptors from a file: " +
					"write `-- spangate:proto-descriptors PATH` (a serialized FileDescriptorSet, relative to the migrations directory) above the proto bundle statement, " +
					"or pass migrate apply --proto-descriptors FILE, and remove this statement"})
		}
	}
	if out == nil {
		return text, findings
	}
	return string(out), findings
}

// leadingWords returns up to n+1 upper-cased tokens of stmt (comments
// skipped) and the offset of the first; ok is false if the lexer fails.
func leadingWords(name, stmt string, n int) (words []string, firstPos int, ok bool) {
	lex := &memefish.Lexer{File: &token.File{FilePath: name, Buffer: stmt}}
	for len(words) <= n {
		if err := lex.NextToken(); err != nil {
			return nil, 0, false
		}
		if lex.Token.Kind == token.TokenEOF {
			break
		}
		if len(words) == 0 {
			firstPos = int(lex.Token.Pos)
		}
		words = append(words, strings.ToUpper(lex.Token.Raw))
	}
	return words, firstPos, true
}

// blank replaces every byte but newlines with a space.
func blank(b []byte) {
	for i, c := range b {
		if c != '\n' {
			b[i] = ' '
		}
	}
}
