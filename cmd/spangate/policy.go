package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/identity"
	"github.com/spangate/spangate/internal/policy"
	"github.com/spangate/spangate/internal/sqlstmt"
)

// maxInputFile bounds the token and claims files policy explain reads.
const maxInputFile = 1 << 20

// policyCommand returns `spangate policy` with its check and explain
// subcommands.
func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check a gateway config and explain its policy decisions",
		Long: `Check a gateway config file and explain the decisions its policy makes.

spangate denies everything by default. Each rule in the config's "rules" list
grants actions on databases to the tokens whose claims satisfy its CEL
condition "when". The condition sees three variables:

  issuer    the configured name of the issuer that verified the token
  subject   the token's sub claim
  claims    every claim of the token, as a map (claims.repositoryUuid)

Actions: plan, migrate, read, write, ddl, destructive, audit. A statement run
with exec needs read (query), write (DML) or ddl (schema change), and also
destructive when it drops a table, column or index or updates or deletes
every row. Statements inside a migration need migrate (and destructive when
destructive).

A rule, in the config file:

  rules:
    - name: orders-deploy
      when: issuer == "bitbucket" && claims.repositoryUuid == "{7c1e}" &&
            claims.deploymentEnvironmentUuid == "{a12f}"
      databases: [orders]          # logical names, or ["*"] for all
      allow: [plan, migrate]`,
		Example: `  spangate policy check --config spangate.yaml
  spangate policy explain --config spangate.yaml --claims claims.json \
      --database orders --action migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(a.policyCheckCommand(), a.policyExplainCommand())
	return cmd
}

func (a *app) policyCheckCommand() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "check --config FILE",
		Short: "Validate a config file and compile its rules",
		Long: `Validate a gateway config file: every key, issuer, database and action, and
every rule condition, compiled as the gateway compiles it.

Every problem is listed with its file, line and field path, such as

  spangate.yaml:12: rules[1].allow[0]: unknown action "delete" (known: plan, ...)

Exit status: 0 when the config is valid, 2 when it has problems.`,
		Example: `  # In CI, before deploying a config change:
  spangate policy check --config spangate.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile == "" {
				return usageError{err: errors.New("--config is required: the gateway config file to check")}
			}
			pol, err := loadPolicy(configFile)
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.stdout, checkSummary(configFile, pol.Config()))
			return err
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "gateway config file (YAML)")
	return cmd
}

// checkSummary describes a valid config in a few lines.
func checkSummary(file string, cfg *config.Config) string {
	var b strings.Builder
	issuers := make([]string, len(cfg.Issuers))
	for i, is := range cfg.Issuers {
		issuers[i] = is.Name
	}
	dbs := slices.Sorted(maps.Keys(cfg.Databases))
	fmt.Fprintf(&b, "%s: ok\n", file)
	fmt.Fprintf(&b, "  issuers:   %d (%s)\n", len(issuers), strings.Join(issuers, ", "))
	fmt.Fprintf(&b, "  databases: %d (%s)\n", len(dbs), strings.Join(dbs, ", "))
	if len(cfg.Rules) == 0 {
		fmt.Fprintf(&b, "  rules:     0 (every request is denied)\n")
	} else {
		fmt.Fprintf(&b, "  rules:     %d\n", len(cfg.Rules))
	}
	return b.String()
}

// loadPolicy reads, validates and compiles a config file, reporting every
// problem of the file in one error.
func loadPolicy(file string) (*policy.Policy, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "open config: %w", err).
			WithHint("pass the gateway config file with --config")
	}
	defer f.Close()
	return policy.Load(f, file)
}

// explainOptions are the flags of policy explain.
type explainOptions struct {
	configFile string
	tokenFile  string
	claimsFile string
	database   string
	action     string
	sql        string
	keyColumns []string
	format     string
}

func (a *app) policyExplainCommand() *cobra.Command {
	var o explainOptions
	cmd := &cobra.Command{
		Use:   "explain --config FILE (--token FILE | --claims FILE.json) --database DB --action ACTION [--sql STATEMENT]",
		Short: "Show what the policy decides for a token and why",
		Long: `Decide one request with the config's policy and say why: the decision, the
rule that decided, and the reason. For a deny, the reason names the nearest
rule and what failed: the database, the action, or the part of its
condition that was false (with the value the token had).

The identity comes from either
  --token FILE        an ID token, fully verified as the gateway would
                      (issuer allow-list, signature from the issuer's keys,
                      audience, expiry); this fetches the issuer's keys
  --claims FILE.json  a JSON object of claims, taken as given and not
                      verified; its "iss" is the issuer's URL or its name
                      in the config

With --sql, the statement is parsed and decided as the gateway would:
  --action read|write|ddl|destructive  run directly (exec): the statement
                      needs read, write or ddl, plus destructive if it is
  --action migrate    as part of a migration: needs migrate, plus
                      destructive if it is (several statements allowed)
  --action plan       planning needs only plan; the SQL is only parsed

Exit status: 0 allow, 3 deny or a token that does not verify, 2 invalid
input (flags, config, SQL).`,
		Example: `  # Why may this Bitbucket deployment not migrate orders?
  spangate policy explain --config spangate.yaml --claims claims.json \
      --database orders --action migrate

  # Verify a real token (a pipeline's $BITBUCKET_STEP_OIDC_TOKEN saved to a file):
  spangate policy explain --config spangate.yaml --token token.jwt \
      --database orders --action plan --format json

  # May a GitHub workflow run this statement?
  spangate policy explain --config spangate.yaml --claims gh.json \
      --database payments --action write --sql "DELETE FROM Carts WHERE true"

  # claims.json:
  {"iss": "bitbucket", "sub": "{pipeline}", "repositoryUuid": "{7c1e}",
   "deploymentEnvironmentUuid": "{a12f}"}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExplain(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "gateway config file (YAML)")
	f.StringVar(&o.tokenFile, "token", "", "file holding an OIDC ID token to verify")
	f.StringVar(&o.claimsFile, "claims", "", "JSON file of claims, taken as given")
	f.StringVar(&o.database, "database", "", "logical database name from the config")
	f.StringVar(&o.action, "action", "", "action: "+actionNames())
	f.StringVar(&o.sql, "sql", "", "a statement to decide, as exec or migrate would")
	f.StringSliceVar(&o.keyColumns, "key-columns", nil, "the primary key columns of the --sql statement's table, in key order, so an UPDATE or DELETE is decided as the gateway would; without them its key is unknown and it needs destructive")
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

func actionNames() string {
	names := make([]string, 0, len(spangate.Actions()))
	for _, act := range spangate.Actions() {
		names = append(names, string(act))
	}
	return strings.Join(names, ", ")
}

func (o explainOptions) check() error {
	var missing []string
	if o.configFile == "" {
		missing = append(missing, "--config")
	}
	if o.database == "" {
		missing = append(missing, "--database")
	}
	if o.action == "" {
		missing = append(missing, "--action")
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	case (o.tokenFile == "") == (o.claimsFile == ""):
		return errors.New("pass exactly one of --token FILE or --claims FILE.json")
	case !spangate.Action(o.action).Valid():
		return fmt.Errorf("unknown --action %q (known: %s)", o.action, actionNames())
	case o.format != "text" && o.format != "json":
		return fmt.Errorf("unknown --format %q (known: text, json)", o.format)
	case o.sql != "" && spangate.Action(o.action) == spangate.ActionAudit:
		return errors.New("--sql does not apply to --action audit")
	}
	return nil
}

func (a *app) runExplain(cmd *cobra.Command, o explainOptions) error {
	if err := o.check(); err != nil {
		return usageError{err: err}
	}
	pol, err := loadPolicy(o.configFile)
	if err != nil {
		return err
	}
	pr, refused, err := a.explainPrincipal(cmd, pol.Config(), o)
	if err != nil {
		return err
	}
	var d spangate.Decision
	if refused != "" {
		d = spangate.Decision{Reason: refused}
	} else if d, err = decideExplain(pol, pr, o); err != nil {
		return err
	}
	if err := a.printDecision(o.format, pr, d); err != nil {
		return err
	}
	if !d.Allow {
		return silentError{code: exitDenied, err: spangate.Errorf(spangate.Denied, "denied: %s", d.Reason)}
	}
	return nil
}

// decideExplain decides the request, with --sql as exec or migrate would.
func decideExplain(pol *policy.Policy, pr spangate.Principal, o explainOptions) (spangate.Decision, error) {
	action := spangate.Action(o.action)
	if o.sql == "" {
		return pol.Decide(pr, o.database, action), nil
	}
	switch action {
	case spangate.ActionPlan:
		if _, err := sqlstmt.Parse("", o.sql); err != nil {
			return spangate.Decision{}, err
		}
		return pol.Decide(pr, o.database, action), nil
	case spangate.ActionMigrate:
		stmts, err := sqlstmt.Parse("", o.sql)
		if err != nil {
			return spangate.Decision{}, err
		}
		for i := range stmts {
			stmts[i] = stmts[i].WithKeys(o.keys(), nil)
		}
		return pol.DecideMigration(pr, o.database, stmts), nil
	}
	st, err := sqlstmt.ParseOne(o.sql)
	if err != nil {
		return spangate.Decision{}, err
	}
	st = st.WithKeys(o.keys(), nil)
	if need := st.RequiredActions(); st.Protected == "" && !slices.Contains(need, action) {
		return spangate.Decision{}, usageError{err: fmt.Errorf("--action %s does not fit the statement: a %s needs %s; pass --action %s",
			action, st.Verb, joinActions(need), need[0])}
	}
	return pol.DecideParsed(pr, o.database, &st), nil
}

// keys returns --key-columns, or nil when not given: the key is then
// unknown and an UPDATE or DELETE stays destructive.
func (o explainOptions) keys() []string {
	if len(o.keyColumns) == 0 {
		return nil
	}
	return o.keyColumns
}

func joinActions(acts []spangate.Action) string {
	s := make([]string, len(acts))
	for i, act := range acts {
		s[i] = string(act)
	}
	return strings.Join(s, " and ")
}

// explainPrincipal returns the principal to decide for. refused is set, and
// the principal empty, when the identity is refused: a token that does not
// verify or claims from an unknown issuer. That is a deny, not an error.
func (a *app) explainPrincipal(cmd *cobra.Command, cfg *config.Config, o explainOptions) (pr spangate.Principal, refused string, err error) {
	if o.claimsFile != "" {
		claims, err := readClaims(o.claimsFile)
		if err != nil {
			return pr, "", err
		}
		iss, _ := claims["iss"].(string)
		if iss == "" {
			return pr, fmt.Sprintf("the claims have no iss; set it to an issuer's URL or name (configured: %s)", issuerNames(cfg)), nil
		}
		is, ok := cfg.Issuer(iss)
		if !ok {
			return pr, fmt.Sprintf("issuer %q is not configured (configured: %s); tokens from other issuers are refused", iss, issuerNames(cfg)), nil
		}
		pr = identity.PrincipalFromClaims(is.Name, is.Provider, claims)
		pr.IssuerURL = is.URL
		return pr, "", nil
	}

	raw, err := readLimited(o.tokenFile)
	if err != nil {
		return pr, "", err
	}
	issuers := make([]identity.IssuerConfig, len(cfg.Issuers))
	for i, is := range cfg.Issuers {
		issuers[i] = identity.IssuerConfig{Name: is.Name, URL: is.URL, Audiences: is.Audiences, Provider: is.Provider}
	}
	v, err := identity.NewVerifier(issuers, identity.Options{Now: a.now, Logger: a.logger, Leeway: cfg.Tokens.ClockLeeway, MaxTokenLifetime: cfg.Tokens.MaxLifetime})
	if err != nil {
		return pr, "", err
	}
	pr, err = v.Verify(cmd.Context(), string(bytes.TrimSpace(raw)))
	if err != nil {
		switch spangate.KindOf(err) {
		case spangate.Unauthenticated, spangate.Denied, spangate.Invalid:
			return spangate.Principal{}, "token rejected: " + err.Error(), nil
		}
		return pr, "", err // the issuer could not be reached, say: not a decision
	}
	return pr, "", nil
}

func issuerNames(cfg *config.Config) string {
	var names []string
	for _, is := range cfg.Issuers {
		names = append(names, is.Name)
	}
	return strings.Join(names, ", ")
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInputFile+1))
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "read %s: %w", file, err)
	}
	if len(data) > maxInputFile {
		return nil, spangate.Errorf(spangate.Invalid, "%s is larger than %d bytes", file, maxInputFile)
	}
	return data, nil
}

func readClaims(file string) (map[string]any, error) {
	data, err := readLimited(file)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil || claims == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return nil, spangate.Errorf(spangate.Invalid, "%s: claims must be a JSON object: %w", file, err).
			WithHint(`write the claims as {"iss": "bitbucket", "sub": "...", "repositoryUuid": "..."}`)
	}
	return claims, nil
}

// explainJSON is the JSON document of policy explain; its field names are a
// contract.
type explainJSON struct {
	Decision string  `json:"decision"`
	Rule     *string `json:"rule"`
	Reason   string  `json:"reason"`
}

func (a *app) printDecision(format string, pr spangate.Principal, d spangate.Decision) error {
	word := "deny"
	if d.Allow {
		word = "allow"
	}
	if format == "json" {
		out := explainJSON{Decision: word, Reason: d.Reason}
		if d.Rule != "" {
			out.Rule = &d.Rule
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	rule := d.Rule
	if rule == "" {
		rule = "(none)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "decision:  %s\n", word)
	if pr.Issuer != "" {
		fmt.Fprintf(&b, "principal: %s\n", pr)
	}
	fmt.Fprintf(&b, "rule:      %s\n", rule)
	fmt.Fprintf(&b, "reason:    %s\n", d.Reason)
	_, err := io.WriteString(a.stdout, b.String())
	return err
}
