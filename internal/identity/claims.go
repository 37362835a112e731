package identity

import (
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"

	"github.com/spangate/spangate"
)

// attributeClaims lists, per provider, the claims copied into
// Principal.Attributes: the ones that identify a CI run for audit and display.
var attributeClaims = map[spangate.Provider][]string{
	spangate.ProviderBitbucket: {
		"sub", "workspaceUuid", "repositoryUuid", "deploymentEnvironmentUuid",
		"branchName", "pipelineUuid", "stepUuid",
	},
	spangate.ProviderGitHub: {
		"repository", "repository_id", "repository_owner_id", "ref", "sha",
		"environment", "workflow_ref", "job_workflow_ref", "run_id", "actor",
	},
	spangate.ProviderGitLab: {
		"project_path", "project_id", "namespace_path", "ref", "ref_protected",
		"environment", "pipeline_id", "sha",
	},
	spangate.ProviderGeneric: {"sub", "email", "groups"},
}

// PrincipalFromClaims maps a claim set to a principal for the named issuer.
// When provider is empty it is inferred from the iss claim for the hosted CI
// issuers, else from the other claims (see InferProvider);
// an unknown provider is treated as ProviderGeneric.
// It checks nothing: Verify calls it after verification, and `policy
// explain --claims` calls it on claims taken as given.
//
// Principal.Claims is a shallow copy of claims. Principal.Attributes holds
// the provider's identifying claims as strings: numbers in their shortest
// decimal form, booleans as "true"/"false", arrays of scalars joined with
// ","; absent, null and object-valued claims are left out. Subject and
// IssuerURL are the sub and iss claims when they are strings.
func PrincipalFromClaims(issuerName string, provider spangate.Provider, claims map[string]any) spangate.Principal {
	return principal(issuerName, provider, maps.Clone(claims))
}

// principal is PrincipalFromClaims without the copy, for claims Verify owns.
func principal(issuerName string, provider spangate.Provider, claims map[string]any) spangate.Principal {
	if provider == "" {
		iss, _ := claims["iss"].(string)
		provider = providerFromURL(iss)
	}
	if provider == "" {
		provider = InferProvider(claims)
	}
	names, ok := attributeClaims[provider]
	if !ok {
		provider = spangate.ProviderGeneric
		names = attributeClaims[provider]
	}
	attrs := make(map[string]string, len(names))
	for _, name := range names {
		if s, ok := attributeString(claims[name]); ok {
			attrs[name] = s
		}
	}
	p := spangate.Principal{
		Issuer:     issuerName,
		Provider:   provider,
		Attributes: attrs,
		Claims:     claims,
	}
	p.IssuerURL, _ = claims["iss"].(string)
	p.Subject, _ = claims["sub"].(string)
	return p
}

// InferProvider guesses which CI system issued a claim set from the claims
// only that system's tokens carry. It returns ProviderGeneric when none fits.
// The guess only selects Principal.Attributes; policy should rely on the
// configured issuer name, which is verified.
func InferProvider(claims map[string]any) spangate.Provider {
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := claims[n]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("workspaceUuid", "repositoryUuid") || has("repositoryUuid", "stepUuid"):
		return spangate.ProviderBitbucket
	case has("repository", "workflow_ref") || has("repository", "run_id") || has("repository", "job_workflow_ref"):
		return spangate.ProviderGitHub
	case has("project_path", "pipeline_id") || has("project_path", "namespace_path"):
		return spangate.ProviderGitLab
	}
	return spangate.ProviderGeneric
}

// providerFromURL recognizes the issuer URLs of the hosted CI systems. It
// returns "" for any other URL; tokens of such issuers are classified by
// their claims.
func providerFromURL(raw string) spangate.Provider {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "api.bitbucket.org" && strings.HasSuffix(u.Path, "/pipelines-config/identity/oidc"):
		return spangate.ProviderBitbucket
	case host == "token.actions.githubusercontent.com",
		strings.HasPrefix(host, "token.actions.") && strings.HasSuffix(host, ".ghe.com"),
		strings.HasSuffix(u.Path, "/_services/token"):
		return spangate.ProviderGitHub
	case host == "gitlab.com":
		return spangate.ProviderGitLab
	}
	return ""
}

// attributeString renders a claim value for Principal.Attributes.
func attributeString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case json.Number:
		return x.String(), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := attributeString(e)
			if !ok {
				return "", false
			}
			if _, nested := e.([]any); nested {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), true
	case []string:
		return strings.Join(x, ","), true
	}
	return "", false
}
