package schema

import "github.com/spangate/spangate/internal/sqlstmt"

type sqlstmtStatement = sqlstmt.Statement

func parseOneStatement(text string) (sqlstmt.Statement, error) { return sqlstmt.ParseOne(text) }
