// Package migration reads versioned migration files, checks them, and plans
// how to apply them to a Spanner database: which statements are pending,
// how they group into as few schema operations as Spanner allows, and what
// must block the run. It also runs that plan through the small storage
// interfaces declared in engine.go, which the Spanner adapter implements.
package migration

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/cloudspannerecosystem/memefish/ast"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/finding"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// StatementKind is how the engine runs one statement of a migration file.
type StatementKind string

// The statement kinds of a migration file, as reported in plans.
const (
	KindDDL            StatementKind = "ddl"
	KindDML            StatementKind = "dml"
	KindPartitionedDML StatementKind = "partitioned_dml"
)

// File is one migration file: its version, name, checksum and statements.
type File struct {
	// Version is the positive integer before the first underscore.
	Version int64
	// Name is the description after the underscore, without ".sql".
	Name string
	// Path is the file's path as it should appear in messages.
	Path string
	// Checksum is the hex SHA-256 of the file's bytes.
	Checksum string
	// Statements are the parsed statements, in order.
	Statements []sqlstmt.Statement
	// Content is the file's bytes (nil for a ChecksumOnly file).
	Content []byte
	// ChecksumOnly marks a file sent by name and checksum only, as the
	// CLI sends files already applied through a gateway; its statements
	// are those recorded in the history.
	ChecksumOnly bool
	// ProtoDescriptorsPath is the path the file's
	// `-- spangate:proto-descriptors PATH` directive names, relative to
	// the migrations directory, or "".
	ProtoDescriptorsPath string
	// ProtoDescriptors is the serialized FileDescriptorSet that batches
	// holding the file's proto bundle statements send; the checksum
	// covers it.
	ProtoDescriptors []byte
}

// HasProtoBundle reports whether the file creates or alters a proto
// bundle, which Spanner accepts only with descriptors.
func (f *File) HasProtoBundle() bool {
	for i := range f.Statements {
		if needsDescriptors(&f.Statements[i]) {
			return true
		}
	}
	return false
}

// needsDescriptors reports a statement Spanner accepts only with a
// FileDescriptorSet: CREATE or ALTER PROTO BUNDLE.
func needsDescriptors(st *sqlstmt.Statement) bool {
	switch st.Node.(type) {
	case *ast.CreateProtoBundle, *ast.AlterProtoBundle:
		return true
	}
	return false
}

// FileChecksum is the checksum of a migration file with the descriptors
// it sends (none: the SHA-256 of its bytes, as Checksum).
func FileChecksum(content, descriptors []byte) string {
	if len(descriptors) == 0 {
		return Checksum(content)
	}
	h := sha256.New()
	h.Write(content)
	h.Write([]byte("\x00proto-descriptors\x00"))
	h.Write(descriptors)
	return hex.EncodeToString(h.Sum(nil))
}

// LoadProtoDescriptors gives each file its descriptors: those its
// directive names, read with read (a path relative to the migrations
// directory), else defaults for a file with a proto bundle statement
// (migrate apply --proto-descriptors). Checksums then cover them.
func (s *Set) LoadProtoDescriptors(read func(path string) ([]byte, error), defaults []byte) error {
	for _, f := range s.Files {
		var b []byte
		switch {
		case f.ProtoDescriptorsPath != "":
			var err error
			if b, err = read(f.ProtoDescriptorsPath); err != nil {
				return spangate.Errorf(spangate.Invalid, "%s: read the proto descriptors %s: %w", f.Path, f.ProtoDescriptorsPath, err).
					WithHint("the path of -- spangate:proto-descriptors is relative to the migrations directory; build the file with protoc --include_imports --descriptor_set_out")
			}
		case len(defaults) > 0 && f.HasProtoBundle():
			b = defaults
		default:
			continue
		}
		f.ProtoDescriptors = b
		f.Checksum = FileChecksum(f.Content, b)
	}
	return nil
}

// AttachProtoDescriptors returns srcs with the descriptors of the set's
// files of the same names, for sending them through a gateway.
func (s *Set) AttachProtoDescriptors(srcs []Source) []Source {
	byPath := map[string][]byte{}
	for _, f := range s.Files {
		if f.ProtoDescriptors != nil {
			byPath[f.Path] = f.ProtoDescriptors
		}
	}
	out := make([]Source, len(srcs))
	for i, src := range srcs {
		out[i] = src
		if b, ok := byPath[src.Name]; ok {
			out[i].ProtoDescriptors = b
		}
	}
	return out
}

// Base returns the file's base name without ".sql", such as
// "0001_create_orders".
func (f *File) Base() string {
	return strings.TrimSuffix(path.Base(f.Path), ".sql")
}

// KindOf returns how statement i runs.
func (f *File) KindOf(i int) StatementKind {
	st := &f.Statements[i]
	switch {
	case st.Kind == sqlstmt.DDL:
		return KindDDL
	case st.Partitioned():
		return KindPartitionedDML
	default:
		return KindDML
	}
}

// Kinds lists the distinct statement kinds of the file in the order they
// first appear.
func (f *File) Kinds() []StatementKind {
	var kinds []StatementKind
	seen := map[StatementKind]bool{}
	for i := range f.Statements {
		k := f.KindOf(i)
		if !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// Severity and Finding are the findings every spangate check reports
// (internal/finding): a plan's findings and `spangate scan`'s are one type.
type (
	Severity = finding.Severity
	Finding  = finding.Finding
)

// The severities. Errors block plan and apply; warnings do not.
const (
	SeverityError   = finding.SeverityError
	SeverityWarning = finding.SeverityWarning
	SeverityInfo    = finding.SeverityInfo
)

// Rule identifiers of findings that migration files themselves produce.
const (
	RuleSyntax            = "syntax"
	RuleFileName          = "file-name"
	RuleDuplicateVersion  = "duplicate-version"
	RuleEmptyFile         = "empty-file"
	RuleQueryInMigration  = "query-in-migration"
	RulePartitionedInsert = "partitioned-dml-kind"
	RuleUnknownDirective  = "unknown-directive"
	RuleModified          = "modified-applied-file"
	RuleMissingFile       = "missing-applied-file"
	RuleOutOfOrder        = "out-of-order"
	RuleStatementCount    = "statement-count"
	RuleMixedNames        = "mixed-naming"
	RuleDownMigration     = "down-migration"
	RuleChecksumOnly      = "checksum-only"
	// RuleProtected is a statement that names one of spangate's own
	// objects (Spangate*): refused, whoever applies it.
	RuleProtected = "spangate-object"
)

// Set is the content of a migrations directory: the files that parsed, in
// version order, and the findings about all of them.
type Set struct {
	// Dir is the directory the files came from.
	Dir string
	// Files are the usable files, sorted by version.
	Files []*File
	// Findings are problems found while reading, most severe first.
	Findings []Finding
}

// Source is one migration file's name and content, as read from a
// directory or received by the gateway.
type Source struct {
	Name    string
	Content []byte
	// Checksum, set instead of Content, stands for a file already applied
	// (see File.ChecksumOnly).
	Checksum string
	// ProtoDescriptors are the file's descriptors, when sent with it.
	ProtoDescriptors []byte
}

// ReadDir reads every *.sql file of dir in fsys. Other files are ignored.
// A missing or unreadable directory, or one without migrations, is an error
// of kind Invalid; problems with single files become findings.
func ReadDir(fsys fs.FS, dir string) (*Set, error) {
	srcs, err := readSources(fsys, dir, dir)
	if err != nil {
		return nil, err
	}
	set := Parse(srcs)
	set.Dir = dir
	return set, nil
}

// ReadOSDir reads the migrations in the operating system directory dir;
// messages name the files as dir/<file>.
func ReadOSDir(dir string) (*Set, error) {
	srcs, err := ReadOSSources(dir)
	if err != nil {
		return nil, err
	}
	set := Parse(srcs)
	set.Dir = dir
	return set, nil
}

// ReadOSSources reads the *.sql files of the operating system directory
// dir, named dir/<file>, without parsing them.
func ReadOSSources(dir string) ([]Source, error) {
	return readSources(os.DirFS(dir), ".", dir)
}

// readSources reads the *.sql files of dir in fsys and names them
// display/<file>.
func readSources(fsys fs.FS, dir, display string) ([]Source, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, spangate.Errorf(spangate.Invalid, "migrations directory %s does not exist", display).
				WithHint("create it with a first file such as " + path.Join(display, "0001_init.sql") + ", or pass --dir")
		}
		return nil, spangate.Errorf(spangate.Invalid, "read migrations directory %s: %w", display, err)
	}
	var sources []Source
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(e.Name()), ".sql") {
			continue
		}
		shown := path.Join(display, e.Name())
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "read migration %s: %w", shown, err)
		}
		sources = append(sources, Source{Name: shown, Content: b})
	}
	if len(sources) == 0 {
		return nil, spangate.Errorf(spangate.Invalid, "no migration files (*.sql) in %s", display).
			WithHint("add files named <version>_<description>.sql, for example " + path.Join(display, "0001_create_orders.sql"))
	}
	return sources, nil
}

// Parse parses migration sources (name and content). Names may include a
// directory; only the base name must follow one of the naming conventions
// (see ParseFileName), and all files of one set the same one.
func Parse(sources []Source) *Set {
	set := &Set{}
	byVersion := map[int64]*File{}
	firstOf := map[Convention]string{} // convention → first file named so
	var conventions []Convention
	for _, src := range sources {
		base := path.Base(strings.ReplaceAll(src.Name, "\\", "/"))
		if fn, err := ParseFileName(base); err == nil {
			if _, seen := firstOf[fn.Convention]; !seen {
				firstOf[fn.Convention] = src.Name
				conventions = append(conventions, fn.Convention)
			}
			if fn.Down {
				set.Findings = append(set.Findings, Finding{Severity: SeverityInfo, Rule: RuleDownMigration, File: src.Name, Line: 1,
					Message: fmt.Sprintf("%s is a golang-migrate down migration: spangate applies only up migrations, so it is not applied (keep it for a manual rollback, or delete it)", base)})
				continue
			}
		}
		f, findings := parseFile(src)
		set.Findings = append(set.Findings, findings...)
		if f == nil {
			continue
		}
		if prev, dup := byVersion[f.Version]; dup {
			set.Findings = append(set.Findings, Finding{
				Severity: SeverityError, Rule: RuleDuplicateVersion, File: f.Path, Line: 1, Blocks: spangate.Invalid,
				Message: fmt.Sprintf("version %d is used by both %s and %s; give each file its own version", f.Version, prev.Path, f.Path),
			})
			continue
		}
		byVersion[f.Version] = f
		set.Files = append(set.Files, f)
	}
	if len(conventions) > 1 {
		a, b := conventions[0], conventions[1]
		set.Findings = append(set.Findings, Finding{Severity: SeverityError, Rule: RuleMixedNames, File: firstOf[b], Line: 1, Blocks: spangate.Invalid,
			Message: fmt.Sprintf("the directory mixes file naming conventions: %s is named the %s way (%s) and %s the %s way (%s); rename the files so that all follow one convention",
				path.Base(firstOf[a]), a, a.pattern(), path.Base(firstOf[b]), b, b.pattern())})
	}
	sort.Slice(set.Files, func(i, j int) bool { return set.Files[i].Version < set.Files[j].Version })
	sortFindings(set.Findings)
	return set
}

// Convention is a way of naming migration files.
type Convention string

// The naming conventions spangate reads. ConventionSpangate is the
// documented default; the others are those of wrench and golang-migrate,
// read as they are so that their histories move over without renaming.
const (
	// ConventionSpangate: <version>_<description>.sql, 0001_create_orders.sql.
	ConventionSpangate Convention = "spangate"
	// ConventionWrench: <version>.sql, 000001.sql (wrench create's names).
	ConventionWrench Convention = "wrench"
	// ConventionGolangMigrate: <version>_<description>.up.sql and
	// .down.sql; down migrations are not applied.
	ConventionGolangMigrate Convention = "golang-migrate"
)

func (c Convention) pattern() string {
	switch c {
	case ConventionWrench:
		return "<version>.sql"
	case ConventionGolangMigrate:
		return "<version>_<description>.up.sql / .down.sql"
	}
	return "<version>_<description>.sql"
}

// FileName is what a migration file's base name says.
type FileName struct {
	Version int64
	// Description is the part after the version ("" for wrench names).
	Description string
	Convention  Convention
	// Down marks a golang-migrate down migration, which is not applied.
	Down bool
}

// ParseFileName reads a migration file's base name in any convention:
// "0042_add_orders.sql" (spangate), "000042.sql" (wrench),
// "42_add_orders.up.sql" or "42_add_orders.down.sql" (golang-migrate).
func ParseFileName(base string) (FileName, error) {
	stem, ok := strings.CutSuffix(base, ".sql")
	if !ok {
		return FileName{}, fmt.Errorf("%q does not end in .sql", base)
	}
	fn := FileName{Convention: ConventionSpangate}
	if s, up := strings.CutSuffix(stem, ".up"); up {
		stem, fn.Convention = s, ConventionGolangMigrate
	} else if s, down := strings.CutSuffix(stem, ".down"); down {
		stem, fn.Convention, fn.Down = s, ConventionGolangMigrate, true
	}
	num, desc, hasDesc := strings.Cut(stem, "_")
	if !hasDesc && fn.Convention == ConventionSpangate {
		fn.Convention = ConventionWrench
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		if !hasDesc {
			return FileName{}, fmt.Errorf("%q is not named <version>_<description>.sql (for example 0001_create_orders.sql), nor <version>.sql as wrench names files", base)
		}
		return FileName{}, fmt.Errorf("%q: version %q must be a positive integer", base, num)
	}
	if fn.Convention != ConventionWrench && desc == "" {
		if fn.Convention == ConventionGolangMigrate {
			return FileName{}, fmt.Errorf("%q is not named <version>_<description>.up.sql (for example 1_create_orders.up.sql)", base)
		}
		return FileName{}, fmt.Errorf("%q is not named <version>_<description>.sql (for example 0001_create_orders.sql)", base)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return FileName{}, fmt.Errorf("%q: version %q must be a positive integer below 2^63", base, num)
	}
	for _, r := range desc {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return FileName{}, fmt.Errorf("%q: description may hold only letters, digits, '_', '-' and '.'", base)
		}
	}
	fn.Version, fn.Description = v, desc
	return fn, nil
}

// ParseName splits a migration file's base name into version and
// description, in any convention ParseFileName reads: "0042_add_orders.sql"
// is version 42, name "add_orders"; "000042.sql" is version 42, name "".
func ParseName(base string) (int64, string, error) {
	fn, err := ParseFileName(base)
	if err != nil {
		return 0, "", err
	}
	return fn.Version, fn.Description, nil
}

// knownDirectives are the spangate directives a migration may carry.
var knownDirectives = map[string]bool{"partitioned": true, "allow": true, "proto-descriptors": true}

func parseFile(src Source) (*File, []Finding) {
	base := path.Base(strings.ReplaceAll(src.Name, "\\", "/"))
	v, desc, err := ParseName(base)
	if err != nil {
		return nil, []Finding{{Severity: SeverityError, Rule: RuleFileName, File: src.Name, Line: 1, Blocks: spangate.Invalid,
			Message: err.Error()}}
	}
	if src.Content == nil && src.Checksum != "" {
		return &File{Version: v, Name: desc, Path: src.Name, Checksum: src.Checksum, ChecksumOnly: true}, nil
	}
	f := &File{Version: v, Name: desc, Path: src.Name, Checksum: FileChecksum(src.Content, src.ProtoDescriptors), Content: src.Content}
	if len(src.ProtoDescriptors) > 0 {
		f.ProtoDescriptors = src.ProtoDescriptors
	}
	text, findings := clientCommands(src.Name, string(src.Content))
	stmts, err := sqlstmt.Parse(src.Name, text)
	if err != nil {
		var list sqlstmt.SyntaxErrors
		if !errors.As(err, &list) {
			list = sqlstmt.SyntaxErrors{{File: src.Name, Line: 1, Column: 1, Message: err.Error()}}
		}
		for _, se := range list {
			findings = append(findings, Finding{Severity: SeverityError, Rule: RuleSyntax, File: src.Name, Line: se.Line, Blocks: spangate.Invalid,
				Message: fmt.Sprintf("syntax error at %d:%d: %s", se.Line, se.Column, se.Message)})
		}
	}
	if err == nil && len(stmts) == 0 {
		findings = append(findings, Finding{Severity: SeverityError, Rule: RuleEmptyFile, File: src.Name, Line: 1, Blocks: spangate.Invalid,
			Message: "the file holds no statement; add one or delete the file"})
	}
	for i := range stmts {
		st := &stmts[i]
		if st.Kind == sqlstmt.Query {
			findings = append(findings, Finding{Severity: SeverityError, Rule: RuleQueryInMigration, File: src.Name, Line: st.Line, Blocks: spangate.Invalid,
				Message: "a query (SELECT) does nothing in a migration; remove it or run it with spangate exec"})
		}
		for _, d := range st.Directives {
			if !knownDirectives[d.Name] {
				findings = append(findings, Finding{Severity: SeverityError, Rule: RuleUnknownDirective, File: src.Name, Line: d.Line, Blocks: spangate.Invalid,
					Message: fmt.Sprintf("unknown directive spangate:%s (known: partitioned, allow, proto-descriptors)", d.Name)})
			}
			if d.Name != "proto-descriptors" {
				continue
			}
			switch {
			case len(d.Args) != 1 || strings.Contains(d.Args[0], "..") || path.IsAbs(d.Args[0]):
				findings = append(findings, Finding{Severity: SeverityError, Rule: RuleProtoDescriptor, File: src.Name, Line: d.Line, Blocks: spangate.Invalid,
					Message: "-- spangate:proto-descriptors takes one path inside the migrations directory: a serialized FileDescriptorSet"})
			case f.ProtoDescriptorsPath != "" && f.ProtoDescriptorsPath != d.Args[0]:
				findings = append(findings, Finding{Severity: SeverityError, Rule: RuleProtoDescriptor, File: src.Name, Line: d.Line, Blocks: spangate.Invalid,
					Message: fmt.Sprintf("a file sends one descriptor set; this one names %s and %s: merge them into one FileDescriptorSet, or split the file", f.ProtoDescriptorsPath, d.Args[0])})
			default:
				f.ProtoDescriptorsPath = d.Args[0]
			}
		}
		if err := st.CheckCaller(); err != nil {
			findings = append(findings, Finding{Severity: SeverityError, Rule: RuleProtected, File: src.Name, Line: st.Line, Blocks: spangate.Denied,
				Message: err.Error()})
		}
		if st.Partitioned() && verbIsInsertOrDDL(st) {
			findings = append(findings, Finding{Severity: SeverityError, Rule: RulePartitionedInsert, File: src.Name, Line: st.Line, Blocks: spangate.Invalid,
				Message: fmt.Sprintf("-- spangate:partitioned applies only to UPDATE and DELETE; Partitioned DML cannot run %s. Remove the directive", st.Verb)})
		}
	}
	for _, fd := range findings {
		if fd.Severity == SeverityError {
			return nil, findings
		}
	}
	f.Statements = stmts
	return f, findings
}

// Checksum is the checksum of a migration file: the hex SHA-256 of its
// bytes.
func Checksum(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

func verbIsInsertOrDDL(st *sqlstmt.Statement) bool {
	return st.Kind != sqlstmt.DML || st.Verb == "INSERT"
}

// Errors returns the error findings.
func (s *Set) Errors() []Finding {
	var errs []Finding
	for _, f := range s.Findings {
		if f.Severity == SeverityError {
			errs = append(errs, f)
		}
	}
	return errs
}

func sortFindings(fs []Finding) {
	rank := map[Severity]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.SliceStable(fs, func(i, j int) bool {
		if rank[fs[i].Severity] != rank[fs[j].Severity] {
			return rank[fs[i].Severity] < rank[fs[j].Severity]
		}
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Line < fs[j].Line
	})
}
