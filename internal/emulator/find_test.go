package emulator

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spangate/spangate"
)

// writeExec creates an executable file at p, with its directories.
func writeExec(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestFind(t *testing.T) {
	tmp := t.TempDir()
	explicit := writeExec(t, filepath.Join(tmp, "explicit", BinaryName))
	fromEnv := writeExec(t, filepath.Join(tmp, "env", BinaryName))
	onPath := writeExec(t, filepath.Join(tmp, "pathbin", BinaryName))
	notExec := filepath.Join(tmp, "noexec", BinaryName)
	os.MkdirAll(filepath.Dir(notExec), 0o755)
	os.WriteFile(notExec, nil, 0o644)

	// A gcloud SDK whose bin/gcloud is reached through a symlink in another
	// directory, like /usr/bin/gcloud -> ../lib/google-cloud-sdk/bin/gcloud.
	sdk := filepath.Join(tmp, "sdk")
	writeExec(t, filepath.Join(sdk, "bin", "gcloud"))
	sdkEmu := writeExec(t, filepath.Join(sdk, "bin", "cloud_spanner_emulator", BinaryName))
	linkDir := filepath.Join(tmp, "usrbin")
	os.MkdirAll(linkDir, 0o755)
	if err := os.Symlink(filepath.Join(sdk, "bin", "gcloud"), filepath.Join(linkDir, "gcloud")); err != nil {
		t.Fatal(err)
	}
	// An SDK found only by its install root.
	root := filepath.Join(tmp, "opt", "google-cloud-sdk")
	rootEmu := writeExec(t, filepath.Join(root, "bin", "cloud_spanner_emulator", BinaryName))
	empty := filepath.Join(tmp, "empty")
	os.MkdirAll(empty, 0o755)

	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		roots    []string
		want     string
		wantKind spangate.Kind
	}{
		{name: "explicit flag wins", explicit: explicit, env: map[string]string{EnvEmulator: fromEnv, "PATH": filepath.Dir(onPath)}, want: explicit},
		{name: "explicit directory", explicit: filepath.Dir(explicit), want: explicit},
		{name: "explicit missing is an error", explicit: filepath.Join(tmp, "nope"), env: map[string]string{"PATH": filepath.Dir(onPath)}, wantKind: spangate.NotFound},
		{name: "explicit not executable", explicit: notExec, wantKind: spangate.Invalid},
		{name: "env before PATH", env: map[string]string{EnvEmulator: fromEnv, "PATH": filepath.Dir(onPath)}, want: fromEnv},
		{name: "env missing is an error", env: map[string]string{EnvEmulator: filepath.Join(tmp, "nope")}, wantKind: spangate.NotFound},
		{name: "emulator_main on PATH", env: map[string]string{"PATH": empty + string(os.PathListSeparator) + filepath.Dir(onPath)}, want: onPath},
		{name: "next to gcloud on PATH through a symlink", env: map[string]string{"PATH": linkDir}, roots: []string{root}, want: sdkEmu},
		{name: "SDK install root", env: map[string]string{"PATH": empty}, roots: []string{filepath.Join(tmp, "missing"), root}, want: rootEmu},
		{name: "nothing found", env: map[string]string{"PATH": empty}, roots: []string{filepath.Join(tmp, "missing")}, wantKind: spangate.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := find(tt.explicit, envOf(tt.env), tt.roots)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("find = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var e *spangate.Error
			if !errors.As(err, &e) || e.Kind != tt.wantKind {
				t.Fatalf("find = %q, %v; want a %v error", got, err, tt.wantKind)
			}
			if e.Hint == "" {
				t.Errorf("error %q has no hint", err)
			}
		})
	}
}

func TestFindNotFoundSaysWhereAndHow(t *testing.T) {
	tmp := t.TempDir()
	_, err := find("", envOf(map[string]string{"PATH": tmp}), []string{"/nonexistent/google-cloud-sdk"})
	if err == nil {
		t.Fatal("find succeeded with nothing installed")
	}
	msg := err.Error() + " " + spangate.HintOf(err)
	for _, want := range []string{
		filepath.Join(tmp, BinaryName),
		"/nonexistent/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main",
		EnvEmulator,
		"apt-get install google-cloud-cli-spanner-emulator",
		"gcloud components install cloud-spanner-emulator",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}

func TestDefaultSDKRoots(t *testing.T) {
	roots := defaultSDKRoots(envOf(map[string]string{"HOME": "/home/u"}))
	for _, want := range []string{"/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk", "/home/u/google-cloud-sdk", "/snap/google-cloud-cli/current"} {
		found := false
		for _, r := range roots {
			found = found || r == want
		}
		if !found {
			t.Errorf("default roots %v lack %s", roots, want)
		}
	}
}
