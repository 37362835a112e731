package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testKey is a signing key with the kid and algorithm it signs with.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// jwk returns the public JWK of the key.
func (k testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

// testKeys generates the keys once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() map[string]testKey {
	must := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			panic(err)
		}
		return k
	}
	rsa1 := must(rsa.GenerateKey(rand.Reader, 2048))
	rsa2 := must(rsa.GenerateKey(rand.Reader, 2048))
	rsaForeign := must(rsa.GenerateKey(rand.Reader, 2048))
	ec256 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	ec384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	ecForeign := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]testKey{
		"rsa":        {kid: "rsa-1", alg: "RS256", priv: rsa1},
		"rsa-ps":     {kid: "rsa-1", alg: "PS256", priv: rsa1},
		"rsa2":       {kid: "rsa-2", alg: "RS256", priv: rsa2},
		"rsaForeign": {kid: "rsa-1", alg: "RS256", priv: rsaForeign},
		"ec":         {kid: "ec-1", alg: "ES256", priv: ec256},
		"ec384":      {kid: "ec-384", alg: "ES384", priv: ec384},
		"ecForeign":  {kid: "ec-1", alg: "ES256", priv: ecForeign},
		"ed":         {kid: "ed-1", alg: "EdDSA", priv: ed},
	}
})

// testIssuer is an httptest OIDC issuer that counts its fetches.
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []jose.JSONWebKey
	jwksBody  []byte // overrides the key set when set
	delay     time.Duration
	status    int
	discovery atomic.Int64
	jwks      atomic.Int64
}

func newTestIssuer(t testing.TB, keys ...jose.JSONWebKey) *testIssuer {
	t.Helper()
	ti := &testIssuer{keys: keys, status: http.StatusOK}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discovery.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                ti.srv.URL,
			"jwks_uri":                              ti.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwks.Add(1)
		ti.mu.Lock()
		delay, status, body := ti.delay, ti.status, ti.jwksBody
		if body == nil {
			var err error
			body, err = json.Marshal(jose.JSONWebKeySet{Keys: ti.keys})
			if err != nil {
				panic(err)
			}
		}
		ti.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) setKeys(keys ...jose.JSONWebKey) {
	ti.mu.Lock()
	ti.keys = keys
	ti.mu.Unlock()
}

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testNow is the fixed time tests mint and verify at.
var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

const testAudience = "https://gateway.example.com"

// baseClaims returns a valid claim set for iss.
func baseClaims(iss string, now time.Time) map[string]any {
	return map[string]any{
		"iss":           iss,
		"aud":           testAudience,
		"sub":           "{repo}:{step}",
		"iat":           now.Unix(),
		"exp":           now.Add(5 * time.Minute).Unix(),
		"workspaceUuid": "{ws}", "repositoryUuid": "{repo}", "stepUuid": "{step}",
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signRaw builds a compact JWS over the given header and payload bytes with
// priv, using alg's primitive (whatever the header says).
func signRaw(t testing.TB, alg string, priv any, hdr, payload []byte) string {
	t.Helper()
	input := b64(hdr) + "." + b64(payload)
	return input + "." + b64(signature(t, alg, priv, []byte(input)))
}

func signature(t testing.TB, alg string, priv any, input []byte) []byte {
	t.Helper()
	hashOf := func(h hash.Hash) []byte { h.Write(input); return h.Sum(nil) }
	var (
		sig []byte
		err error
	)
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, hashOf(sha256.New()))
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), crypto.SHA256, hashOf(sha256.New()), nil)
	case "ES256", "ES384":
		k := priv.(*ecdsa.PrivateKey)
		h := hashOf(sha256.New())
		if alg == "ES384" {
			h = hashOf(sha512.New384())
		}
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, h)
		if err == nil {
			size := (k.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	case "EdDSA":
		sig = ed25519.Sign(priv.(ed25519.PrivateKey), input)
	case "HS256":
		m := hmac.New(sha256.New, priv.([]byte))
		m.Write(input)
		sig = m.Sum(nil)
	default:
		t.Fatalf("signature: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// mint signs claims with k, putting alg and kid in the header plus extra.
func mint(t testing.TB, k testKey, claims map[string]any, extra map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "JWT"}
	for name, v := range extra {
		if v == nil {
			delete(hdr, name)
		} else {
			hdr[name] = v
		}
	}
	return signRaw(t, k.alg, k.priv, mustJSON(hdr), mustJSON(claims))
}

// newTestVerifier returns a verifier trusting ti at a fixed clock.
func newTestVerifier(t testing.TB, ti *testIssuer, opts Options, mod ...func(*IssuerConfig)) *Verifier {
	t.Helper()
	ic := IssuerConfig{Name: "test", URL: ti.srv.URL, Audiences: []string{testAudience}}
	for _, m := range mod {
		m(&ic)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier([]IssuerConfig{ic}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
