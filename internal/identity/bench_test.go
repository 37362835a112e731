package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// benchToken returns a verifier with its keys cached and an RS256 token
// (2048-bit key) it accepts: the steady state of a gateway. The token has
// the claims of a Bitbucket Pipelines token, or with github those of a
// GitHub Actions token, the largest of the CI systems'.
func benchToken(b *testing.B, github bool) (*Verifier, string) {
	ti := newTestIssuer(b, publicKeys()...)
	v := newTestVerifier(b, ti, Options{})
	claims := baseClaims(ti.srv.URL, testNow)
	claims["branchName"] = "main"
	claims["pipelineUuid"] = "{4a8b7e0e-3b6f-4f7c-9d8e-1c2b3a4d5e6f}"
	if github {
		claims = githubClaims(ti.srv.URL, testNow)
	}
	token := mint(b, testKeys()["rsa"], claims, nil)
	if _, err := v.Verify(b.Context(), token); err != nil {
		b.Fatal(err)
	}
	return v, token
}

// BenchmarkVerifyRS256 measures Verify of an RS256 token whose key is
// already cached. Its anchor is BenchmarkRawRSAVerify: the target is at
// most 1.5 times the raw RSA verification of the same key.
func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, false) }

// BenchmarkVerifyRS256GitHub is BenchmarkVerifyRS256 with the 30 claims of
// a GitHub Actions token.
func BenchmarkVerifyRS256GitHub(b *testing.B) { benchVerify(b, true) }

func benchVerify(b *testing.B, github bool) {
	v, token := benchToken(b, github)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSAVerify is the anchor of BenchmarkVerifyRS256: the SHA-256
// and rsa.VerifyPKCS1v15 of the same token with the same key, nothing else.
func BenchmarkRawRSAVerify(b *testing.B) {
	_, token := benchToken(b, false)
	pub := testKeys()["rsa"].priv.Public().(*rsa.PublicKey)
	i := strings.LastIndexByte(token, '.')
	input, sig := token[:i], mustDecode(b, token[i+1:])
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func mustDecode(b *testing.B, s string) []byte {
	out, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// githubClaims is the claim set of a GitHub Actions token of a deployment
// from main (the names and shapes of GitHub's; the values made up).
func githubClaims(iss string, now time.Time) map[string]any {
	const sha = "3f786850e387550fdab836ed7e6dc881de23001b"
	const workflow = "acme/app/.github/workflows/deploy.yml@refs/heads/main"
	return map[string]any{
		"iss": iss, "aud": testAudience,
		"sub": "repo:acme/app:environment:production",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti":                   "6f0c1a8e-4b7d-4e2a-9c3f-2d1e0b9a8c7d",
		"ref":                   "refs/heads/main",
		"ref_type":              "branch",
		"ref_protected":         "true",
		"sha":                   sha,
		"repository":            "acme/app",
		"repository_id":         "690000001",
		"repository_owner":      "acme",
		"repository_owner_id":   "700000001",
		"repository_visibility": "private",
		"run_id":                "9876543210",
		"run_number":            "42",
		"run_attempt":           "1",
		"actor":                 "octocat",
		"actor_id":              "700000002",
		"workflow":              "deploy",
		"workflow_ref":          workflow,
		"workflow_sha":          sha,
		"job_workflow_ref":      workflow,
		"job_workflow_sha":      sha,
		"event_name":            "push",
		"head_ref":              "",
		"base_ref":              "",
		"environment":           "production",
		"runner_environment":    "github-hosted",
	}
}
