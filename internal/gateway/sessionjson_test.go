package gateway

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/spangate/spangate"
)

// claimsSamples are JSON payloads of CI tokens and of odd claim values.
var claimsSamples = []string{
	`{}`,
	`{"iss":"https://token.actions.githubusercontent.com","aud":["a","b"],"exp":1767225600,"iat":1.5,"nbf":-3e-7,"big":1e300,"tiny":5e-324}`,
	`{"s":"quote \" backslash \\ slash / <tag> & amp","ctl":"\u0000\u001f\t\n\r\b\f","uni":"é 日本 😀 \u2028\u2029","bad":"\ud800 lone"}`,
	`{"nested":{"b":[1,true,false,null,{"x":[]}],"a":{}},"null":null,"empty":"","arr":[]}`,
	`{"dup":1,"dup":2,"Z":1,"a":2,"_":3," ":4,"é":5}`,
	`{"n":0,"neg":-0,"int":9007199254740993,"frac":0.1,"exp":123456789e-20}`,
}

// TestAppendClaimsRoundTrip: claims decoded from JSON, encoded by
// appendClaims and decoded again are the same claims, and the encoding is
// valid JSON with its keys sorted like encoding/json's.
func TestAppendClaimsRoundTrip(t *testing.T) {
	for _, src := range claimsSamples {
		t.Run(src, func(t *testing.T) {
			checkAppendClaims(t, []byte(src))
		})
	}
	t.Run("other types go through encoding/json", func(t *testing.T) {
		b, err := appendClaims(nil, map[string]any{"n": 3, "m": map[string]string{"k": "v"}, "s": []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), `{"m":{"k":"v"},"n":3,"s":["x"]}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("invalid UTF-8 becomes U+FFFD", func(t *testing.T) {
		b, err := appendClaims(nil, map[string]any{"k\xff": "v\xc3"})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]any{"k\xff": "v\xc3"})
		var got, exp any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		json.Unmarshal(want, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("got %s, encoding/json writes %s", b, want)
		}
	})
}

func checkAppendClaims(t *testing.T, src []byte) {
	t.Helper()
	var claims map[string]any
	if err := json.Unmarshal(src, &claims); err != nil || claims == nil {
		return // not a claim set
	}
	b, err := appendClaims(nil, claims)
	if err != nil {
		t.Fatalf("appendClaims: %v", err)
	}
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, claims) {
		t.Fatalf("round trip changed the claims:\n in  %#v\n out %#v\n json %s", claims, back, b)
	}
	// Same bytes as encoding/json apart from the escaping of <, >, & and
	// U+2028/2029 (which encoding/json escapes) and number formatting.
	std, _ := json.Marshal(claims)
	var stdBack map[string]any
	json.Unmarshal(std, &stdBack)
	if !reflect.DeepEqual(back, stdBack) {
		t.Fatalf("differs from encoding/json: %s vs %s", b, std)
	}
}

// FuzzAppendClaims drives appendClaims with arbitrary JSON documents.
func FuzzAppendClaims(f *testing.F) {
	for _, s := range claimsSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkAppendClaims(t, src)
	})
}

// TestSessionClaimsJSON: appendSessionClaims writes what encoding/json
// writes for the same claims, with and without attributes and claims, and
// covers every field of spangate.Principal.
func TestSessionClaimsJSON(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[spangate.Principal]().Fields() {
		fields = append(fields, f.Name)
	}
	if want := []string{"Issuer", "IssuerURL", "Provider", "Subject", "Attributes", "Claims"}; !reflect.DeepEqual(fields, want) {
		t.Fatalf("spangate.Principal has fields %v; appendSessionClaims writes %v: update it", fields, want)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(claimsSamples[1]), &claims); err != nil {
		t.Fatal(err)
	}
	full := spangate.Principal{
		Issuer: "github", IssuerURL: "https://token.actions.githubusercontent.com", Provider: spangate.ProviderGitHub,
		Subject:    "repo:acme/app:ref:refs/heads/main \"<&>\"",
		Attributes: map[string]string{"repository": "acme/app", "ref": "refs/heads/main", "é": "\x01"},
		Claims:     claims,
	}
	for _, p := range []spangate.Principal{full, {Issuer: "dev", Subject: "x"}, {Attributes: map[string]string{}, Claims: map[string]any{}}} {
		c := sessionClaims{Iss: sessionIssuer, Aud: "aud \u2028", Sub: p.String(), Iat: 1, Nbf: -2, Exp: 1 << 40, Jti: "00ff", Principal: p}
		got, err := appendSessionClaims(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("appendSessionClaims:\n %s\nencoding/json:\n %s", got, want)
		}
		var back sessionClaims
		if err := strictUnmarshal(got, &back); err != nil || !reflect.DeepEqual(back.Principal.Attributes, c.Principal.Attributes) && len(c.Principal.Attributes) > 0 {
			t.Fatalf("decoding back: %v, %+v", err, back)
		}
	}
}

// TestIsSession: the typ header is recognised however it is written, and
// a CI token's header is not taken for a session's.
func TestIsSession(t *testing.T) {
	tok := func(hdr string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(hdr)) + ".e30.c2ln"
	}
	tests := []struct {
		hdr  string
		want bool
	}{
		{`{"alg":"HS256","typ":"spangate-session+jwt","kid":"k1"}`, true},
		{`{"alg":"HS256","typ":"spangate-session\u002bjwt","kid":"k1"}`, true},
		{`{"typ":"\u0073pangate-session+jwt"}`, true},
		{`{"alg":"RS256","kid":"k","typ":"JWT"}`, false},
		{`{"alg":"RS256","typ":"spangate-session+jwt2"}`, false},
		{`{"alg":"RS256","typ":"JWT","x":"spangate-session+jwt"}`, false},
		{`{"typ":"JWT\u0020"}`, false},
		{`not json spangate-session+jwt`, false},
	}
	for _, tt := range tests {
		if got := isSession(tok(tt.hdr)); got != tt.want {
			t.Errorf("isSession(%s) = %v, want %v", tt.hdr, got, tt.want)
		}
	}
}
