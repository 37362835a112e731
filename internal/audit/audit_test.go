package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
)

func sample(i int) Entry {
	return Entry{
		At: time.Date(2025, 3, 1, 12, 0, i, 123456789, time.UTC), Principal: "github:repo:acme/orders",
		Issuer: "github", Subject: "repo:acme/orders", Attributes: map[string]string{"repository": "acme/orders", "ref": "main"},
		Run:    spangate.RunMetadata{CI: "github", Commit: "c0ffee", Pipeline: "deploy", Build: "9"},
		Action: "write", Database: "orders", Statement: "UPDATE Orders SET Note = @n WHERE Id = 1",
		Params: map[string]string{"n": ParamHasher{}.Hash("n", "x")}, Result: ResultOK, Rows: 1, Table: "Orders", Keys: []string{"[1]"},
	}
}

// chain seals n sample entries in order.
func chain(n int) []Entry {
	out := make([]Entry, n)
	prev := ""
	for i := range out {
		e := sample(i)
		e.Seq = int64(i + 1)
		e.Seal(prev)
		prev = e.Hash
		out[i] = e
	}
	return out
}

func TestEncodingCoversEveryField(t *testing.T) {
	// A field added to Entry or RunMetadata must be added to encode and the
	// encoding version bumped; this test fails until then.
	if n := reflect.TypeFor[Entry]().NumField(); n != 19 {
		t.Errorf("Entry has %d fields; encode covers 19: update encode and encodingVersion", n)
	}
	if n := reflect.TypeFor[spangate.RunMetadata]().NumField(); n != 9 {
		t.Errorf("RunMetadata has %d fields; encode covers 9: update encode and encodingVersion", n)
	}
	// Changing any single field changes the hash.
	base := sample(0)
	base.Seal("prev")
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Hash" {
			continue
		}
		e := base
		e.Attributes, e.Params, e.Keys = maps.Clone(base.Attributes), maps.Clone(base.Params), slices.Clone(base.Keys)
		f := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Map:
			f.SetMapIndex(reflect.ValueOf("new"), reflect.ValueOf("v"))
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("[2]")))
		case reflect.Struct:
			if name == "At" {
				e.At = e.At.Add(time.Microsecond)
			} else {
				e.Run.Actor = "someone"
			}
		}
		if e.ComputeHash() == base.Hash {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
}

func TestSealNormalisesTime(t *testing.T) {
	e := sample(0)
	e.At = time.Date(2025, 1, 1, 1, 0, 0, 999, time.FixedZone("x", 3600))
	e.Seal("")
	if e.At.Location() != time.UTC || e.At.Nanosecond() != 0 {
		t.Errorf("At = %v; want UTC microseconds", e.At)
	}
	stored := e
	stored.At = e.At.In(time.FixedZone("y", -7200)) // as read back from storage
	if stored.ComputeHash() != e.Hash {
		t.Error("the hash depends on the time zone")
	}
}

func TestParamHasher(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	keyed, err := NewParamHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewParamHasher([]byte("fedcba9876543210fedcba9876543210"))
	// The unkeyed form is what entries stored since the first release
	// hold: it must never change.
	golden := map[string]string{
		"id":    "sha256:edaef8d93c86cd5f85b4f0cd187cda0f62cb1876fb9dd761d1a10e01361619a9",
		"email": "sha256:37bfc92f970791b050662a442c0c8f44a664cdf11c6ad9fe4e2a141c75bf2309",
	}
	if got := (ParamHasher{}).HashAll(map[string]any{"id": int64(42), "email": "ada@example.com"}); !maps.Equal(got, golden) {
		t.Errorf("unkeyed hashes changed: %v", got)
	}
	for _, h := range []ParamHasher{{}, keyed, other} {
		a := h.Hash("id", int64(1))
		prefix, hexLen := "sha256:", 64
		if h.KeyID() != "" {
			prefix = "hmac-sha256:" + h.KeyID() + ":"
		}
		if !strings.HasPrefix(a, prefix) || len(a) != len(prefix)+hexLen {
			t.Fatalf("Hash = %q, want %s and 64 hex digits", a, prefix)
		}
		for _, o := range []string{h.Hash("other", int64(1)), h.Hash("id", "1"), h.Hash("id", int64(2))} {
			if o == a {
				t.Errorf("Hash collides: %q", o)
			}
		}
		if h.Hash("id", int64(1)) != a {
			t.Error("Hash is not deterministic")
		}
		if strings.Contains(h.Hash("pw", "hunter2"), "hunter2") {
			t.Error("raw value in hash")
		}
	}
	if keyed.KeyID() == other.KeyID() || len(keyed.KeyID()) != 8 {
		t.Errorf("key ids %q and %q", keyed.KeyID(), other.KeyID())
	}
	if strings.TrimPrefix(keyed.Hash("id", int64(42)), "hmac-sha256:"+keyed.KeyID()+":") == strings.TrimPrefix(golden["id"], "sha256:") ||
		keyed.Hash("id", int64(42)) == other.Hash("id", int64(42)) {
		t.Error("the key does not change the hash")
	}
	key[0] = 'x' // the hasher keeps its own copy
	if again, _ := NewParamHasher([]byte("0123456789abcdef0123456789abcdef")); again.Hash("id", int64(42)) != keyed.Hash("id", int64(42)) {
		t.Error("the hasher does not keep its own copy of the key")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(f, keyed); got != "ParamHasher(hmac-sha256, key "+keyed.KeyID()+")" {
			t.Errorf("%s of a keyed hasher = %q", f, got)
		}
	}
	if _, err := NewParamHasher(make([]byte, MinParamKeyBytes-1)); err == nil || !strings.Contains(err.Error(), "openssl rand") {
		t.Errorf("a short key: %v", err)
	}
}

func TestVerifier(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]Entry) []Entry
		head   func([]Entry) (int64, string)
		bad    int64 // 0: ok
	}{
		{"intact", func(c []Entry) []Entry { return c }, nil, 0},
		{"edited statement", func(c []Entry) []Entry { c[2].Statement = "DELETE FROM Orders WHERE true"; return c }, nil, 3},
		{"edited keys", func(c []Entry) []Entry { c[1].Keys = []string{"[9]"}; return c }, nil, 2},
		{"deleted middle", func(c []Entry) []Entry { return slices.Delete(c, 2, 3) }, nil, 3},
		{"deleted first", func(c []Entry) []Entry { return c[1:] }, nil, 1},
		{"deleted last (head catches it)", func(c []Entry) []Entry { return c[:4] }, nil, 5},
		{"two rows' contents swapped", func(c []Entry) []Entry {
			c[1], c[3] = c[3], c[1]
			c[1].Seq, c[3].Seq = 2, 4
			return c
		}, nil, 2},
		{"reordered", func(c []Entry) []Entry { c[1], c[2] = c[2], c[1]; return c }, nil, 2},
		{"rewritten and re-hashed, next link not fixed", func(c []Entry) []Entry {
			c[2].Statement = "UPDATE Orders SET Note = 'innocent' WHERE Id = 1"
			c[2].Seal(c[2].PrevHash)
			return c
		}, nil, 3},
		{"last rewritten and re-hashed (head catches it)", func(c []Entry) []Entry {
			c[4].Principal = "someone-else"
			c[4].Seal(c[4].PrevHash)
			return c
		}, nil, 5},
		{"re-chained after a deletion", func(c []Entry) []Entry {
			c = slices.Delete(c, 2, 3)
			for i := 2; i < len(c); i++ {
				c[i].Seal(c[i-1].Hash)
			}
			return c
		}, func(c []Entry) (int64, string) { return c[len(c)-1].Seq, c[len(c)-1].Hash }, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := chain(5)
			headSeq, headHash := orig[4].Seq, orig[4].Hash
			c := tc.tamper(chain(5))
			if tc.head != nil {
				headSeq, headHash = tc.head(c)
			}
			var v Verifier
			for _, e := range c {
				v.Add(e)
			}
			v.CheckHead(headSeq, headHash)
			r := v.Result()
			if tc.bad == 0 {
				if !r.OK || r.FirstBad != nil || r.Entries != int64(len(c)) {
					t.Fatalf("result = %+v; want ok", r)
				}
				return
			}
			if r.OK || r.FirstBad == nil || *r.FirstBad != tc.bad {
				t.Fatalf("result = %+v (%s); want first bad %d", r, r, tc.bad)
			}
			if r.Entries != int64(len(c)) || r.Problem == "" {
				t.Errorf("result = %+v", r)
			}
		})
	}
}

func TestVerifyResultJSON(t *testing.T) {
	var v Verifier
	b, _ := json.Marshal(v.Result())
	if string(b) != `{"ok":true,"entries":0,"first_bad":null}` {
		t.Errorf("json = %s", b)
	}
}

func TestEntryJSON(t *testing.T) {
	e := chain(1)[0]
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "at", "principal", "action", "statement", "table", "keys", "result", "commit", "pipeline"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, b)
		}
	}
	if m["commit"] != "c0ffee" || m["pipeline"] != "deploy#9" {
		t.Errorf("commit %v pipeline %v", m["commit"], m["pipeline"])
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ComputeHash() != e.Hash {
		t.Errorf("entry does not survive JSON: %+v", back)
	}
}

func TestKeyCandidates(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`[1, "a"]`, []string{`[1,"a"]`}},
		{`42`, []string{`[42]`, `["42"]`}},
		{`"red"`, []string{`["red"]`}},
		{`red`, []string{`["red"]`}},
		{`a<b&c`, []string{`["a<b&c"]`}},
		{`[1] x`, []string{`["[1] x"]`}},
		{``, nil},
	}
	for _, tc := range tests {
		if got := KeyCandidates(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("KeyCandidates(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if k, _ := KeyText([]any{int64(1), "a"}); k != `[1,"a"]` {
		t.Errorf("KeyText = %s", k)
	}
}

func TestFilterLimit(t *testing.T) {
	for in, want := range map[int]int{0: DefaultLimit, -3: DefaultLimit, 5: 5, MaxLimit + 1: MaxLimit} {
		if got := (Filter{Limit: in}).EffectiveLimit(); got != want {
			t.Errorf("limit %d → %d, want %d", in, got, want)
		}
	}
}

func TestRecordParams(t *testing.T) {
	params := map[string]any{"id": int64(7), "note": "hello"}
	var h ParamHasher
	hashed := h.Record(params, false)
	if strings.Contains(hashed["note"], "hello") || !strings.HasPrefix(hashed["id"], "sha256:") {
		t.Errorf("hashes only: %v", hashed)
	}
	withValues := h.Record(params, true)
	if withValues["note"] != hashed["note"]+` "hello"` || withValues["id"] != hashed["id"]+" 7" {
		t.Errorf("with values: %v", withValues)
	}
	if h.Record(nil, true) != nil {
		t.Error("no params should record nothing")
	}
}

// TestVerifierAnchors: an anchor recorded before the chain's tail was
// rewritten together with its head (which the head check cannot see) makes
// verify name the rewritten entry; an anchor past the end names the first
// missing one.
func TestVerifierAnchors(t *testing.T) {
	orig := chain(5)
	// The tail from entry 4 rewritten and re-chained, the head updated.
	rewritten := chain(5)
	rewritten[3].Statement = "UPDATE Orders SET Note = 'innocent' WHERE Id = 1"
	rewritten[3].Seal(rewritten[2].Hash)
	rewritten[4].Seal(rewritten[3].Hash)
	truncated := chain(5)[:3]
	tests := []struct {
		name    string
		c       []Entry
		anchors []Anchor
		bad     int64 // 0: ok
	}{
		{"no anchor: the rewrite goes unseen", rewritten, nil, 0},
		{"anchor before the rewrite", rewritten, []Anchor{{2, orig[1].Hash}}, 0},
		{"anchor on the rewritten entry", rewritten, []Anchor{{4, orig[3].Hash}}, 4},
		{"anchor after the rewritten entry", rewritten, []Anchor{{5, orig[4].Hash}}, 5},
		{"intact chain, several anchors", orig, []Anchor{{1, orig[0].Hash}, {5, orig[4].Hash}}, 0},
		{"truncated with its head", truncated, []Anchor{{5, orig[4].Hash}}, 4},
		{"truncated, anchor inside", truncated, []Anchor{{3, orig[2].Hash}}, 0},
		{"two anchors on one entry, one wrong", orig, []Anchor{{2, orig[1].Hash}, {2, orig[2].Hash}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v Verifier
			v.Expect(tc.anchors...)
			for _, e := range tc.c {
				v.Add(e)
			}
			v.CheckAnchors()
			last := tc.c[len(tc.c)-1]
			v.CheckHead(last.Seq, last.Hash) // the head was rewritten too
			r := v.Result()
			if tc.bad == 0 {
				if !r.OK || r.Head == nil || *r.Head != (Anchor{last.Seq, last.Hash}) {
					t.Fatalf("result = %+v; want ok with head %d", r, last.Seq)
				}
				return
			}
			if r.OK || *r.FirstBad != tc.bad || r.Head != nil {
				t.Fatalf("result = %+v (%s); want first bad %d", r, r, tc.bad)
			}
		})
	}
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	if a, err := ParseAnchor(" 42:" + h + "\n"); err != nil || a != (Anchor{42, h}) || a.String() != "42:"+h {
		t.Fatalf("ParseAnchor = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "42", ":" + h, "0:" + h, "-1:" + h, "x:" + h, "42:" + h[:63], "42:" + strings.ToUpper(h), "42:" + h + "0"} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}
}
