package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionFormats(t *testing.T) {
	out, _, code := cli(t, nil, "version", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if v.Version == "" || v.GoVersion != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version = %+v", v)
	}
	text, _, _ := cli(t, nil, "version")
	if !strings.HasPrefix(text, "spangate "+v.Version+" (") || !strings.Contains(text, runtime.Version()) {
		t.Errorf("text = %q", text)
	}
	if _, stderr, code := cli(t, nil, "version", "--format", "yaml"); code != exitInvalid || !strings.Contains(stderr, "--format text") {
		t.Errorf("--format yaml: exit %d, %q", code, stderr)
	}
}

func TestVersionString(t *testing.T) {
	for _, tc := range []struct {
		v    versionInfo
		want string
	}{
		{versionInfo{Version: "v1.2.3", Commit: "0123456789abcdef0123", Date: "2026-12-06T08:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"},
			"spangate v1.2.3 (0123456789ab, 2026-12-06T08:00:00Z, go1.26.8 linux/amd64)"},
		{versionInfo{Version: "dev", Commit: "abc", Modified: true, GoVersion: "go1.26.8", Platform: "darwin/arm64"},
			"spangate dev (abc+modified, go1.26.8 darwin/arm64)"},
		{versionInfo{Version: "dev", GoVersion: "go1.26.8", Platform: "windows/amd64"}, "spangate dev (go1.26.8 windows/amd64)"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
