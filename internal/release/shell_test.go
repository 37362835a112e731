package release

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestShellFor checks that an image gets only a static busybox of its own
// architecture as its shell.
func TestShellFor(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("reads this machine's amd64 busybox")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("Debian's busybox-static is not installed (.ci/run installs it)")
	}
	notELF := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		target Target
		shells map[string]string
		want   string // in the error, "" for none
	}{
		{"the machine's own", Target{"linux", "amd64"}, nil, ""},
		{"wrong architecture", Target{"linux", "arm64"}, map[string]string{"arm64": "/bin/busybox"}, "not one for linux/arm64"},
		{"none for arm64", Target{"linux", "arm64"}, nil, "not one for linux/arm64"},
		{"not a binary", Target{"linux", "amd64"}, map[string]string{"amd64": notELF}, "needs a static busybox"},
		{"missing", Target{"linux", "amd64"}, map[string]string{"amd64": "/nonexistent"}, "needs a static busybox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := shellFor(Options{Shells: tc.shells}, tc.target)
			switch {
			case tc.want == "" && (err != nil || len(b) == 0):
				t.Errorf("err = %v, %d bytes", err, len(b))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
