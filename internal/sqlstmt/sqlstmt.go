// Package sqlstmt splits Spanner SQL text into statements and classifies each
// one with a real GoogleSQL parser (memefish): DDL, DML or query, the table it
// targets, whether it is destructive, and the spangate directives written in
// the comments before it.
//
// Nothing here uses regular expressions on SQL. Semicolons, comments and
// quotes are handled by memefish's lexer, so a `;` or `--` inside a string
// literal or a backquoted name never splits or hides a statement.
package sqlstmt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudspannerecosystem/memefish"
	"github.com/cloudspannerecosystem/memefish/ast"
	"github.com/cloudspannerecosystem/memefish/token"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/suggest"
)

// Kind is the class of a statement.
type Kind int

// The statement kinds.
const (
	// DDL changes the schema; it goes to UpdateDatabaseDdl.
	DDL Kind = iota + 1
	// DML is INSERT, UPDATE or DELETE; it runs in a read-write transaction
	// or, when marked, as Partitioned DML.
	DML
	// Query is a SELECT (or GQL graph query).
	Query
)

// String returns "ddl", "dml" or "query".
func (k Kind) String() string {
	switch k {
	case DDL:
		return "ddl"
	case DML:
		return "dml"
	case Query:
		return "query"
	}
	return "unknown"
}

// Directive is a `-- spangate:NAME ARGS` comment written before a statement.
type Directive struct {
	// Name is the word after "spangate:", such as "partitioned".
	Name string
	// Args are the words after the name.
	Args []string
	// Line is the 1-based line of the comment.
	Line int
}

// Statement is one parsed statement.
type Statement struct {
	// Raw is the statement's text as written, comments included, without
	// the terminating semicolon.
	Raw string
	// SQL is the text to send to Spanner: the statement's tokens with every
	// comment removed and no trailing semicolon.
	SQL string
	// Kind is DDL, DML or Query.
	Kind Kind
	// Verb names the statement, such as "CREATE TABLE" or "UPDATE".
	Verb string
	// Table is the table the statement creates, alters, drops, indexes or
	// writes, or "" when it has none.
	Table string
	// Destructive is true for a statement that needs the destructive
	// right besides its own: DDL that is not on the allow-list of
	// additive changes, and DML that is not provably bounded (see
	// classify.go and docs/policy.md). An UPDATE or DELETE whose WHERE
	// may fix its table's key stays destructive until WithKeys says so.
	Destructive bool
	// DestructiveReason says why Destructive is set.
	DestructiveReason string
	// AllRows is true for an UPDATE or DELETE that changes every row (or
	// none): it has no WHERE, or its WHERE reads no column.
	AllRows bool
	// Protected names the spangate object (a Spangate* table, index,
	// view…) the statement names anywhere in it, or "" (see CheckCaller).
	Protected string
	// keyDependent: see KeyDependent.
	keyDependent bool
	// Directives are the spangate directives in the comments before the
	// statement.
	Directives []Directive
	// Line and Column locate the statement's first token (1-based).
	Line, Column int
	// EndLine is the line of the statement's last token.
	EndLine int
	// Node is the parsed statement.
	Node ast.Statement

	// params are the names of the statement's query parameters, found at
	// its parse (see Params).
	params      []string
	paramsKnown bool
}

// Partitioned reports whether the statement carries the
// `-- spangate:partitioned` directive.
func (s *Statement) Partitioned() bool { return s.HasDirective("partitioned") }

// HasDirective reports whether the statement carries the named directive.
func (s *Statement) HasDirective(name string) bool {
	for _, d := range s.Directives {
		if d.Name == name {
			return true
		}
	}
	return false
}

// RequiredActions returns the actions a principal needs to run the statement
// on its own (outside a migration): read for a query, write for DML, ddl for
// DDL, plus destructive for a destructive statement. A statement that names
// spangate's own objects (CheckCaller) needs an action no rule can grant,
// so it is always denied.
func (s *Statement) RequiredActions() []spangate.Action {
	var acts []spangate.Action
	if s.Protected != "" {
		return []spangate.Action{ActionSpangateOnly}
	}
	switch s.Kind {
	case Query:
		acts = append(acts, spangate.ActionRead)
	case DML:
		acts = append(acts, spangate.ActionWrite)
	case DDL:
		acts = append(acts, spangate.ActionDDL)
	}
	if s.Destructive {
		acts = append(acts, spangate.ActionDestructive)
	}
	return acts
}

// SyntaxError is a statement that does not parse, located in its file.
type SyntaxError struct {
	File         string
	Line, Column int
	Message      string
}

// Error returns "file:line:col: message".
func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
}

// SyntaxErrors lists every syntax error found in one text.
type SyntaxErrors []*SyntaxError

// Error returns every error, one per line.
func (list SyntaxErrors) Error() string {
	msgs := make([]string, len(list))
	for i, e := range list {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Parse splits text into statements and parses each one. file names the
// source in errors and may be empty.
//
// Statements that parse are returned even when others do not; the error,
// if any, is a SyntaxErrors listing every statement that failed (wrapped in
// a *spangate.Error of kind Invalid). Empty statements (only comments or
// whitespace) are dropped; a directive with no statement after it is an
// error.
func Parse(file, text string) (stmts []Statement, err error) {
	// memefish can panic while it formats an error for some malformed
	// input (an escape at the end of a string literal, say). Turn that into
	// a syntax error rather than crashing the caller.
	defer func() {
		if r := recover(); r != nil {
			stmts = nil
			err = spangate.Errorf(spangate.Invalid, "%w", SyntaxErrors{{File: file, Line: 1, Column: 1,
				Message: fmt.Sprintf("the SQL lexer could not read this text (%v); look for an unterminated string, quoted name or escape", r)}})
		}
	}()
	text = strings.TrimPrefix(text, "\uFEFF")
	src := &token.File{FilePath: file, Buffer: text}
	raws, err := memefish.SplitRawStatements(file, text)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%w", toSyntaxErrors(src, 0, -1, err))
	}
	var errs SyntaxErrors
	for _, raw := range raws {
		st, serr := parseOne(src, raw)
		if serr != nil {
			errs = append(errs, serr...)
			continue
		}
		if st != nil {
			stmts = append(stmts, *st)
		}
	}
	if len(errs) > 0 {
		return stmts, spangate.Errorf(spangate.Invalid, "%w", errs)
	}
	return stmts, nil
}

// ParseOne parses text that must hold exactly one statement. More than one
// statement is refused, so a second statement cannot be smuggled behind a
// first.
func ParseOne(text string) (Statement, error) {
	stmts, err := Parse("", text)
	if err != nil {
		return Statement{}, err
	}
	switch len(stmts) {
	case 0:
		return Statement{}, spangate.Errorf(spangate.Invalid, "no SQL statement given").
			WithHint("pass one statement, for example: SELECT 1")
	case 1:
		return stmts[0], nil
	default:
		return Statement{}, spangate.Errorf(spangate.Invalid, "%d statements given where exactly one is allowed (second one at line %d)", len(stmts), stmts[1].Line).
			WithHint("send each statement in its own request")
	}
}

// parseOne lexes and parses one raw statement. It returns nil, nil for an
// empty statement.
func parseOne(src *token.File, raw *memefish.RawStatement) (*Statement, SyntaxErrors) {
	base := int(raw.Pos)
	lex := &memefish.Lexer{File: &token.File{FilePath: src.FilePath, Buffer: raw.Statement}}
	var (
		sql        strings.Builder
		directives []Directive
		first      = true
		firstPos   token.Pos
		lastEnd    token.Pos
		// protectedIdent is the first identifier token that names a
		// spangate object (see protect.go).
		protectedIdent string
	)
	for {
		if err := lex.NextToken(); err != nil {
			return nil, toSyntaxErrors(src, base, -1, err)
		}
		tok := lex.Token
		if first {
			for _, c := range tok.Comments {
				if d, ok := parseDirective(c.Raw); ok {
					d.Line = lineOf(src, base+int(c.Pos))
					directives = append(directives, d)
				}
			}
		}
		if tok.Kind == token.TokenEOF {
			break
		}
		if tok.Kind == token.TokenIdent && protectedIdent == "" && IsProtectedName(tok.AsString) {
			protectedIdent = tok.AsString
		}
		if first {
			firstPos = tok.Pos
			first = false
		} else {
			sql.WriteString(separator(tok))
		}
		sql.WriteString(tok.Raw)
		lastEnd = tok.End
	}
	if first {
		if len(directives) > 0 {
			d := directives[0]
			return nil, SyntaxErrors{{File: src.FilePath, Line: d.Line, Column: 1,
				Message: fmt.Sprintf("directive spangate:%s is not followed by a statement", d.Name)}}
		}
		return nil, nil
	}
	text := sql.String()
	node, err := memefish.ParseStatement(src.FilePath, text)
	if err != nil {
		// Parse the comment-free text, but report positions in the
		// original file: re-parse the raw text for the positions.
		if _, rawErr := memefish.ParseStatement(src.FilePath, raw.Statement); rawErr != nil {
			return nil, toSyntaxErrors(src, base, base+int(firstPos), rawErr)
		}
		return nil, toSyntaxErrors(src, base+int(firstPos), base+int(firstPos), err)
	}
	line, col := resolve(src, base+int(firstPos))
	endLine, _ := resolve(src, base+int(lastEnd))
	st := &Statement{
		Raw:        raw.Statement,
		SQL:        text,
		Directives: directives,
		Line:       line,
		Column:     col,
		EndLine:    endLine,
		Node:       node,
	}
	if serr := classify(st); serr != "" {
		return nil, SyntaxErrors{{File: src.FilePath, Line: line, Column: col, Message: serr}}
	}
	if st.Protected == "" {
		st.Protected = protectedIdent
	}
	st.params, st.paramsKnown = paramNames(node), true
	return st, nil
}

// separator returns what stands between the previous token and tok once
// comments are removed: the original whitespace when the gap held no
// comment; otherwise a newline if the gap held one, else a space.
func separator(tok token.Token) string {
	if len(tok.Comments) == 0 {
		return tok.Space
	}
	gap := tok.Space
	for _, c := range tok.Comments {
		gap += c.Space + c.Raw
	}
	switch {
	case gap == "":
		return ""
	case strings.ContainsAny(gap, "\n\r"):
		return "\n"
	default:
		return " "
	}
}

// parseDirective recognises `-- spangate:NAME ARGS`, `# spangate:…` and
// `/* spangate:… */`.
func parseDirective(comment string) (Directive, bool) {
	body := comment
	switch {
	case strings.HasPrefix(body, "--"):
		body = body[2:]
	case strings.HasPrefix(body, "#"):
		body = body[1:]
	case strings.HasPrefix(body, "/*"):
		body = strings.TrimSuffix(body[2:], "*/")
	default:
		return Directive{}, false
	}
	body = strings.TrimSpace(body)
	rest, ok := strings.CutPrefix(body, "spangate:")
	if !ok {
		return Directive{}, false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return Directive{Name: ""}, true
	}
	return Directive{Name: strings.ToLower(fields[0]), Args: fields[1:]}, true
}

func resolve(src *token.File, offset int) (line, col int) {
	l, c := src.ResolvePos(token.Pos(offset))
	return l + 1, c + 1
}

func lineOf(src *token.File, offset int) int {
	l, _ := resolve(src, offset)
	return l
}

// toSyntaxErrors converts memefish errors found in a substring starting at
// base into errors located in the whole file. first is the offset of the
// statement's first token, or -1 when not known.
func toSyntaxErrors(src *token.File, base, first int, err error) SyntaxErrors {
	var multi memefish.MultiError
	if errors.As(err, &multi) {
		out := make(SyntaxErrors, 0, len(multi))
		for _, e := range multi {
			out = append(out, locate(src, base, first, e))
		}
		return out
	}
	var single *memefish.Error
	if errors.As(err, &single) {
		return SyntaxErrors{locate(src, base, first, single)}
	}
	line, col := resolve(src, base)
	return SyntaxErrors{{File: src.FilePath, Line: line, Column: col, Message: err.Error()}}
}

func locate(src *token.File, base, first int, e *memefish.Error) *SyntaxError {
	off := base
	if e.Position != nil {
		off += int(e.Position.Pos)
	}
	line, col := resolve(src, off)
	return &SyntaxError{File: src.FilePath, Line: line, Column: col, Message: explain(e.Message, src.Buffer, off, off == first)}
}

// statementStarts are the words a statement spangate runs starts with.
var statementStarts = []string{"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "GRANT", "REVOKE", "ANALYZE", "GRAPH"}

// explain rewrites the parser's messages that name only a class of token
// (`unexpected token: <ident>`) into ones that say what was found and what
// was expected, and explains the WHERE that Spanner requires.
func explain(msg, text string, off int, first bool) string {
	found := tokenAt(text, off)
	switch {
	case strings.Contains(msg, "expected token: WHERE"):
		return "Spanner requires a WHERE clause in every UPDATE and DELETE: name the rows to change (WHERE Id = @id). " +
			"To change every row, write WHERE true, which needs the destructive right"
	case first && strings.HasPrefix(msg, "unexpected token") && found != "":
		m := fmt.Sprintf("%q does not start a statement; expected one of %s", found, strings.Join(statementStarts, ", "))
		if near := suggest.Nearest(strings.ToUpper(found), statementStarts); near != "" {
			m += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return m
	case strings.HasPrefix(msg, "unexpected token") && found != "":
		return fmt.Sprintf("unexpected %q here", found)
	case strings.Contains(msg, "but: <eof>"):
		return strings.ReplaceAll(msg, "but: <eof>", "but the statement ends")
	case msg == "unexpected token: <eof>":
		return "the statement ends too early: something is missing at its end"
	}
	if i := strings.Index(msg, "but: "); i >= 0 && found != "" {
		return msg[:i] + fmt.Sprintf("but found %q", found)
	}
	return msg
}

// tokenAt returns the text of the token at off, at most 40 bytes of it.
func tokenAt(text string, off int) (raw string) {
	if off < 0 || off >= len(text) {
		return ""
	}
	defer func() {
		if recover() != nil {
			raw = ""
		}
	}()
	lex := &memefish.Lexer{File: &token.File{Buffer: text[off:]}}
	if lex.NextToken() != nil || lex.Token.Kind == token.TokenEOF {
		return ""
	}
	raw = lex.Token.Raw
	if len(raw) > 40 {
		raw = raw[:40] + "…"
	}
	return raw
}

// classify fills Kind, Verb, Table, Protected and the destructive
// classification from the parsed node. It returns a message for statements
// spangate does not run.
func classify(st *Statement) string {
	st.Verb = verbOf(st.Node)
	st.Protected = protectedName(st.Node)
	switch n := st.Node.(type) {
	case *ast.BadStatement, *ast.BadDDL, *ast.BadDML:
		return "statement could not be parsed"
	case *ast.QueryStatement, *ast.GQLGraphQuery:
		st.Kind = Query
	case ast.DML:
		st.Kind = DML
		classifyDML(st, n)
	case ast.DDL:
		st.Kind = DDL
		st.Table = ddlTable(n)
		if reason := ddlDestructive(n); reason != "" {
			st.Destructive, st.DestructiveReason = true, reason
		}
		if name := forAllTables(n); name != "" && st.Protected == "" {
			st.Protected = name
		}
	default:
		return fmt.Sprintf("%s statements are not supported", st.Verb)
	}
	return ""
}

// ddlTable returns the table a DDL statement is about, if any.
func ddlTable(n ast.DDL) string {
	switch n := n.(type) {
	case *ast.CreateTable:
		return Name(n.Name)
	case *ast.AlterTable:
		return Name(n.Name)
	case *ast.DropTable:
		return Name(n.Name)
	case *ast.CreateIndex:
		return Name(n.TableName)
	case *ast.CreateSearchIndex:
		return Name(n.TableName)
	case *ast.CreateVectorIndex:
		return Name(n.TableName)
	}
	return ""
}

// VerbOf names a statement from its node type: *ast.CreateChangeStream
// becomes "CREATE CHANGE STREAM", *ast.QueryStatement "SELECT".
func VerbOf(n ast.Statement) string { return verbOf(n) }

func verbOf(n ast.Statement) string {
	switch n.(type) {
	case *ast.QueryStatement:
		return "SELECT"
	case *ast.GQLGraphQuery:
		return "GRAPH QUERY"
	case nil:
		return ""
	}
	return words(n)
}

// Name returns the name a path or identifier node spells, with the parts
// of a schema-qualified name joined by dots ("" for anything else). memefish
// models some names as *ast.Path and others as *ast.Ident.
func Name(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Path:
		if n == nil {
			return ""
		}
		parts := make([]string, len(n.Idents))
		for i, id := range n.Idents {
			parts[i] = id.Name
		}
		return strings.Join(parts, ".")
	case *ast.Ident:
		if n == nil {
			return ""
		}
		return n.Name
	}
	return ""
}
