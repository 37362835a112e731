package identity

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// claimsCases are payloads decodeClaims must decode as encoding/json does,
// or refuse where it fails.
var claimsCases = []string{
	`{}`, ` { } `, `{"a":1}`, "{\"a\":1}\n", `{"a":1}x`, `{"a":1}{}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`,
	`{"iss":"https://x","aud":["a","b"],"exp":1767225600,"iat":1.5,"nbf":-3e-7,"big":1e300,"tiny":5e-324}`,
	`{"n":0,"neg":-0,"i":9007199254740993,"f":0.1,"e":123456789e-20,"E":1E+2}`,
	`{"n":01}`, `{"n":-}`, `{"n":1.}`, `{"n":.5}`, `{"n":1e}`, `{"n":+1}`, `{"n":1e400}`, `{"n":-1e400}`, `{"n":1e-400}`,
	`{"t":true,"f":false,"z":null}`, `{"t":tru}`, `{"t":truex}`, `{"z":nul}`, `{"z":NULL}`,
	`{"s":"quote \" backslash \\ slash \/ \b\f\n\r\t"}`, `{"s":"\x"}`, `{"s":"\u00e9\u65e5"}`, `{"s":"\u00G0"}`, `{"s":"\u00e"}`,
	`{"s":"\ud83d\ude00"}`, `{"s":"\ud83d"}`, `{"s":"\ud83d\u0041"}`, `{"s":"\ude00\ud83d"}`, `{"s":"\ud83d\n"}`, `{"s":"\ud83d\uZZZZ"}`, `{"s":"\ud83d\ud83d\ude00"}`,
	"{\"s\":\"raw \xff byte\"}", "{\"s\":\"raw \xe2\x82 cut\"}", "{\"\xff\":1}", "{\"s\":\"ctl \x01\"}", "{\"s\":\"del \x7f\"}", "{\"s\":\"\xef\xbf\xbd\"}",
	`{"s":"unterminated}`, `{"s":"esc\`,
	`{"a":[],"b":{},"c":[1,[2,[3]],{"d":[]}],"e":[1,]}`, `{"a":[1 2]}`, `{"a":[}`, `{"a":{"b":1}`,
	`{"dup":1,"dup":"two","Dup":3}`,
	`null`, `[]`, `"x"`, `1`, ``, ` `, `{`, `}`,
	"{\"a\":1}\t\r\n ", "\ufeff{}",
}

func TestDecodeClaimsMatchesEncodingJSON(t *testing.T) {
	for _, c := range claimsCases {
		t.Run(c, func(t *testing.T) { checkDecodeClaims(t, []byte(c)) })
	}
	t.Run("depth", func(t *testing.T) {
		for _, n := range []int{9999, 10000, 10001} {
			checkDecodeClaims(t, []byte(`{"a":`+strings.Repeat("[", n-1)+strings.Repeat("]", n-1)+`}`))
		}
	})
}

func checkDecodeClaims(t *testing.T, payload []byte) {
	t.Helper()
	var want map[string]any
	werr := json.Unmarshal(payload, &want)
	got, gerr := decodeClaims(payload)
	if werr != nil || want == nil {
		if gerr == nil {
			t.Fatalf("decodeClaims(%q) = %#v; encoding/json: %v, %#v", payload, got, werr, want)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("decodeClaims(%q): %v; encoding/json gives %#v", payload, gerr, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeClaims(%q) =\n %#v\nencoding/json:\n %#v", payload, got, want)
	}
}

// FuzzDecodeClaims holds decodeClaims to encoding/json on any input.
func FuzzDecodeClaims(f *testing.F) {
	for _, c := range claimsCases {
		f.Add([]byte(c))
	}
	f.Add(mustJSON(githubClaims("https://token.actions.githubusercontent.com", testNow)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkDecodeClaims(t, payload)
	})
}
