package identity

import (
	"encoding/json"
	"testing"

	"github.com/spangate/spangate"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must
// refuse with an Unauthenticated or Unavailable *spangate.Error, and must
// not echo the token.
func FuzzVerify(f *testing.F) {
	ti := newTestIssuer(f, publicKeys()...)
	v := newTestVerifier(f, ti, Options{})
	keys := testKeys()
	valid := mint(f, keys["rsa"], baseClaims(ti.srv.URL, testNow), nil)
	f.Add(valid)
	f.Add(mint(f, keys["ec"], baseClaims(ti.srv.URL, testNow), nil))
	f.Add(mint(f, keys["rsa"], baseClaims(ti.srv.URL, testNow), map[string]any{"kid": nil, "crit": []string{"x"}}))
	f.Add(b64([]byte(`{"alg":"none"}`)) + "." + b64(mustJSON(baseClaims(ti.srv.URL, testNow))) + ".")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Add(valid + "." + valid)
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(t.Context(), token)
		if err == nil {
			// Only a correctly signed token may pass; the seed is one.
			if p.Issuer != "test" || p.Subject == "" {
				t.Fatalf("accepted token gave principal %+v", p)
			}
			return
		}
		if k := spangate.KindOf(err); k != spangate.Unauthenticated && k != spangate.Unavailable {
			t.Fatalf("kind %v: %v", k, err)
		}
		if echoes(err.Error(), token) {
			t.Fatalf("error %q echoes the token", err)
		}
	})
}

// FuzzPrincipalFromClaims maps arbitrary JSON claim sets for every
// provider: it must never panic and must keep every claim.
func FuzzPrincipalFromClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"{r}:{s}","workspaceUuid":"{w}","repositoryUuid":"{r}","stepUuid":"{s}"}`))
	f.Add([]byte(`{"sub":"repo:o/r:ref:refs/heads/main","repository":"o/r","run_id":"1","repository_id":"42"}`))
	f.Add([]byte(`{"sub":"project_path:g/p","project_path":"g/p","pipeline_id":"9","ref_protected":"true"}`))
	f.Add([]byte(`{"sub":"u","email":"u@example.com","groups":["a","b",["c"],{"d":1}],"iss":7}`))
	f.Add([]byte(`{"project_id":1e308,"ref_protected":true,"sha":null}`))
	providers := []spangate.Provider{"", spangate.ProviderBitbucket, spangate.ProviderGitHub, spangate.ProviderGitLab, spangate.ProviderGeneric, "unknown"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]any
		if json.Unmarshal(data, &claims) != nil {
			return
		}
		for _, prov := range providers {
			p := PrincipalFromClaims("name", prov, claims)
			if len(p.Claims) != len(claims) {
				t.Fatalf("%s: %d claims kept of %d", prov, len(p.Claims), len(claims))
			}
			if sub, ok := claims["sub"].(string); ok && p.Subject != sub {
				t.Fatalf("%s: subject %q, want %q", prov, p.Subject, sub)
			}
			if prov == "unknown" && p.Provider != spangate.ProviderGeneric || prov != "" && prov != "unknown" && p.Provider != prov {
				t.Fatalf("provider %q, want %q", p.Provider, prov)
			}
			for k, val := range p.Attributes {
				if _, ok := claims[k]; !ok {
					t.Fatalf("%s: attribute %s=%q not from claims", prov, k, val)
				}
			}
		}
	})
}
