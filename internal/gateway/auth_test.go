package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/gateway"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTokenExchange(t *testing.T) {
	st := newStack(t)
	cfg := st.config(t, func(c *config.Config) { c.SessionTTL = 20 * time.Minute })
	h := st.server(t, cfg, nil).Handler()
	c := &client{t: t, h: h}
	r := c.exchange(st.iss.mint(t, repoAdmin, nil))
	wantStatus(t, "exchange", r, 200)
	var tr gateway.TokenResponse
	r.decode(t, &tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 1200 || tr.IssuedTokenType != gateway.TokenTypeJWT || tr.AccessToken == "" {
		t.Fatalf("token response = %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}

	good := st.iss.mint(t, repoAdmin, nil)
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {gateway.GrantTypeTokenExchange}, "subject_token": {good}, "subject_token_type": {gateway.TokenTypeJWT}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v.Encode()
	}
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"jwt token type", form(), "application/x-www-form-urlencoded", 200, ""},
		{"json body", `{"subject_token":"x"}`, "application/json", 400, "invalid"},
		{"wrong grant", form("grant_type", "client_credentials"), "application/x-www-form-urlencoded", 400, "invalid"},
		{"wrong token type", form("subject_token_type", "urn:ietf:params:oauth:token-type:saml2"), "application/x-www-form-urlencoded", 400, "invalid"},
		{"no token", form("subject_token", ""), "application/x-www-form-urlencoded", 400, "invalid"},
		{"garbage token", form("subject_token", "a.b.c"), "application/x-www-form-urlencoded", 401, "unauthenticated"},
		{"wrong audience", form("subject_token", st.iss.mint(t, repoAdmin, map[string]string{"aud": "https://elsewhere.example"})), "application/x-www-form-urlencoded", 401, "unauthenticated"},
		{"expired CI token", form("subject_token", mintExpired(t, st)), "application/x-www-form-urlencoded", 401, "unauthenticated"},
		{"session token as subject", form("subject_token", tr.AccessToken), "application/x-www-form-urlencoded", 401, "unauthenticated"},
		{"too large", form("subject_token", strings.Repeat("a", 70<<10)), "application/x-www-form-urlencoded", 413, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", "/v1/token", strings.NewReader(tt.body), tt.ctype)
			wantStatus(t, tt.name, r, tt.status)
			if tt.code != "" {
				if e := r.errBody(t); e.Code != tt.code {
					t.Errorf("code = %q, want %q", e.Code, tt.code)
				}
			}
		})
	}
}

func mintExpired(t testing.TB, st *stack) string {
	t.Helper()
	tok, err := st.iss.Mint("github", map[string]string{"repository": repoAdmin}, "", -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBearerRefusals: every refused bearer is 401 with the reason and a
// WWW-Authenticate header, and nothing else.
func TestBearerRefusals(t *testing.T) {
	st := newStack(t)
	clk := newClock()
	cfg := st.config(t, func(c *config.Config) { c.SessionTTL = 10 * time.Minute })
	h := st.server(t, cfg, clk.now).Handler()
	session := login(t, h, st.iss.mint(t, repoAdmin, nil)).token

	other := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "k1", Secret: key2}}
	}), nil).Handler()
	foreignSameKid := login(t, other, st.iss.mint(t, repoAdmin, nil)).token
	other2 := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "k9", Secret: key2}}
	}), nil).Handler()
	foreignKid := login(t, other2, st.iss.mint(t, repoAdmin, nil)).token
	otherAud := st.server(t, st.config(t, func(c *config.Config) { c.SessionAudience = "https://other.example" }), nil).Handler()
	foreignAud := login(t, otherAud, st.iss.mint(t, repoAdmin, nil)).token

	// A CI token works directly as a bearer.
	direct := &client{t: t, h: h, token: st.iss.mint(t, repoAdmin, nil)}
	wantStatus(t, "CI token as bearer", direct.get("/v1/databases"), 200)
	wantStatus(t, "session token", (&client{t: t, h: h, token: session}).get("/v1/databases"), 200)

	tests := []struct {
		name, token, reason string
	}{
		{"no token", "", "no bearer token"},
		{"session from another gateway's key", foreignSameKid, "signature does not verify"},
		{"session from an unknown key", foreignKid, `key "k9"`},
		{"session for another audience", foreignAud, "audience"},
		{"tampered session", tamper(session), "signature"},
		{"CI token with the wrong audience", st.iss.mint(t, repoAdmin, map[string]string{"aud": "https://elsewhere.example"}), "audience"},
		{"expired CI token", mintExpired(t, st), "expired"},
		{"garbage", "not-a-token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&client{t: t, h: h, token: tt.token}).get("/v1/databases")
			wantStatus(t, tt.name, r, http.StatusUnauthorized)
			e := r.errBody(t)
			if e.Code != "unauthenticated" || !strings.Contains(e.Message, tt.reason) {
				t.Errorf("error = %+v; want unauthenticated with %q", e, tt.reason)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
		})
	}

	// The session expires after session_ttl (and the leeway).
	clk.advance(11 * time.Minute)
	r := (&client{t: t, h: h, token: session}).get("/v1/databases")
	wantStatus(t, "expired session", r, http.StatusUnauthorized)
	if e := r.errBody(t); !strings.Contains(e.Message, "expired") {
		t.Errorf("expired session: %+v", e)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b := []byte(parts[1])
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	parts[1] = string(b)
	return strings.Join(parts, ".")
}

// TestKeyRotation: a session signed with the old key still verifies where
// the old key is listed second; the new key signs.
func TestKeyRotation(t *testing.T) {
	st := newStack(t)
	old := st.server(t, st.config(t, nil), nil).Handler() // k1 only
	rotated := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "k2", Secret: key2}, {ID: "k1", Secret: key1}}
	}), nil).Handler()
	retired := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "k2", Secret: key2}}
	}), nil).Handler()

	oldSession := login(t, old, st.iss.mint(t, repoAdmin, nil)).token
	newSession := login(t, rotated, st.iss.mint(t, repoAdmin, nil)).token
	check := func(name string, h http.Handler, tok string, want int) {
		t.Helper()
		wantStatus(t, name, (&client{t: t, h: h, token: tok}).get("/v1/databases"), want)
	}
	check("old session on the rotated gateway", rotated, oldSession, 200)
	check("new session on the rotated gateway", rotated, newSession, 200)
	check("new session on a gateway not yet rotated", old, newSession, 401)
	check("new session once k1 is retired", retired, newSession, 200)
	check("old session once k1 is retired", retired, oldSession, 401)
}

// TestKeyFile reads a session key from a file, and refuses a short one.
func TestKeyFile(t *testing.T) {
	st := newStack(t)
	dir := t.TempDir()
	good, short := dir+"/good", dir+"/short"
	writeFile(t, good, key2+"\n")
	writeFile(t, short, "c2hvcnQ=")
	h := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "f", File: good}}
	}), nil).Handler()
	rotated := st.server(t, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "k9", Secret: key1}, {ID: "f", Secret: key2}}
	}), nil).Handler()
	tok := login(t, h, st.iss.mint(t, repoAdmin, nil)).token
	wantStatus(t, "file key session on an inline-key gateway", (&client{t: t, h: rotated, token: tok}).get("/v1/databases"), 200)

	_, err := gatewayNew(t, st, st.config(t, func(c *config.Config) {
		c.SessionKeys = []config.SessionKey{{ID: "s", File: short}}
	}))
	if err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Errorf("New with a short key file: %v", err)
	}
}
