package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// LiveFacts are what INFORMATION_SCHEMA says about a live database that
// its GetDatabaseDdl leaves out or changes. The emulator's GetDatabaseDdl
// prints no CREATE SCHEMA, no HIDDEN, every generated TOKENLIST column as
// STORED, and a search index as CREATE INDEX.
type LiveFacts struct {
	// Schemas are the named schemas (not the default one, nor
	// INFORMATION_SCHEMA or SPANNER_SYS).
	Schemas []string
	// Generated are the generated columns with whether they are stored.
	Generated []LiveColumn
	// Hidden are the HIDDEN columns, when the database says
	// (INFORMATION_SCHEMA.COLUMNS.IS_HIDDEN; the emulator has no such
	// column: HiddenKnown is then false).
	Hidden      []LiveColumn
	HiddenKnown bool
	// SearchIndexes are the indexes whose INDEX_TYPE is SEARCH.
	SearchIndexes []string
}

// LiveColumn names a column of a live table ("schema.table" for a table
// of a named schema).
type LiveColumn struct {
	Table, Column string
	Stored        bool
}

// Querier runs a read-only query; *spannerdb.DB has it.
type Querier interface {
	Query(ctx context.Context, sql string, params map[string]any, limit int) ([]map[string]any, error)
}

// liveRows is the most rows a fact query reads.
const liveRows = 100000

// ReadLiveFacts reads LiveFacts from a database's INFORMATION_SCHEMA.
func ReadLiveFacts(ctx context.Context, q Querier) (LiveFacts, error) {
	var f LiveFacts
	rows, err := q.Query(ctx, "SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME NOT IN ('', 'INFORMATION_SCHEMA', 'SPANNER_SYS')", nil, liveRows)
	if err != nil {
		return f, liveErr(err, "INFORMATION_SCHEMA.SCHEMATA")
	}
	for _, r := range rows {
		f.Schemas = append(f.Schemas, str(r["SCHEMA_NAME"]))
	}
	rows, err = q.Query(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, IS_STORED FROM INFORMATION_SCHEMA.COLUMNS "+
		"WHERE IS_GENERATED = 'ALWAYS' AND TABLE_SCHEMA NOT IN ('INFORMATION_SCHEMA', 'SPANNER_SYS')", nil, liveRows)
	if err != nil {
		return f, liveErr(err, "INFORMATION_SCHEMA.COLUMNS")
	}
	for _, r := range rows {
		f.Generated = append(f.Generated, LiveColumn{Table: qualified(r), Column: str(r["COLUMN_NAME"]), Stored: str(r["IS_STORED"]) == "YES"})
	}
	// IS_HIDDEN is production's; the emulator answers "Unrecognized name".
	rows, err = q.Query(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, IS_HIDDEN FROM INFORMATION_SCHEMA.COLUMNS "+
		"WHERE TABLE_SCHEMA NOT IN ('INFORMATION_SCHEMA', 'SPANNER_SYS')", nil, liveRows)
	if err == nil {
		f.HiddenKnown = true
		for _, r := range rows {
			if truthy(r["IS_HIDDEN"]) {
				f.Hidden = append(f.Hidden, LiveColumn{Table: qualified(r), Column: str(r["COLUMN_NAME"])})
			}
		}
	}
	rows, err = q.Query(ctx, "SELECT TABLE_SCHEMA, INDEX_NAME FROM INFORMATION_SCHEMA.INDEXES WHERE INDEX_TYPE = 'SEARCH'", nil, liveRows)
	if err != nil {
		return f, liveErr(err, "INFORMATION_SCHEMA.INDEXES")
	}
	for _, r := range rows {
		name := str(r["INDEX_NAME"])
		if s := str(r["TABLE_SCHEMA"]); s != "" {
			name = s + "." + name
		}
		f.SearchIndexes = append(f.SearchIndexes, name)
	}
	return f, nil
}

func liveErr(err error, what string) error {
	return spangate.Errorf(spangate.KindOf(err), "read %s: %w", what, err).
		WithHint("spangate reads INFORMATION_SCHEMA to complete what GetDatabaseDdl leaves out; the principal needs read access to it")
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "YES") || strings.EqualFold(v, "TRUE")
	}
	return false
}

func qualified(r map[string]any) string {
	if s := str(r["TABLE_SCHEMA"]); s != "" {
		return s + "." + str(r["TABLE_NAME"])
	}
	return str(r["TABLE_NAME"])
}

// FromLive builds the model of a live database from its GetDatabaseDdl
// output and the INFORMATION_SCHEMA facts the output leaves out, so that
// it compares equal to the model of the files that built it.
func FromLive(source string, ddl []string, f LiveFacts) (*Schema, error) {
	s, err := FromDDL(source, ddl)
	if err != nil {
		return s, err
	}
	for _, name := range f.Schemas {
		if s.hasOther("SCHEMA", name) {
			continue
		}
		st, err := sqlstmt.ParseOne("CREATE SCHEMA " + quote(name))
		if err != nil {
			return s, err
		}
		o := &Other{Kind: "CREATE SCHEMA", Name: name, SQL: st.Node.SQL()}
		s.others = append([]*Other{o}, s.others...)
	}
	for _, g := range f.Generated {
		if t := s.tables[key(g.Table)]; t != nil {
			if c := t.Column(g.Column); c != nil && c.Generated != "" {
				c.Stored = g.Stored
			}
		}
	}
	if f.HiddenKnown {
		for _, h := range f.Hidden {
			if t := s.tables[key(h.Table)]; t != nil {
				if c := t.Column(h.Column); c != nil {
					c.Hidden = true
				}
			}
		}
	}
	for _, name := range f.SearchIndexes {
		if ix := s.indexes[key(name)]; ix != nil {
			ix.Search = true
		}
	}
	return s, nil
}

func (s *Schema) hasOther(family, name string) bool {
	for _, o := range s.others {
		if otherFamily(o.Kind) == family && strings.EqualFold(o.Name, name) {
			return true
		}
	}
	return false
}

// completeFromDDL infers what Spanner requires but the emulator's
// GetDatabaseDdl leaves out: a TOKENLIST column is HIDDEN, and an index
// whose keys are TOKENLIST columns is a search index.
func (s *Schema) completeFromDDL() {
	for _, t := range s.tables {
		for _, c := range t.Columns {
			if c.Type.Base == "TOKENLIST" && !c.Type.Array {
				c.Hidden = true
			}
		}
	}
	for _, ix := range s.indexes {
		t := s.tables[key(ix.Table)]
		if t == nil || ix.Search || len(ix.Keys) == 0 {
			continue
		}
		all := true
		for _, k := range ix.Keys {
			if c := t.Column(k.Column); c == nil || c.Type.Base != "TOKENLIST" {
				all = false
			}
		}
		ix.Search = all
	}
}
