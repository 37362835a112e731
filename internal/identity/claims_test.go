package identity

import (
	"maps"
	"testing"

	"github.com/spangate/spangate"
)

func TestPrincipalFromClaims(t *testing.T) {
	tests := []struct {
		name     string
		provider spangate.Provider
		claims   map[string]any
		want     spangate.Provider
		attrs    map[string]string
	}{
		{
			name: "bitbucket inferred",
			claims: map[string]any{
				"iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
				"sub": "{r}:{e}:{s}", "workspaceUuid": "{w}", "repositoryUuid": "{r}",
				"deploymentEnvironmentUuid": "{e}", "branchName": "main", "pipelineUuid": "{p}",
				"stepUuid": "{s}", "aud": "x", "exp": 1.0,
			},
			want: spangate.ProviderBitbucket,
			attrs: map[string]string{"sub": "{r}:{e}:{s}", "workspaceUuid": "{w}", "repositoryUuid": "{r}",
				"deploymentEnvironmentUuid": "{e}", "branchName": "main", "pipelineUuid": "{p}", "stepUuid": "{s}"},
		},
		{
			name: "github inferred",
			claims: map[string]any{
				"sub": "repo:o/r:environment:prod", "repository": "o/r", "repository_id": "42",
				"repository_owner_id": "7", "ref": "refs/heads/main", "sha": "abc", "environment": "prod",
				"workflow_ref":     "o/r/.github/workflows/d.yml@refs/heads/main",
				"job_workflow_ref": "o/r/.github/workflows/d.yml@refs/heads/main", "run_id": "99", "actor": "me",
				"event_name": "push",
			},
			want: spangate.ProviderGitHub,
			attrs: map[string]string{"repository": "o/r", "repository_id": "42", "repository_owner_id": "7",
				"ref": "refs/heads/main", "sha": "abc", "environment": "prod",
				"workflow_ref":     "o/r/.github/workflows/d.yml@refs/heads/main",
				"job_workflow_ref": "o/r/.github/workflows/d.yml@refs/heads/main", "run_id": "99", "actor": "me"},
		},
		{
			name: "gitlab inferred, numbers and booleans rendered",
			claims: map[string]any{
				"sub": "project_path:g/p:ref_type:branch:ref:main", "project_path": "g/p", "project_id": float64(12345678901),
				"namespace_path": "g", "ref": "main", "ref_protected": true, "environment": "production",
				"pipeline_id": "5", "sha": "def",
			},
			want: spangate.ProviderGitLab,
			attrs: map[string]string{"project_path": "g/p", "project_id": "12345678901", "namespace_path": "g",
				"ref": "main", "ref_protected": "true", "environment": "production", "pipeline_id": "5", "sha": "def"},
		},
		{
			name:   "generic",
			claims: map[string]any{"sub": "00u1", "email": "a@example.com", "groups": []any{"dba", "dev"}, "name": "A"},
			want:   spangate.ProviderGeneric,
			attrs:  map[string]string{"sub": "00u1", "email": "a@example.com", "groups": "dba,dev"},
		},
		{
			name:     "explicit provider wins over claims",
			provider: spangate.ProviderGeneric,
			claims:   map[string]any{"sub": "s", "repository": "o/r", "run_id": "1"},
			want:     spangate.ProviderGeneric,
			attrs:    map[string]string{"sub": "s"},
		},
		{
			name:   "object and null claims left out",
			claims: map[string]any{"sub": "s", "email": nil, "groups": map[string]any{"a": 1}},
			want:   spangate.ProviderGeneric,
			attrs:  map[string]string{"sub": "s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PrincipalFromClaims("ci", tt.provider, tt.claims)
			if p.Provider != tt.want {
				t.Errorf("provider = %q, want %q", p.Provider, tt.want)
			}
			if !maps.Equal(p.Attributes, tt.attrs) {
				t.Errorf("attributes = %v\nwant %v", p.Attributes, tt.attrs)
			}
			if p.Issuer != "ci" || p.Subject != tt.claims["sub"] || len(p.Claims) != len(tt.claims) {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestProviderFromURL(t *testing.T) {
	tests := map[string]spangate.Provider{
		"https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc": spangate.ProviderBitbucket,
		"https://api.bitbucket.org/2.0/other":                                          "",
		"https://token.actions.githubusercontent.com":                                  spangate.ProviderGitHub,
		"https://token.actions.githubusercontent.com/acme-enterprise":                  spangate.ProviderGitHub,
		"https://token.actions.acme.ghe.com":                                           spangate.ProviderGitHub,
		"https://github.acme.internal/_services/token":                                 spangate.ProviderGitHub,
		"https://gitlab.com":                                                           spangate.ProviderGitLab,
		"https://gitlab.acme.internal":                                                 "",
		"http://127.0.0.1:8479/dev/oidc":                                               "",
		"https://acme.okta.com":                                                        "",
	}
	for u, want := range tests {
		if got := providerFromURL(u); got != want {
			t.Errorf("providerFromURL(%q) = %q, want %q", u, got, want)
		}
	}
}
