package identity

import (
	"testing"
)

// BenchmarkVerifyRS256 measures Verify of an RS256 token (2048-bit key)
// whose key is already cached: the steady state of a gateway.
func BenchmarkVerifyRS256(b *testing.B) {
	ti := newTestIssuer(b, publicKeys()...)
	v := newTestVerifier(b, ti, Options{})
	claims := baseClaims(ti.srv.URL, testNow)
	claims["branchName"] = "main"
	claims["pipelineUuid"] = "{4a8b7e0e-3b6f-4f7c-9d8e-1c2b3a4d5e6f}"
	token := mint(b, testKeys()["rsa"], claims, nil)
	if _, err := v.Verify(b.Context(), token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), token); err != nil {
			b.Fatal(err)
		}
	}
}
