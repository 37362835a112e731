package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spangate/spangate"
)

// Position is a place in a config file. Line and Column are 1-based; zero
// means unknown.
type Position struct {
	File   string
	Line   int
	Column int
}

// String formats p as file:line or file:line:column, leaving out what is
// unknown.
func (p Position) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	return b.String()
}

// Problem is one thing wrong with a config: where, which field, and what to
// do about it.
type Problem struct {
	// Pos is where the problem is in the file.
	Pos Position
	// Path is the field path, such as rules[1].allow[0].
	Path string
	// Message says what is wrong and, where possible, how to fix it.
	Message string
}

// String formats the problem as "file:line: path: message".
func (p Problem) String() string {
	var parts []string
	if pos := p.Pos.String(); pos != "" {
		parts = append(parts, pos)
	}
	if p.Path != "" {
		parts = append(parts, p.Path)
	}
	parts = append(parts, p.Message)
	return strings.Join(parts, ": ")
}

// Problems is every problem found in a config. It is the cause wrapped by the
// *spangate.Error that Parse, Validate and Load return, so a caller can list
// the problems with errors.As.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil when there is no problem, and otherwise an *spangate.Error
// of kind Invalid that names file, counts the problems and lists them.
func (ps Problems) Err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	if file == "" {
		file = "config"
	}
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	return spangate.Errorf(spangate.Invalid, "%s: %d %s:\n%w", file, len(ps), noun, ps).
		WithHint("fix every problem listed, then run: spangate policy check --config " + file)
}

// Merge returns ps followed by the problems of more that are not at or
// under a path of ps, so a field that Parse could not decode is not also
// reported as missing by a later check.
func (ps Problems) Merge(more Problems) Problems {
	all := slices.Clone(ps)
	for _, m := range more {
		covered := false
		for _, p := range ps {
			if m.Path == p.Path || strings.HasPrefix(m.Path, p.Path+".") || strings.HasPrefix(m.Path, p.Path+"[") {
				covered = true
				break
			}
		}
		if !covered {
			all = append(all, m)
		}
	}
	return all
}

// location is what Parse remembers about the YAML node of a field path.
type location struct {
	line, column int
	// block is true for a literal block scalar (|), whose content starts on
	// the next line; lines counts its content lines and indent is the
	// indentation YAML removed from each.
	block  bool
	lines  int
	indent int
	// quoted is true for a single- or double-quoted scalar.
	quoted bool
	// value and segs map a folded (>) or multi-line plain scalar, whose
	// line breaks YAML turned into spaces, back to the file: each segment
	// is one line of the file and where its text starts in value.
	value string
	segs  []segment
}

// segment says that value[offset:] starts, in the file, at line and the
// 1-based column.
type segment struct {
	offset, line, column int
}

// Locate returns the file position of the field at path, such as
// rules[2].when. A path that was not read from a file (a config built in
// code, or a field missing from the file) is located at its nearest parent
// present in the file, or at the file alone.
func (c *Config) Locate(path string) Position {
	for p := path; ; {
		if loc, ok := c.nodes[p]; ok {
			return Position{File: c.file, Line: loc.line}
		}
		parent, ok := parentPath(p)
		if !ok {
			return Position{File: c.file}
		}
		p = parent
	}
}

// LocateIn returns the file position of a place inside the string value at
// path: line is 1-based and column 0-based within the value, as CEL reports
// them. Positions inside folded or multi-line flow scalars, whose line breaks
// the YAML parser removes, fall back to the position of the value.
func (c *Config) LocateIn(path string, line, column int) Position {
	loc, ok := c.nodes[path]
	if !ok {
		return c.Locate(path)
	}
	pos := Position{File: c.file, Line: loc.line, Column: loc.column}
	switch {
	case len(loc.segs) > 0:
		if off, ok := offsetIn(loc.value, line, column); ok {
			seg := loc.segs[0]
			for _, s := range loc.segs {
				if s.offset <= off {
					seg = s
				}
			}
			pos.Line, pos.Column = seg.line, seg.column+max(0, off-seg.offset)
		}
	case loc.block:
		if line >= 1 && line <= loc.lines {
			pos.Line = loc.line + line
			pos.Column = loc.indent + column + 1
		}
	case line == 1:
		pos.Column = loc.column + column
		if loc.quoted {
			pos.Column++
		}
	}
	return pos
}

// offsetIn returns the byte offset in value of the 1-based line and 0-based
// column.
func offsetIn(value string, line, column int) (int, bool) {
	if line < 1 || column < 0 {
		return 0, false
	}
	off := 0
	for range line - 1 {
		i := strings.IndexByte(value[off:], '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	return min(off+column, len(value)), true
}

// problem returns a Problem at path with a formatted message.
func (c *Config) problem(path, format string, args ...any) Problem {
	return Problem{Pos: c.Locate(path), Path: path, Message: fmt.Sprintf(format, args...)}
}

// parentPath returns the path one level up: rules[1].allow[0] → rules[1].allow
// → rules[1] → rules.
func parentPath(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i > 0 {
			return p[:i], true
		}
	}
	if i := strings.LastIndexByte(p, '.'); i > 0 {
		return p[:i], true
	}
	return "", true
}
