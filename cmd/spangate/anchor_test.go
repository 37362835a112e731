package main

import (
	"strings"
	"testing"
)

func TestParseAnchorArg(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"plain", "12:" + hash, true},
		{"audit anchor output", "audit_head=12:" + hash, true},
		{"JSON log line", `{"msg":"request","audit_head":"12:` + hash + `","status":200}`, true},
		{"text log line", "level=INFO msg=request audit_head=12:" + hash + " status=200", true},
		{"response header", "Spangate-Audit-Head: 12:" + hash, true},
		{"exec answer", `{"row_count":1,"rows":[],"audit_head":"12:` + hash + `"}`, true},
		{"short hash", "audit_head=12:abc", false},
		{"no seq", "audit_head=" + hash, false},
		{"garbage", "hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAnchorArg(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseAnchorArg(%q) = %v, %v", tt.in, a, err)
			}
			if tt.ok && (a.Seq != 12 || a.Hash != hash) {
				t.Errorf("anchor = %+v", a)
			}
		})
	}
}

// FuzzParseAnchorArg: any text is read without panicking, and an anchor
// read from it reads back the same from its own SEQ:HASH form.
func FuzzParseAnchorArg(f *testing.F) {
	hash := strings.Repeat("ab", 32)
	for _, s := range []string{"12:" + hash, "audit_head=12:" + hash, `{"audit_head":"3:` + hash + `"}`, "Spangate-Audit-Head: 1:" + hash, "audit_head", "AUDIT_HEAD=:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAnchorArg(s)
		if err != nil {
			return
		}
		b, err := parseAnchorArg(a.String())
		if err != nil || b != a {
			t.Fatalf("%q read as %v, which reads back as %v, %v", s, a, b, err)
		}
	})
}
