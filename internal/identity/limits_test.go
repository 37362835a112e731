package identity

import (
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
)

// TestTokenLimits: the maximum token lifetime, the azp check of tokens for
// several audiences and the clock leeway, each with tokens signed by the
// httptest issuer's real keys and verified at a fixed clock.
func TestTokenLimits(t *testing.T) {
	ti := newTestIssuer(t, publicKeys()...)
	key := testKeys()["rsa"]
	token := func(mod func(map[string]any)) string {
		c := baseClaims(ti.srv.URL, testNow)
		mod(c)
		return mint(t, key, c, nil)
	}
	lifetime := func(iat time.Time, d time.Duration) func(map[string]any) {
		return func(c map[string]any) {
			c["iat"], c["exp"] = iat.Unix(), iat.Add(d).Unix()
		}
	}
	noIat := func(exp time.Time) func(map[string]any) {
		return func(c map[string]any) { delete(c, "iat"); c["exp"] = exp.Unix() }
	}
	aud := func(azp any, auds ...string) func(map[string]any) {
		return func(c map[string]any) {
			c["aud"] = auds
			if azp != nil {
				c["azp"] = azp
			}
		}
	}
	const other = "https://other-service.example.com"
	tests := []struct {
		name  string
		opts  Options
		token string
		want  string // "" accepts
	}{
		// Maximum lifetime, default 24 h.
		{"lifetime 24h, the default maximum", Options{}, token(lifetime(testNow.Add(-time.Hour), 24*time.Hour)), ""},
		{"lifetime 24h+1s", Options{}, token(lifetime(testNow.Add(-time.Hour), 24*time.Hour+time.Second)), "token lifetime 24h0m1s (exp - iat) exceeds the maximum of 24h0m0s"},
		{"lifetime of years", Options{}, token(lifetime(testNow.Add(-time.Minute), 5*365*24*time.Hour)), "exceeds the maximum of 24h0m0s"},
		{"configured 1h: 1h accepted", Options{MaxTokenLifetime: time.Hour}, token(lifetime(testNow.Add(-time.Minute), time.Hour)), ""},
		{"configured 1h: 2h refused", Options{MaxTokenLifetime: time.Hour}, token(lifetime(testNow.Add(-time.Minute), 2*time.Hour)), "exceeds the maximum of 1h0m0s"},
		{"configured 48h: 30h accepted", Options{MaxTokenLifetime: 48 * time.Hour}, token(lifetime(testNow.Add(-time.Minute), 30*time.Hour)), ""},
		{"no iat, exp within the maximum", Options{}, token(noIat(testNow.Add(23 * time.Hour))), ""},
		{"no iat, exp beyond the maximum", Options{}, token(noIat(testNow.Add(25 * time.Hour))), "more than the maximum token lifetime of 24h0m0s from now"},
		{"iat in the future and exp beyond the maximum", Options{}, token(lifetime(testNow.Add(48*time.Hour), time.Hour)), "token issued in the future"},

		// azp when aud has several values.
		{"several audiences, azp is ours", Options{}, token(aud(testAudience, other, testAudience)), ""},
		{"several audiences, no azp", Options{}, token(aud(nil, other, testAudience)), "several audiences"},
		{"several audiences, azp is another party", Options{}, token(aud(other, other, testAudience)), `issued to "https://other-service.example.com" (azp), not to spangate`},
		{"several audiences, azp not a string", Options{}, token(aud([]string{testAudience}, other, testAudience)), "claim azp is not a string"},
		{"one audience in an array, no azp", Options{}, token(aud(nil, testAudience)), ""},
		{"Bitbucket: workspace audience and ours, no azp", Options{}, token(aud(nil, "ari:cloud:bitbucket::workspace/5b0e1c7a", testAudience)), ""},
		{"Bitbucket: workspace audience, ours and another party, no azp", Options{}, token(aud(nil, "ari:cloud:bitbucket::workspace/5b0e1c7a", testAudience, other)), "several audiences"},
		{"Bitbucket: workspace audience and ours, azp of another party", Options{}, token(aud(other, "ari:cloud:bitbucket::workspace/5b0e1c7a", testAudience)), "(azp), not to spangate"},
		{"not Bitbucket: a workspace-like audience is another party", Options{}, token(func(c map[string]any) {
			c["aud"] = []string{"ari:cloud:bitbucket::workspace/5b0e1c7a", testAudience}
			delete(c, "workspaceUuid")
			delete(c, "repositoryUuid")
			c["repository"], c["run_id"] = "acme/app", "1" // a GitHub claim set
		}), "several audiences"},
		{"one audience, azp of another party is not checked", Options{}, token(func(c map[string]any) { c["azp"] = "1234567890" }), ""},

		// Clock leeway, default 30 s, configurable up to MaxLeeway.
		{"expired 20s ago, default leeway", Options{}, token(func(c map[string]any) { c["exp"] = testNow.Add(-20 * time.Second).Unix() }), ""},
		{"expired 50s ago, default leeway", Options{}, token(func(c map[string]any) { c["exp"] = testNow.Add(-50 * time.Second).Unix() }), "token expired"},
		{"expired 50s ago, leeway 1m", Options{Leeway: time.Minute}, token(func(c map[string]any) { c["exp"] = testNow.Add(-50 * time.Second).Unix() }), ""},
		{"expired 20s ago, leeway 5s", Options{Leeway: 5 * time.Second}, token(func(c map[string]any) { c["exp"] = testNow.Add(-20 * time.Second).Unix() }), "token expired"},
		{"nbf 90s ahead, leeway 2m", Options{Leeway: 2 * time.Minute}, token(func(c map[string]any) { c["nbf"] = testNow.Add(90 * time.Second).Unix() }), ""},
		{"nbf 90s ahead, default leeway", Options{}, token(func(c map[string]any) { c["nbf"] = testNow.Add(90 * time.Second).Unix() }), "not valid before"},
		{"iat 10s ahead, leeway 5s", Options{Leeway: 5 * time.Second}, token(func(c map[string]any) { c["iat"] = testNow.Add(10 * time.Second).Unix() }), "issued in the future"},
		{"lifetime over the maximum by less than the leeway is still refused", Options{Leeway: time.Minute}, token(lifetime(testNow.Add(-time.Hour), 24*time.Hour+10*time.Second)), "exceeds the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, ti, tt.opts)
			p, err := v.Verify(t.Context(), tt.token)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Subject == "" {
					t.Fatalf("accepted without a subject: %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.want)
			}
			if spangate.KindOf(err) != spangate.Unauthenticated {
				t.Errorf("kind = %v, want unauthenticated", spangate.KindOf(err))
			}
		})
	}
}
