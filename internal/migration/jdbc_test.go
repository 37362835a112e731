package migration

import (
	"strings"
	"testing"
)

// FuzzClientCommands: whatever the text, blanking client commands keeps
// its length and every newline, so statements keep their lines, and
// leaves the text alone when it finds no batch command.
func FuzzClientCommands(f *testing.F) {
	for _, s := range []string{"START BATCH DDL;\nCREATE TABLE A (Id INT64) PRIMARY KEY (Id);\nRUN BATCH;",
		"abort batch", "SET PROTO_DESCRIPTORS = 'x';", "-- c\nstart batch ddl;", "'START BATCH DDL';", "\"unterminated"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		out, findings := clientCommands("f.sql", text)
		if len(out) != len(text) {
			t.Fatalf("length %d, want %d", len(out), len(text))
		}
		for i := range text {
			if (text[i] == '\n') != (out[i] == '\n') {
				t.Fatalf("newline moved at %d", i)
			}
		}
		blanked := false
		for _, fd := range findings {
			blanked = blanked || fd.Rule == RuleClientCommand
			if fd.Line < 1 || fd.Line > strings.Count(text, "\n")+1 {
				t.Fatalf("finding at line %d of a %d-line text", fd.Line, strings.Count(text, "\n")+1)
			}
		}
		if !blanked && out != text {
			t.Fatal("text changed without a batch command")
		}
	})
}
