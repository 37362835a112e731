package sqlstmt

import (
	"fmt"
	"strings"

	"github.com/cloudspannerecosystem/memefish"
	"github.com/cloudspannerecosystem/memefish/token"
)

// Limits bound what the parser is given. memefish's work grows faster than
// the text with nesting (parentheses it may read as a subquery or as an
// expression, CASE inside CASE): 8,000 parentheses take seconds and
// 100,000 take minutes, and the parse cannot be cancelled. CheckLimits
// measures a text in one linear pass of the lexer, so a caller refuses an
// oversized or too deeply nested text before Parse sees it.
//
// The zero value of a field means no limit on it.
type Limits struct {
	// MaxStatementBytes bounds the length of one statement, from its first
	// token to the semicolon or the end of the text, comments included.
	MaxStatementBytes int
	// MaxDepth bounds nesting: open parentheses, brackets and braces, and
	// CASE expressions, counted together at any point of a statement.
	MaxDepth int
}

// LimitError is a text over one of its Limits. The gateway names its
// config key in the message it gives.
type LimitError struct {
	// Limit is "statement_bytes" or "depth".
	Limit string
	// Max is the limit, Got what the text has (for depth, the first
	// depth over the limit: the scan stops there).
	Max, Got int
	// Line is the 1-based line of the statement (for depth, of the token
	// where the limit was passed).
	Line int
}

// The limits a LimitError names.
const (
	LimitStatementBytes = "statement_bytes"
	LimitDepth          = "depth"
)

// Error says which limit was passed, where and by how much.
func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitDepth:
		return fmt.Sprintf("line %d: the statement nests parentheses, brackets or CASE expressions more than %d deep", e.Line, e.Max)
	default:
		return fmt.Sprintf("line %d: the statement is %d bytes long, more than the limit of %d bytes", e.Line, e.Got, e.Max)
	}
}

// openers counts what could open a nesting level anywhere in text,
// strings and comments included: the bytes (, [ and {, and the letters
// "case" in any case. Depth never exceeds it.
func openers(text string) int {
	n := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '(', '[', '{':
			n++
		case 'c', 'C':
			if i+4 <= len(text) && strings.EqualFold(text[i:i+4], "case") {
				n++
			}
		}
	}
	return n
}

// CheckLimits scans text once with memefish's lexer, without parsing, and
// returns a *LimitError for the first statement over l, or nil. Its work
// is linear in the length of text. A text the lexer cannot read (an
// unterminated string, say) is checked up to that point; the parser then
// reports the error itself, which it finds without reading further.
func CheckLimits(text string, l Limits) (err error) {
	if l.MaxStatementBytes <= 0 && l.MaxDepth <= 0 {
		return nil
	}
	if (l.MaxStatementBytes <= 0 || len(text) <= l.MaxStatementBytes) && (l.MaxDepth <= 0 || openers(text) <= l.MaxDepth) {
		// No statement can be longer than the whole text, nor nest deeper
		// than the text has openers: no need to lex.
		return nil
	}
	src := &token.File{Buffer: text}
	lex := &memefish.Lexer{File: src}
	defer func() {
		// The lexer panics on a few malformed inputs; Parse turns those
		// into syntax errors, so a limit that was not passed before the
		// panic is not an error here.
		if r := recover(); r != nil {
			err = nil
		}
	}()
	start := -1 // offset of the statement's first token
	depth := 0
	line := func(pos token.Pos) int {
		n, _ := src.ResolvePos(pos)
		return n + 1
	}
	tooLong := func(end token.Pos) error {
		if start >= 0 && l.MaxStatementBytes > 0 && int(end)-start > l.MaxStatementBytes {
			return &LimitError{Limit: LimitStatementBytes, Max: l.MaxStatementBytes, Got: int(end) - start, Line: line(token.Pos(start))}
		}
		return nil
	}
	for {
		if lex.NextToken() != nil {
			return nil
		}
		tok := &lex.Token
		if tok.Kind == token.TokenEOF {
			return tooLong(token.Pos(len(text)))
		}
		if start < 0 {
			start = int(tok.Pos)
			if len(tok.Comments) > 0 {
				start = int(tok.Comments[0].Pos)
			}
		}
		if err := tooLong(tok.End); err != nil {
			return err
		}
		switch tok.Kind {
		case "(", "[", "{", "CASE":
			depth++
			if l.MaxDepth > 0 && depth > l.MaxDepth {
				return &LimitError{Limit: LimitDepth, Max: l.MaxDepth, Got: depth, Line: line(tok.Pos)}
			}
		case ")", "]", "}", "END":
			depth = max(0, depth-1)
		case ";":
			start, depth = -1, 0
		}
	}
}
