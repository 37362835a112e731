package devoidc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/identity"
)

// devStack serves a dev issuer at <httptest URL>/dev/oidc, mounted as
// `spangate dev` mounts it, and a verifier that trusts it.
type devStack struct {
	srv      *httptest.Server
	iss      *Issuer
	verifier *identity.Verifier
	now      time.Time
}

func newDevStack(t *testing.T) *devStack {
	t.Helper()
	s := &devStack{now: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	var err error
	s.iss, err = New(s.srv.URL+"/dev/oidc", Options{Now: func() time.Time { return s.now }})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(s.iss.MountPath(), s.iss.Handler())
	s.verifier, err = identity.NewVerifier([]identity.IssuerConfig{{
		Name: "dev", URL: s.iss.URL(), Audiences: s.iss.Audiences(),
	}}, identity.Options{Now: func() time.Time { return s.now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

var uuidRE = regexp.MustCompile(`^\{[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$`)

func TestMintedTokensVerify(t *testing.T) {
	s := newDevStack(t)
	tests := []struct {
		provider spangate.Provider
		sub      *regexp.Regexp
		attrs    []string
	}{
		{spangate.ProviderBitbucket, regexp.MustCompile(`^\{7c1e9a42-[^}]+\}:\{a12f6d3e-[^}]+\}:\{[^}]+\}$`),
			[]string{"workspaceUuid", "repositoryUuid", "deploymentEnvironmentUuid", "branchName", "pipelineUuid", "stepUuid", "sub"}},
		{spangate.ProviderGitHub, regexp.MustCompile(`^repo:spangate-dev/app:environment:production$`),
			[]string{"repository", "repository_id", "repository_owner_id", "ref", "sha", "environment", "workflow_ref", "job_workflow_ref", "run_id", "actor"}},
		{spangate.ProviderGitLab, regexp.MustCompile(`^project_path:spangate-dev/app:ref_type:branch:ref:main$`),
			[]string{"project_path", "project_id", "namespace_path", "ref", "ref_protected", "environment", "pipeline_id", "sha"}},
		{spangate.ProviderGeneric, regexp.MustCompile(`^dev-user$`), []string{"sub", "email", "groups"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.provider), func(t *testing.T) {
			tok, err := s.iss.Mint(tt.provider, nil, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.verifier.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Provider != tt.provider || p.Issuer != "dev" || p.IssuerURL != s.iss.URL() {
				t.Errorf("principal %+v", p)
			}
			if !tt.sub.MatchString(p.Subject) {
				t.Errorf("sub = %q, want %v", p.Subject, tt.sub)
			}
			for _, a := range tt.attrs {
				if p.Attributes[a] == "" {
					t.Errorf("attribute %s missing: %v", a, p.Attributes)
				}
			}
			if p.Claims["aud"] != s.iss.DefaultAudience(tt.provider) {
				t.Errorf("aud = %v, want %q", p.Claims["aud"], s.iss.DefaultAudience(tt.provider))
			}
			if exp, iat := p.Claims["exp"].(float64), p.Claims["iat"].(float64); exp-iat != DefaultExpiresIn.Seconds() {
				t.Errorf("exp-iat = %v", exp-iat)
			}
		})
	}
}

func TestBitbucketShape(t *testing.T) {
	s := newDevStack(t)
	c := payload(t, must(t)(s.iss.Mint(spangate.ProviderBitbucket, nil, "", 0)))
	for _, k := range []string{"workspaceUuid", "repositoryUuid", "deploymentEnvironmentUuid", "pipelineUuid", "stepUuid"} {
		if v, _ := c[k].(string); !uuidRE.MatchString(v) {
			t.Errorf("%s = %q, want a brace-wrapped UUID", k, v)
		}
	}
	if c["aud"] != "ari:cloud:bitbucket::workspace/"+strings.Trim(BitbucketWorkspaceUUID, "{}") {
		t.Errorf("aud = %v", c["aud"])
	}
	if _, ok := c["nbf"]; ok {
		t.Error("Bitbucket tokens carry no nbf")
	}
}

func must(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestOverrides(t *testing.T) {
	s := newDevStack(t)
	tests := []struct {
		name      string
		provider  spangate.Provider
		overrides map[string]string
		audience  string
		expiresIn time.Duration
		check     func(t *testing.T, c map[string]any)
		verifyErr string
	}{
		{
			name: "numeric exp", overrides: map[string]string{"exp": "1777900000", "iat": "1777890000.5"},
			check: func(t *testing.T, c map[string]any) {
				if c["exp"] != 1777900000.0 || c["iat"] != 1777890000.5 {
					t.Errorf("exp %v iat %v", c["exp"], c["iat"])
				}
			},
		},
		{
			// Several audiences: azp names the one the token was issued to.
			name: "aud array", overrides: map[string]string{"aud": `["x","` + s.iss.DefaultAudience(spangate.ProviderBitbucket) + `"]`, "azp": s.iss.DefaultAudience(spangate.ProviderBitbucket)},
			check: func(t *testing.T, c map[string]any) {
				if a, ok := c["aud"].([]any); !ok || len(a) != 2 {
					t.Errorf("aud = %#v", c["aud"])
				}
			},
		},
		{
			name: "sub derived from overridden claims", overrides: map[string]string{"repositoryUuid": "{r}", "stepUuid": "{s}", "deploymentEnvironmentUuid": ""},
			check: func(t *testing.T, c map[string]any) {
				if c["sub"] != "{r}:{s}" {
					t.Errorf("sub = %v", c["sub"])
				}
				if _, ok := c["deploymentEnvironmentUuid"]; ok {
					t.Error("empty override did not remove the claim")
				}
			},
		},
		{
			name: "github sub without environment", provider: spangate.ProviderGitHub, overrides: map[string]string{"environment": "", "ref": "refs/heads/dev"},
			check: func(t *testing.T, c map[string]any) {
				if c["sub"] != "repo:spangate-dev/app:ref:refs/heads/dev" {
					t.Errorf("sub = %v", c["sub"])
				}
			},
		},
		{
			name: "explicit sub kept", provider: spangate.ProviderGitLab, overrides: map[string]string{"sub": "custom", "ref": "dev"},
			check: func(t *testing.T, c map[string]any) {
				if c["sub"] != "custom" || c["ref"] != "dev" {
					t.Errorf("sub %v ref %v", c["sub"], c["ref"])
				}
			},
		},
		{
			name: "new string claim", overrides: map[string]string{"pipelineRunUuid": "{x}", "compliant": "true"},
			check: func(t *testing.T, c map[string]any) {
				if c["pipelineRunUuid"] != "{x}" || c["compliant"] != "true" {
					t.Errorf("claims %v", c)
				}
			},
		},
		{name: "negative expiry", expiresIn: -5 * time.Minute, verifyErr: "token expired at 2026-05-04T11:55:00Z"},
		{name: "custom audience refused", audience: "https://elsewhere.example", verifyErr: "audience mismatch"},
		{name: "aud array without azp refused", overrides: map[string]string{"aud": `["x","` + s.iss.DefaultAudience(spangate.ProviderBitbucket) + `"]`}, verifyErr: "several audiences"},
		{name: "foreign iss", overrides: map[string]string{"iss": "https://evil.example"}, verifyErr: "not allowed"},
		{name: "nbf in the future", provider: spangate.ProviderGitHub, overrides: map[string]string{"nbf": "1900000000"}, verifyErr: "not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.iss.Mint(tt.provider, tt.overrides, tt.audience, tt.expiresIn)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, payload(t, tok))
			}
			_, err = s.verifier.Verify(t.Context(), tok)
			switch {
			case tt.verifyErr == "" && err != nil:
				t.Errorf("Verify: %v", err)
			case tt.verifyErr != "" && (err == nil || !strings.Contains(err.Error(), tt.verifyErr)):
				t.Errorf("Verify error = %v, want %q", err, tt.verifyErr)
			}
		})
	}
}

func TestMintRejects(t *testing.T) {
	s := newDevStack(t)
	tests := []struct {
		name      string
		provider  spangate.Provider
		overrides map[string]string
		expiresIn time.Duration
		want      string
	}{
		{"unknown provider", "jenkins", nil, 0, "unknown provider"},
		{"exp not a number", "", map[string]string{"exp": "tomorrow"}, 0, "want a number"},
		{"empty claim name", "", map[string]string{"": "x"}, 0, "empty name"},
		{"too long", "", nil, 30 * 24 * time.Hour, "beyond"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.iss.Mint(tt.provider, tt.overrides, "", tt.expiresIn)
			if err == nil || !strings.Contains(err.Error(), tt.want) || spangate.KindOf(err) != spangate.Invalid {
				t.Fatalf("Mint error = %v, want invalid %q", err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8479/dev/oidc", "ftp://x/dev/oidc", "http://x/dev/oidc?a=1"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestHandler(t *testing.T) {
	s := newDevStack(t)
	post := func(ct, body string) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := http.Post(s.srv.URL+"/dev/oidc/token", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	t.Run("JSON request", func(t *testing.T) {
		resp, m := post("application/json", `{"provider":"github","audience":"https://github.com/spangate-dev","expires_in":"-1m","claims":{"ref":"refs/heads/x","exp":1900000000,"aud":["a","b"]}}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, m)
		}
		c := payload(t, m["id_token"].(string))
		if c["ref"] != "refs/heads/x" || c["exp"] != 1900000000.0 || len(c["aud"].([]any)) != 2 {
			t.Errorf("claims %v", c)
		}
		if m["expires_at"] != "2030-03-17T17:46:40Z" {
			t.Errorf("expires_at = %v", m["expires_at"])
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Error("token response is cacheable")
		}
	})
	t.Run("form request", func(t *testing.T) {
		form := url.Values{"provider": {"gitlab"}, "expires_in": {"600"}, "claim": {"ref=dev", "project_path=g/p"}}
		resp, m := post("application/x-www-form-urlencoded", form.Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, m)
		}
		tok := m["id_token"].(string)
		c := payload(t, tok)
		if c["sub"] != "project_path:g/p:ref_type:branch:ref:dev" || c["exp"].(float64)-c["iat"].(float64) != 600 {
			t.Errorf("claims %v", c)
		}
		if _, err := s.verifier.Verify(t.Context(), tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	for _, tt := range []struct{ name, ct, body, want string }{
		{"bad JSON", "application/json", `{"provider":`, "read JSON body"},
		{"unknown field", "application/json", `{"provder":"github"}`, "unknown field"},
		{"bad provider", "application/json", `{"provider":"circleci"}`, "unknown provider"},
		{"bad expires_in", "application/json", `{"expires_in":"soon"}`, "expires_in"},
		{"bad form claim", "application/x-www-form-urlencoded", "claim=novalue", "want KEY=VALUE"},
		{"bad numeric claim", "application/json", `{"claims":{"iat":"yesterday"}}`, "want a number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := post(tt.ct, tt.body)
			e, _ := m["error"].(map[string]any)
			if resp.StatusCode != 400 || e == nil || !strings.Contains(e["message"].(string), tt.want) {
				t.Errorf("status %d body %v, want 400 with %q", resp.StatusCode, m, tt.want)
			}
		})
	}
	t.Run("discovery and keys", func(t *testing.T) {
		resp, err := http.Get(s.srv.URL + "/dev/oidc/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if d["issuer"] != s.iss.URL() || d["jwks_uri"] != s.iss.URL()+"/keys" {
			t.Errorf("discovery %v", d)
		}
		resp, err = http.Get(s.srv.URL + "/dev/oidc/keys")
		if err != nil {
			t.Fatal(err)
		}
		var ks struct{ Keys []map[string]string }
		json.NewDecoder(resp.Body).Decode(&ks)
		resp.Body.Close()
		if len(ks.Keys) != 1 || ks.Keys[0]["kty"] != "RSA" || ks.Keys[0]["alg"] != "RS256" || ks.Keys[0]["kid"] == "" {
			t.Errorf("keys %v", ks)
		}
	})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/dev/oidc/token", 405},
		{"POST", "/dev/oidc/keys", 405},
		{"GET", "/dev/oidc/nope", 404},
		{"GET", "/dev/oidcx/keys", 404},
	} {
		req, _ := http.NewRequest(tt.method, s.srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
	}
}
