// Package emulator runs a local Spanner for tests and for `spangate dev`: the
// official Cloud Spanner emulator as a child process (Find, Start) and the
// few admin calls a fresh emulator needs before it is useful (CreateInstance,
// CreateDatabase, DropDatabase). The in-process fallback for machines without
// the emulator lives apart, in spannerfake, so that nothing but `spangate dev`
// links it.
//
// Nothing here prints or exits: progress goes to the *slog.Logger and the
// io.Writer the caller passes in, failures come back as *spangate.Error.
package emulator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spangate/spangate"
)

// BinaryName is the file name of the emulator's gRPC server in the gcloud SDK.
const BinaryName = "emulator_main"

// EnvEmulator names the environment variable that points at the emulator
// binary when no --emulator flag is given.
const EnvEmulator = "SPANGATE_EMULATOR"

// InstallHint tells a user how to get the emulator.
const InstallHint = "install the Cloud Spanner emulator: `apt-get install google-cloud-cli-spanner-emulator` " +
	"(Debian/Ubuntu with Google's apt repository) or `gcloud components install cloud-spanner-emulator`; " +
	"or point --emulator or " + EnvEmulator + " at its " + BinaryName + " binary"

// sdkEmulator is where the emulator sits under a gcloud SDK root.
const sdkEmulator = "bin/cloud_spanner_emulator/" + BinaryName

// Find returns the path of the emulator binary. It looks, in order, at
// explicit (the --emulator flag; an error if it is set but unusable), the
// SPANGATE_EMULATOR environment variable (likewise), emulator_main on PATH,
// the gcloud SDK layout next to a gcloud found on PATH (symlinks resolved),
// and the usual gcloud SDK install roots (/usr/lib/google-cloud-sdk,
// /usr/share/google-cloud-sdk, /opt/google-cloud-sdk, ~/google-cloud-sdk and
// the snap). The environment is read only through lookupEnv.
//
// When nothing is found the *spangate.Error (kind NotFound) lists every place
// it looked and says how to install the emulator.
func Find(explicit string, lookupEnv func(string) (string, bool)) (string, error) {
	return find(explicit, lookupEnv, defaultSDKRoots(lookupEnv))
}

// defaultSDKRoots lists the directories where gcloud SDKs are usually
// installed.
func defaultSDKRoots(lookupEnv func(string) (string, bool)) []string {
	roots := []string{}
	if dir, ok := lookupEnv("CLOUDSDK_ROOT_DIR"); ok && dir != "" {
		roots = append(roots, dir)
	}
	roots = append(roots,
		"/usr/lib/google-cloud-sdk",
		"/usr/share/google-cloud-sdk",
		"/opt/google-cloud-sdk",
	)
	if home, ok := lookupEnv("HOME"); ok && home != "" {
		roots = append(roots, filepath.Join(home, "google-cloud-sdk"))
	}
	return append(roots,
		"/snap/google-cloud-cli/current",
		"/snap/google-cloud-sdk/current",
	)
}

func find(explicit string, lookupEnv func(string) (string, bool), sdkRoots []string) (string, error) {
	if explicit != "" {
		return checkNamed(explicit, "--emulator")
	}
	if p, ok := lookupEnv(EnvEmulator); ok && p != "" {
		return checkNamed(p, EnvEmulator)
	}

	var looked []string
	try := func(p string) bool {
		looked = append(looked, p)
		return isExecutable(p)
	}
	pathEnv, _ := lookupEnv("PATH")
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, BinaryName); try(p) {
			return p, nil
		}
		gcloud := filepath.Join(dir, "gcloud")
		if !isExecutable(gcloud) {
			continue
		}
		// gcloud lives in <sdk>/bin; /usr/bin/gcloud is usually a symlink
		// into the SDK, so try both the link's and the target's directory.
		dirs := []string{dir}
		if real, err := filepath.EvalSymlinks(gcloud); err == nil && filepath.Dir(real) != dir {
			dirs = append(dirs, filepath.Dir(real))
		}
		for _, d := range dirs {
			if p := filepath.Join(filepath.Dir(d), sdkEmulator); try(p) {
				return p, nil
			}
		}
	}
	for _, root := range sdkRoots {
		if p := filepath.Join(root, sdkEmulator); try(p) {
			return p, nil
		}
	}
	return "", spangate.Errorf(spangate.NotFound,
		"the Cloud Spanner emulator (%s) was not found; looked in --emulator, %s, and %s",
		BinaryName, EnvEmulator, strings.Join(dedupe(looked), ", ")).WithHint(InstallHint)
}

// checkNamed accepts a path the user named explicitly, or says why not.
func checkNamed(p, source string) (string, error) {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return "", spangate.Errorf(spangate.NotFound, "emulator %q from %s: %w", p, source, err).WithHint(InstallHint)
	case fi.IsDir():
		if inner := filepath.Join(p, BinaryName); isExecutable(inner) {
			return inner, nil
		}
		return "", spangate.Errorf(spangate.Invalid, "emulator %q from %s is a directory without %s in it", p, source, BinaryName).
			WithHint(fmt.Sprintf("point %s at the %s binary itself", source, BinaryName))
	case fi.Mode().Perm()&0o111 == 0:
		return "", spangate.Errorf(spangate.Invalid, "emulator %q from %s is not executable", p, source).
			WithHint(fmt.Sprintf("run `chmod +x %s` or point %s at the %s binary", p, source, BinaryName))
	}
	return p, nil
}

// isExecutable reports whether p is a regular file with an execute bit.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
