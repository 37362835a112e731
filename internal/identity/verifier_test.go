package identity

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/spangate/spangate"
)

func publicKeys() []jose.JSONWebKey {
	k := testKeys()
	return []jose.JSONWebKey{k["rsa"].jwk(), k["rsa2"].jwk(), k["ec"].jwk(), k["ec384"].jwk(), k["ed"].jwk()}
}

func TestVerifyAccepts(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	// The RSA key without "alg" so it may sign RS256 and PS256.
	rsaNoAlg := testKeys()["rsa"].jwk()
	rsaNoAlg.Algorithm = ""
	ti.setKeys(append(publicKeys()[1:], rsaNoAlg)...)
	v := newTestVerifier(t, ti, Options{})
	keys := testKeys()
	claims := func(mod func(map[string]any)) map[string]any {
		c := baseClaims(ti.srv.URL, testNow)
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token string
	}{
		{"RS256", mint(t, keys["rsa"], claims(nil), nil)},
		{"PS256", mint(t, keys["rsa-ps"], claims(nil), nil)},
		{"ES256", mint(t, keys["ec"], claims(nil), nil)},
		{"ES384", mint(t, keys["ec384"], claims(nil), nil)},
		{"EdDSA", mint(t, keys["ed"], claims(nil), nil)},
		{"no kid", mint(t, keys["rsa2"], claims(nil), map[string]any{"kid": nil})},
		{"aud array with azp", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["aud"] = []string{"ari:cloud:bitbucket::workspace/x", testAudience}
			c["azp"] = testAudience
		}), nil)},
		{"aud array of one", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["aud"] = []string{testAudience}
		}), nil)},
		{"expired within leeway", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["exp"] = testNow.Add(-20 * time.Second).Unix()
		}), nil)},
		{"nbf within leeway", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["nbf"] = testNow.Add(20 * time.Second).Unix()
		}), nil)},
		{"iat within leeway", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["iat"] = testNow.Add(20 * time.Second).Unix()
		}), nil)},
		{"fractional exp", mint(t, keys["rsa"], claims(func(c map[string]any) {
			c["exp"] = float64(testNow.Unix()) + 60.5
		}), nil)},
		{"unknown typ and extra header", mint(t, keys["rsa"], claims(nil), map[string]any{"typ": "at+jwt", "x5t": "abc"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Issuer != "test" || p.IssuerURL != ti.srv.URL || p.Subject != "{repo}:{step}" {
				t.Errorf("principal = %+v", p)
			}
			if p.Provider != spangate.ProviderBitbucket || p.Attributes["workspaceUuid"] != "{ws}" {
				t.Errorf("provider %q attributes %v", p.Provider, p.Attributes)
			}
			if _, ok := p.Claims["exp"].(float64); !ok {
				t.Errorf("exp claim is %T, want float64", p.Claims["exp"])
			}
		})
	}
}

// TestVerifyRefuses runs forged, tampered, malformed and mis-addressed tokens
// through Verify; each must be refused with the reason named and the token
// not echoed.
func TestVerifyRefuses(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	other := newTestIssuer(t, publicKeys()...)
	v := newTestVerifier(t, ti, Options{})
	restricted := newTestVerifier(t, other, Options{}, func(ic *IssuerConfig) { ic.Algorithms = []string{"RS256"} })
	keys := testKeys()
	rsaKey := keys["rsa"]
	claims := func(mod func(map[string]any)) map[string]any {
		c := baseClaims(ti.srv.URL, testNow)
		if mod != nil {
			mod(c)
		}
		return c
	}
	valid := mint(t, rsaKey, claims(nil), nil)
	parts := strings.Split(valid, ".")
	hdrRSA := mustJSON(map[string]any{"alg": "RS256", "kid": "rsa-1"})

	none := func(alg string) string {
		return b64(mustJSON(map[string]any{"alg": alg, "typ": "JWT"})) + "." + b64(mustJSON(claims(nil))) + "."
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hmacWith := func(alg string, secret []byte) string {
		hdr := mustJSON(map[string]any{"alg": alg, "kid": "rsa-1", "typ": "JWT"})
		input := b64(hdr) + "." + b64(mustJSON(claims(nil)))
		return input + "." + b64(signature(t, "HS256", secret, []byte(input)))
	}
	tampered := func(mod func(map[string]any)) string {
		c := claims(mod)
		return parts[0] + "." + b64(mustJSON(c)) + "." + parts[2]
	}
	attackerJWK := mustJSON(jose.JSONWebKey{Key: keys["rsaForeign"].priv.Public(), KeyID: "rsa-1"})
	var attackerJWKMap map[string]any
	json.Unmarshal(attackerJWK, &attackerJWKMap)

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  string
		kind  spangate.Kind
	}{
		{name: "empty", token: "", want: "malformed token: empty"},
		{name: "garbage", token: "not a token", want: "want 3 dot-separated parts, got 1"},
		{name: "two parts", token: parts[0] + "." + parts[1], want: "got 2"},
		{name: "extra segment", token: valid + ".AAAA", want: "got 4"},
		{name: "JWE shape", token: valid + ".AAAA.BBBB", want: "encrypted tokens"},
		{name: "huge", token: parts[0] + "." + strings.Repeat("A", 1<<20) + "." + parts[2], want: "more than the 32768 allowed"},
		{name: "truncated", token: valid[:len(valid)-10], want: "signature invalid"},
		{name: "truncated in payload", token: valid[:len(parts[0])+20], want: "want 3 dot-separated parts, got 2"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", want: "empty payload or signature"},
		{name: "bearer prefix", token: "Bearer " + valid, want: "header is not base64url"},
		{name: "padded", token: parts[0] + "==." + parts[1] + "." + parts[2], want: "header is not base64url"},
		{name: "header not JSON", token: b64([]byte("{alg:RS256")) + "." + parts[1] + "." + parts[2], want: "header is not a JSON object"},
		{name: "header JSON array", token: b64([]byte(`["RS256"]`)) + "." + parts[1] + "." + parts[2], want: "header is not a JSON object"},
		{name: "header null", token: b64([]byte(`null`)) + "." + parts[1] + "." + parts[2], want: "header is not a JSON object"},
		{name: "header without alg", token: b64([]byte(`{"kid":"rsa-1"}`)) + "." + parts[1] + "." + parts[2], want: "header has no alg"},
		{name: "alg not a string", token: b64([]byte(`{"alg":256}`)) + "." + parts[1] + "." + parts[2], want: "alg is not a string"},
		{name: "kid not a string", token: signRaw(t, "RS256", rsaKey.priv, []byte(`{"alg":"RS256","kid":1}`), mustJSON(claims(nil))), want: "kid is not a string"},
		{name: "payload not JSON", token: signRaw(t, "RS256", rsaKey.priv, hdrRSA, []byte("hello")), want: "payload is not a JSON object"},
		{name: "payload JSON string", token: signRaw(t, "RS256", rsaKey.priv, hdrRSA, []byte(`"iss"`)), want: "payload is not a JSON object"},
		{name: "payload not base64", token: parts[0] + ".*&^%." + parts[2], want: "payload is not base64url"},
		{name: "signature not base64", token: parts[0] + "." + parts[1] + ".***", want: "signature is not base64url"},
		{name: "alg none", token: none("none"), want: `algorithm "none" not allowed`},
		{name: "alg None", token: none("None"), want: `algorithm "None" not allowed`},
		{name: "alg NONE", token: none("NONE"), want: `algorithm "NONE" not allowed`},
		{name: "alg nOnE", token: none("nOnE"), want: `algorithm "nOnE" not allowed`},
		{name: "alg none with signature", token: none("none") + parts[2], want: `algorithm "none" not allowed`},
		{name: "HS256 with public key PEM", token: hmacWith("HS256", pubPEM), want: `algorithm "HS256" not allowed`},
		{name: "HS256 with public key DER", token: hmacWith("HS256", pubDER), want: `algorithm "HS256" not allowed`},
		{name: "HS384", token: hmacWith("HS384", pubPEM), want: `algorithm "HS384" not allowed`},
		{name: "hs512 lower case", token: hmacWith("hs512", pubPEM), want: `algorithm "hs512" not allowed`},
		{name: "unknown alg", token: signRaw(t, "RS256", rsaKey.priv, []byte(`{"alg":"RS1","kid":"rsa-1"}`), mustJSON(claims(nil))), want: `algorithm "RS1" not allowed`},
		{name: "ES256K", token: signRaw(t, "ES256", keys["ec"].priv, []byte(`{"alg":"ES256K","kid":"ec-1"}`), mustJSON(claims(nil))), want: `algorithm "ES256K" not allowed`},
		{name: "alg not allowed for issuer", v: restricted, token: mint(t, keys["ec"], baseClaims(other.srv.URL, testNow), nil), want: "algorithm ES256 not allowed for issuer"},
		{name: "foreign RSA key with issuer kid", token: mint(t, keys["rsaForeign"], claims(nil), nil), want: "signature invalid"},
		{name: "foreign EC key with issuer kid", token: mint(t, keys["ecForeign"], claims(nil), nil), want: "signature invalid"},
		{name: "EC signature under RSA kid", token: mint(t, keys["ec"], claims(nil), map[string]any{"kid": "rsa-1"}), want: "signature invalid"},
		{name: "RS256 under EC kid", token: mint(t, rsaKey, claims(nil), map[string]any{"kid": "ec-1"}), want: "signature invalid"},
		{name: "ES384 under ES256 kid", token: mint(t, keys["ec384"], claims(nil), map[string]any{"kid": "ec-1"}), want: "signature invalid"},
		{name: "alg swapped to PS256", token: b64(mustJSON(map[string]any{"alg": "PS256", "kid": "rsa-1"})) + "." + parts[1] + "." + parts[2], want: "signature invalid"},
		{name: "tampered sub", token: tampered(func(c map[string]any) { c["sub"] = "{other}:{step}" }), want: "signature invalid"},
		{name: "tampered exp", token: tampered(func(c map[string]any) { c["exp"] = testNow.Add(24 * time.Hour).Unix() }), want: "signature invalid"},
		{name: "signature of another token", token: parts[0] + "." + parts[1] + "." + strings.Split(mint(t, rsaKey, claims(func(c map[string]any) { c["sub"] = "x" }), nil), ".")[2], want: "signature invalid"},
		{name: "unknown kid", token: mint(t, testKey{kid: "nope", alg: "RS256", priv: rsaKey.priv}, claims(nil), nil), want: `no key with kid "nope"`},
		{name: "jku header", token: mint(t, rsaKey, claims(nil), map[string]any{"jku": "https://evil.example/keys"}), want: "header jku not allowed"},
		{name: "x5u header", token: mint(t, rsaKey, claims(nil), map[string]any{"x5u": "https://evil.example/cert"}), want: "header x5u not allowed"},
		{name: "embedded jwk", token: mint(t, keys["rsaForeign"], claims(nil), map[string]any{"jwk": attackerJWKMap}), want: "header jwk not allowed"},
		{name: "x5c header", token: mint(t, rsaKey, claims(nil), map[string]any{"x5c": []string{"MIIB"}}), want: "header x5c not allowed"},
		{name: "crit header", token: mint(t, rsaKey, claims(nil), map[string]any{"crit": []string{"exp"}, "exp": 1}), want: "header crit not allowed"},
		{name: "crit b64", token: mint(t, rsaKey, claims(nil), map[string]any{"crit": []string{"b64"}, "b64": false}), want: "header crit not allowed"},
		{name: "wrong issuer", token: mint(t, rsaKey, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil), want: `issuer "https://evil.example" not allowed`},
		{name: "issuer with trailing slash", token: mint(t, rsaKey, claims(func(c map[string]any) { c["iss"] = ti.srv.URL + "/" }), nil), want: "not allowed"},
		{name: "no issuer", token: mint(t, rsaKey, claims(func(c map[string]any) { delete(c, "iss") }), nil), want: "no iss claim"},
		{name: "issuer not a string", token: mint(t, rsaKey, claims(func(c map[string]any) { c["iss"] = 7 }), nil), want: "no iss claim"},
		{name: "wrong audience", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = "https://other.example" }), nil), want: `audience mismatch: token has ["https://other.example"], want one of ["https://gateway.example.com"]`},
		{name: "audience array without ours", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), nil), want: `token has ["a" "b"]`},
		{name: "audience empty array", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = []string{} }), nil), want: "audience mismatch"},
		{name: "audience is a number", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = 1 }), nil), want: "claim aud is not a string"},
		{name: "audience array with number", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = []any{testAudience, 1} }), nil), want: "claim aud is not a string"},
		{name: "no audience", token: mint(t, rsaKey, claims(func(c map[string]any) { delete(c, "aud") }), nil), want: "no aud claim"},
		{name: "audience case differs", token: mint(t, rsaKey, claims(func(c map[string]any) { c["aud"] = strings.ToUpper(testAudience) }), nil), want: "audience mismatch"},
		{name: "expired", token: mint(t, rsaKey, claims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Hour).Unix() }), nil), want: "token expired at 2026-05-04T11:00:00Z"},
		{name: "expired just past leeway", token: mint(t, rsaKey, claims(func(c map[string]any) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }), nil), want: "token expired at"},
		{name: "no exp", token: mint(t, rsaKey, claims(func(c map[string]any) { delete(c, "exp") }), nil), want: "no exp claim"},
		{name: "exp a string", token: mint(t, rsaKey, claims(func(c map[string]any) { c["exp"] = "9999999999" }), nil), want: "claim exp is not a number"},
		{name: "exp huge", token: mint(t, rsaKey, claims(func(c map[string]any) { c["exp"] = 1e300 }), nil), want: "claim exp is out of range"},
		{name: "not yet valid", token: mint(t, rsaKey, claims(func(c map[string]any) { c["nbf"] = testNow.Add(time.Hour).Unix() }), nil), want: "token not valid before 2026-05-04T13:00:00Z"},
		{name: "nbf a string", token: mint(t, rsaKey, claims(func(c map[string]any) { c["nbf"] = "0" }), nil), want: "claim nbf is not a number"},
		{name: "issued in the future", token: mint(t, rsaKey, claims(func(c map[string]any) { c["iat"] = testNow.Add(10 * time.Minute).Unix() }), nil), want: "token issued in the future, at 2026-05-04T12:10:00Z"},
		{name: "iat a bool", token: mint(t, rsaKey, claims(func(c map[string]any) { c["iat"] = true }), nil), want: "claim iat is not a number"},
		{name: "no sub", token: mint(t, rsaKey, claims(func(c map[string]any) { delete(c, "sub") }), nil), want: "no sub claim"},
		{name: "sub not a string", token: mint(t, rsaKey, claims(func(c map[string]any) { c["sub"] = 5 }), nil), want: "claim sub is not a non-empty string"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ver := v
			if tt.v != nil {
				ver = tt.v
			}
			p, err := ver.Verify(t.Context(), tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", p)
			}
			var se *spangate.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *spangate.Error", err, err)
			}
			wantKind := tt.kind
			if wantKind == spangate.Internal {
				wantKind = spangate.Unauthenticated
			}
			if se.Kind != wantKind {
				t.Errorf("kind = %v, want %v (%v)", se.Kind, wantKind, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if echoes(err.Error(), tt.token) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

// echoes reports whether msg contains any dot-separated part of token long
// enough to matter.
func echoes(msg, token string) bool {
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(msg, part) {
			return true
		}
	}
	return len(token) >= 16 && strings.Contains(msg, token)
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	good := IssuerConfig{Name: "a", URL: "https://issuer.example", Audiences: []string{"x"}}
	with := func(mod func(*IssuerConfig)) []IssuerConfig {
		c := good
		mod(&c)
		return []IssuerConfig{c}
	}
	tests := []struct {
		name    string
		issuers []IssuerConfig
		opts    Options
		want    string
	}{
		{"no issuers", nil, Options{}, "no issuers"},
		{"no name", with(func(c *IssuerConfig) { c.Name = "" }), Options{}, "issuers[0]: name is empty"},
		{"bad scheme", with(func(c *IssuerConfig) { c.URL = "ftp://x" }), Options{}, "scheme"},
		{"no host", with(func(c *IssuerConfig) { c.URL = "https:///x" }), Options{}, "want scheme://host"},
		{"query", with(func(c *IssuerConfig) { c.URL = "https://x/?a=b" }), Options{}, "without user, query or fragment"},
		{"no audiences", with(func(c *IssuerConfig) { c.Audiences = nil }), Options{}, "no audiences"},
		{"empty audience", with(func(c *IssuerConfig) { c.Audiences = []string{""} }), Options{}, "empty audience"},
		{"HS256 algorithm", with(func(c *IssuerConfig) { c.Algorithms = []string{"HS256"} }), Options{}, `algorithm "HS256" not allowed`},
		{"unknown provider", with(func(c *IssuerConfig) { c.Provider = "jenkins" }), Options{}, "unknown provider"},
		{"bad jwks url", with(func(c *IssuerConfig) { c.JWKSURL = "file:///etc/keys" }), Options{}, "jwks url"},
		{"duplicate name", []IssuerConfig{good, {Name: "a", URL: "https://other.example", Audiences: []string{"x"}}}, Options{}, "duplicate name"},
		{"duplicate url", []IssuerConfig{good, {Name: "b", URL: good.URL, Audiences: []string{"x"}}}, Options{}, "duplicate url"},
		{"leeway too large", []IssuerConfig{good}, Options{Leeway: 3 * time.Minute}, "exceeds the maximum"},
		{"negative leeway", []IssuerConfig{good}, Options{Leeway: -time.Second}, "negative"},
		{"negative cooldown", []IssuerConfig{good}, Options{JWKSRefreshCooldown: -time.Second}, "negative"},
		{"negative max lifetime", []IssuerConfig{good}, Options{MaxTokenLifetime: -time.Second}, "lifetime -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.issuers, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier error = %v, want %q", err, tt.want)
			}
			if spangate.KindOf(err) != spangate.Invalid {
				t.Errorf("kind = %v, want invalid", spangate.KindOf(err))
			}
		})
	}
}

func TestIssuerByURL(t *testing.T) {
	v, err := NewVerifier([]IssuerConfig{
		{Name: "bb", URL: "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc", Audiences: []string{"a"}},
		{Name: "dev", URL: "http://127.0.0.1:8479/dev/oidc", Audiences: []string{"b"}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := v.IssuerByURL("http://127.0.0.1:8479/dev/oidc")
	if !ok || got.Name != "dev" || got.Provider != "" {
		t.Errorf("IssuerByURL(dev) = %+v, %v", got, ok)
	}
	got.Audiences[0] = "changed"
	if again, _ := v.IssuerByURL("http://127.0.0.1:8479/dev/oidc"); again.Audiences[0] != "b" {
		t.Error("IssuerByURL returned a shared slice")
	}
	if got, ok := v.IssuerByURL("https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"); !ok || got.Provider != spangate.ProviderBitbucket {
		t.Errorf("bitbucket issuer provider = %q, want inferred bitbucket", got.Provider)
	}
	if _, ok := v.IssuerByURL("https://evil.example"); ok {
		t.Error("IssuerByURL found an unknown issuer")
	}
}

// TestKeyFetchFailures checks that an issuer whose keys cannot be had makes
// Verify fail as Unavailable, with the cause.
func TestKeyFetchFailures(t *testing.T) {
	rsaKey := testKeys()["rsa"]
	tests := []struct {
		name  string
		setup func(ti *testIssuer)
		want  string
		kind  spangate.Kind
	}{
		{"jwks 500", func(ti *testIssuer) { ti.status = 500 }, "HTTP 500", spangate.Unavailable},
		{"jwks not JSON", func(ti *testIssuer) { ti.jwksBody = []byte("<html>") }, "not a JSON key set", spangate.Unavailable},
		{"jwks too large", func(ti *testIssuer) {
			ti.jwksBody = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`)
		}, "too large", spangate.Unavailable},
		{"only symmetric keys", func(ti *testIssuer) {
			ti.keys = []jose.JSONWebKey{{Key: []byte("secretsecretsecretsecretsecret!!"), KeyID: "rsa-1", Algorithm: "HS256"}}
		}, `no key with kid "rsa-1"`, spangate.Unauthenticated},
		{"short RSA key", func(ti *testIssuer) {
			short, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				panic(err)
			}
			ti.keys = []jose.JSONWebKey{{Key: short.Public(), KeyID: "rsa-1"}}
		}, `no key with kid "rsa-1"`, spangate.Unauthenticated},
		{"encryption key", func(ti *testIssuer) {
			k := rsaKey.jwk()
			k.Use = "enc"
			ti.keys = []jose.JSONWebKey{k}
		}, `no key with kid "rsa-1"`, spangate.Unauthenticated},
		{"key for another alg", func(ti *testIssuer) {
			k := rsaKey.jwk()
			k.Algorithm = "PS256"
			ti.keys = []jose.JSONWebKey{k}
		}, "signature invalid", spangate.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ti := newTestIssuer(t)
			tt.setup(ti)
			v := newTestVerifier(t, ti, Options{})
			_, err := v.Verify(t.Context(), mint(t, rsaKey, baseClaims(ti.srv.URL, testNow), nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify error = %v, want %q", err, tt.want)
			}
			if k := spangate.KindOf(err); k != tt.kind {
				t.Errorf("kind = %v, want %v", k, tt.kind)
			}
		})
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	// Trust the issuer under a different spelling of its URL: the discovery
	// document names the real one, so discovery must fail.
	alias := strings.Replace(ti.srv.URL, "127.0.0.1", "localhost", 1)
	v, err := NewVerifier([]IssuerConfig{{Name: "alias", URL: alias, Audiences: []string{testAudience}}}, Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), mint(t, testKeys()["rsa"], baseClaims(alias, testNow), nil))
	if err == nil || !strings.Contains(err.Error(), "discovery") || spangate.KindOf(err) != spangate.Unavailable {
		t.Fatalf("Verify error = %v, want an unavailable discovery error", err)
	}
}

func TestConfiguredJWKSURLSkipsDiscovery(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	v := newTestVerifier(t, ti, Options{}, func(ic *IssuerConfig) { ic.JWKSURL = ti.srv.URL + "/keys" })
	if _, err := v.Verify(t.Context(), mint(t, testKeys()["rsa"], baseClaims(ti.srv.URL, testNow), nil)); err != nil {
		t.Fatal(err)
	}
	if n := ti.discovery.Load(); n != 0 {
		t.Errorf("discovery fetched %d times, want 0", n)
	}
}

// TestRotation checks that a new key is picked up once the cooldown allows a
// fetch, and that a removed key stops being trusted once the cached keys are
// older than KeyMaxAge.
func TestRotation(t *testing.T) {
	keys := testKeys()
	ti := newTestIssuer(t, keys["rsa"].jwk())
	clock := &fakeClock{t: testNow}
	v := newTestVerifier(t, ti, Options{Now: clock.Now, JWKSRefreshCooldown: time.Minute, KeyMaxAge: time.Hour})
	verify := func(k testKey) error {
		_, err := v.Verify(t.Context(), mint(t, k, baseClaims(ti.srv.URL, clock.Now()), nil))
		return err
	}
	if err := verify(keys["rsa"]); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	ti.setKeys(keys["rsa"].jwk(), keys["rsa2"].jwk())
	if err := verify(keys["rsa2"]); err == nil || !strings.Contains(err.Error(), "no key with kid") {
		t.Fatalf("new key within cooldown: err = %v, want unknown kid", err)
	}
	clock.Advance(61 * time.Second)
	if err := verify(keys["rsa2"]); err != nil {
		t.Fatalf("new key after cooldown: %v", err)
	}
	ti.setKeys(keys["rsa2"].jwk())
	if err := verify(keys["rsa"]); err != nil {
		t.Fatalf("removed key is still trusted until the keys age out: %v", err)
	}
	clock.Advance(time.Hour)
	if err := verify(keys["rsa"]); err == nil {
		t.Fatal("removed key still trusted after KeyMaxAge")
	}
	if err := verify(keys["rsa2"]); err != nil {
		t.Fatalf("current key after refresh: %v", err)
	}
	if n := ti.jwks.Load(); n != 3 {
		t.Errorf("JWKS fetched %d times, want 3", n)
	}
}

// TestRefreshFailureKeepsKeys checks that a failed refresh keeps the keys
// already fetched.
func TestRefreshFailureKeepsKeys(t *testing.T) {
	ti := newTestIssuer(t, testKeys()["rsa"].jwk())
	clock := &fakeClock{t: testNow}
	v := newTestVerifier(t, ti, Options{Now: clock.Now, KeyMaxAge: time.Minute})
	tok := func() string { return mint(t, testKeys()["rsa"], baseClaims(ti.srv.URL, clock.Now()), nil) }
	if _, err := v.Verify(t.Context(), tok()); err != nil {
		t.Fatal(err)
	}
	ti.mu.Lock()
	ti.status = 503
	ti.mu.Unlock()
	clock.Advance(2 * time.Minute)
	if _, err := v.Verify(t.Context(), tok()); err != nil {
		t.Fatalf("verify during issuer outage with cached key: %v", err)
	}
	if n := ti.jwks.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

// TestSingleFlight checks that concurrent callers on a cold cache share one
// discovery and one JWKS fetch.
func TestSingleFlight(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	ti.delay = 100 * time.Millisecond
	v := newTestVerifier(t, ti, Options{})
	token := mint(t, testKeys()["rsa"], baseClaims(ti.srv.URL, testNow), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), token); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d, j := ti.discovery.Load(), ti.jwks.Load(); d != 1 || j != 1 {
		t.Errorf("discovery %d, JWKS %d fetches; want 1 and 1", d, j)
	}
}

// TestWaitHonoursContext checks that a caller waiting for a slow fetch can
// give up without failing the fetch for others.
func TestWaitHonoursContext(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	ti.delay = 300 * time.Millisecond
	v := newTestVerifier(t, ti, Options{})
	token := mint(t, testKeys()["rsa"], baseClaims(ti.srv.URL, testNow), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, token); err == nil || spangate.KindOf(err) != spangate.Unavailable {
		t.Fatalf("Verify with short deadline: %v", err)
	}
	// The fetch went on; a patient caller gets the keys.
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	if n := ti.jwks.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

// TestKidFlood sends 10,000 tokens with random unknown kids, from many
// goroutines: the issuer must see at most one JWKS fetch per cooldown window.
func TestKidFlood(t *testing.T) {
	for _, cooldown := range []time.Duration{DefaultJWKSRefreshCooldown, 200 * time.Millisecond} {
		t.Run(fmt.Sprint("cooldown ", cooldown), func(t *testing.T) {
			ti := newTestIssuer(t, publicKeys()...)
			v := newTestVerifier(t, ti, Options{JWKSRefreshCooldown: cooldown, Now: time.Now})
			payload := b64(mustJSON(baseClaims(ti.srv.URL, time.Now())))
			sig := strings.Split(mint(t, testKeys()["rsa"], baseClaims(ti.srv.URL, time.Now()), nil), ".")[2]
			const n, workers = 10_000, 32
			tokens := make(chan string, n)
			for i := range n {
				hdr := b64(mustJSON(map[string]any{"alg": "RS256", "kid": fmt.Sprintf("kid-%d-%x", i, i*7919)}))
				tokens <- hdr + "." + payload + "." + sig
			}
			close(tokens)
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			other := 0
			for range workers {
				wg.Go(func() {
					for tok := range tokens {
						_, err := v.Verify(t.Context(), tok)
						if err == nil || !strings.Contains(err.Error(), "no key with kid") {
							mu.Lock()
							other++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			if other > 0 {
				t.Errorf("%d tokens refused for another reason", other)
			}
			windows := int64(elapsed/cooldown) + 1
			if got := ti.jwks.Load(); got > windows {
				t.Errorf("%d JWKS fetches in %s with cooldown %s; want at most %d", got, elapsed, cooldown, windows)
			}
			t.Logf("%d tokens in %s: %d JWKS fetches, %d discovery fetches", n, elapsed, ti.jwks.Load(), ti.discovery.Load())
		})
	}
}

func TestPrincipalClaimsAreCopied(t *testing.T) {
	claims := map[string]any{"sub": "a", "email": "a@example.com"}
	p := PrincipalFromClaims("okta", "", claims)
	p.Claims["sub"] = "changed"
	if claims["sub"] != "a" {
		t.Error("PrincipalFromClaims shares the caller's map")
	}
	if !maps.Equal(p.Attributes, map[string]string{"sub": "a", "email": "a@example.com"}) {
		t.Errorf("attributes = %v", p.Attributes)
	}
}
