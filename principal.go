package spangate

import "slices"

// Provider names the kind of identity provider that issued a token; it decides
// which claims matter for a principal.
type Provider string

// The providers spangate knows by their claim sets. Any other OIDC issuer is
// Generic.
const (
	ProviderBitbucket Provider = "bitbucket"
	ProviderGitHub    Provider = "github"
	ProviderGitLab    Provider = "gitlab"
	ProviderGeneric   Provider = "oidc"
)

// Principal is a verified identity: who is asking, according to which issuer,
// with every claim of the verified token kept for policy.
type Principal struct {
	// Issuer is the configured name of the issuer that verified the token.
	Issuer string `json:"issuer"`
	// IssuerURL is the token's iss claim.
	IssuerURL string `json:"issuer_url"`
	// Provider tells which claim set the token has.
	Provider Provider `json:"provider"`
	// Subject is the token's sub claim.
	Subject string `json:"subject"`
	// Attributes are the claims that identify the principal for its
	// provider (repository, workspace, environment…), for audit and display.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Claims holds every claim of the verified token, for policy.
	Claims map[string]any `json:"claims,omitempty"`
}

// String returns a short, stable description such as "bitbucket:{uuid}".
func (p Principal) String() string {
	if p.Issuer == "" {
		return p.Subject
	}
	return p.Issuer + ":" + p.Subject
}

// Action is something a principal may be allowed to do on a database.
type Action string

// The actions a policy can grant.
const (
	// ActionPlan computes a migration plan.
	ActionPlan Action = "plan"
	// ActionMigrate applies migrations.
	ActionMigrate Action = "migrate"
	// ActionRead runs queries.
	ActionRead Action = "read"
	// ActionWrite runs DML.
	ActionWrite Action = "write"
	// ActionDDL runs schema statements outside migrations.
	ActionDDL Action = "ddl"
	// ActionDestructive covers DROP of a table, column or index and
	// UPDATE/DELETE without a WHERE clause.
	ActionDestructive Action = "destructive"
	// ActionAudit reads and verifies the audit trail.
	ActionAudit Action = "audit"
)

// Actions lists every action in a stable order.
func Actions() []Action {
	return []Action{ActionPlan, ActionMigrate, ActionRead, ActionWrite, ActionDDL, ActionDestructive, ActionAudit}
}

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool { return slices.Contains(Actions(), a) }

// Decision is the outcome of a policy evaluation, with enough detail to
// explain it.
type Decision struct {
	// Allow is true when a rule granted the request.
	Allow bool `json:"allow"`
	// Rule names the rule that decided, or the nearest rule for a deny;
	// empty when no rule came close.
	Rule string `json:"rule,omitempty"`
	// Reason says in one sentence why.
	Reason string `json:"reason"`
}
