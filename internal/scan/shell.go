package scan

import (
	"path"
	"strings"
)

// SpangateCommands returns the arguments of each spangate invocation in a
// shell line: the words after the spangate program, quotes removed,
// variables not expanded. Commands are split at ;, &&, || and |; leading
// VAR=value assignments are skipped. The program may be named by a path
// ending in /spangate.
func SpangateCommands(line string) [][]string {
	var out [][]string
	for _, cmd := range splitCommands(Words(line)) {
		i := 0
		for i < len(cmd) && isAssignment(cmd[i]) {
			i++
		}
		if i < len(cmd) && path.Base(cmd[i]) == "spangate" {
			out = append(out, cmd[i+1:])
		}
	}
	return out
}

// Words splits a shell line into words: whitespace separates them, single
// and double quotes group, a backslash escapes the next character, # starts
// a comment, and the operators ; & | > < stand alone.
func Words(line string) []string {
	var (
		out    []string
		cur    strings.Builder
		inWord bool
		quote  byte
	)
	flush := func() {
		if inWord {
			out = append(out, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0 {
				i++
				cur.WriteByte(line[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return out
		case strings.IndexByte(";&|<>", c) >= 0:
			flush()
			op := string(c)
			if i+1 < len(line) && (line[i+1] == c || (c == '>' && line[i+1] == '&')) {
				op += string(line[i+1])
				i++
			}
			out = append(out, op)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return out
}

// splitCommands splits words at the command separators.
func splitCommands(words []string) [][]string {
	var (
		out [][]string
		cur []string
	)
	for _, w := range words {
		switch w {
		case ";", "&&", "||", "|", "&":
			out = append(out, cur)
			cur = nil
		default:
			cur = append(cur, w)
		}
	}
	return append(out, cur)
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
