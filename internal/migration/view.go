package migration

import "github.com/spangate/spangate/internal/schema"

// View is the JSON shape of a plan, shared by `spangate migrate plan
// --format json` and the gateway's plan endpoint.
type View struct {
	Database         string        `json:"database"`
	Applied          []int64       `json:"applied"`
	Pending          []PendingView `json:"pending"`
	Findings         []Finding     `json:"findings"`
	SchemaOperations int           `json:"schema_operations"`
	Statements       int           `json:"statements"`
	Blocked          bool          `json:"blocked"`
	// SchemaChanges names the tables and indexes the pending migrations
	// add, change and drop; absent when a pending statement would be
	// refused.
	SchemaChanges *schema.Summary `json:"schema_changes,omitempty"`
}

// PendingView is one pending file in a View.
type PendingView struct {
	Version    int64           `json:"version"`
	Name       string          `json:"name"`
	Statements int             `json:"statements"`
	Kinds      []StatementKind `json:"kinds"`
	ResumeAt   int             `json:"resume_at,omitempty"`
	// InFlight names the schema operation an earlier run left with this
	// file's statements before ResumeAt; apply re-attaches to it.
	InFlight string `json:"in_flight,omitempty"`
}

// View returns the plan's JSON shape for the named database. Lists are
// never nil, so they encode as [] rather than null.
func (p *Plan) View(database string) View {
	v := View{
		Database:         database,
		Applied:          append([]int64{}, p.Applied...),
		Pending:          make([]PendingView, 0, len(p.Pending)),
		Findings:         append([]Finding{}, p.Findings...),
		SchemaOperations: p.SchemaOperations,
		Statements:       p.Statements,
		Blocked:          p.Blocked(),
		SchemaChanges:    p.SchemaChanges,
	}
	for _, pd := range p.Pending {
		v.Pending = append(v.Pending, PendingView{Version: pd.Version, Name: pd.Name, Statements: pd.Statements, Kinds: pd.Kinds, ResumeAt: pd.ResumeAt, InFlight: pd.InFlight})
	}
	return v
}
