// Package release builds what a spangate release ships, with nothing but the
// Go toolchain: static binaries for each platform (-trimpath, CGO off, the
// version stamped in), a SHA256SUMS file, a CycloneDX software bill of
// materials read from the binaries' build info, and an OCI image (one per
// Linux platform, under one index) built from scratch with
// go-containerregistry, so no Docker engine and no base image are needed.
package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spangate/spangate"
)

// Target is one platform a binary is built for.
type Target struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

func (t Target) String() string { return t.OS + "/" + t.Arch }

// ParseTarget reads "os/arch".
func ParseTarget(s string) (Target, error) {
	os, arch, ok := strings.Cut(s, "/")
	if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
		return Target{}, spangate.Errorf(spangate.Invalid, "target %q: want os/arch, for example linux/amd64", s)
	}
	return Target{OS: os, Arch: arch}, nil
}

// Targets returns the platforms of a full release.
func Targets() []Target {
	return []Target{
		{"linux", "amd64"}, {"linux", "arm64"},
		{"darwin", "amd64"}, {"darwin", "arm64"},
		{"windows", "amd64"},
	}
}

// Options say what to build and where.
type Options struct {
	// Version, Commit and Date are stamped into the binaries (main.version,
	// main.commit, main.date) and the image's labels. Date is RFC 3339; it
	// is also the time of every file in the image, so that two builds of
	// one commit give the same image.
	Version string
	Commit  string
	Date    time.Time
	// Source is the URL of the source repository, for the image's label.
	Source  string
	Targets []Target
	// ModuleDir is the root of the spangate module; Package the main
	// package to build, relative to it (default ./cmd/spangate).
	ModuleDir string
	Package   string
	OutDir    string
	// CACerts is the CA bundle put into the image (default: the build
	// machine's, from Debian's ca-certificates package). Image false
	// builds no image.
	CACerts string
	Image   bool
	// PipeScript is the Bitbucket Pipe's entry script, put into the pipe
	// image (default: integrations/bitbucket-pipe/pipe.sh of ModuleDir).
	PipeScript string
	// Shells maps an architecture to the static busybox that gives its
	// image /bin/sh (default: /bin/busybox, for the build machine's own
	// architecture; Debian's busybox-static).
	Shells map[string]string
	// Go is the go command (default "go"); Progress receives one line per
	// step (may be nil).
	Go       string
	Progress io.Writer
}

// Artifact is one file of the release.
type Artifact struct {
	Name   string  `json:"name"` // relative to OutDir
	Kind   string  `json:"kind"` // binary, checksums, sbom, image-layout, image-tarball
	Target *Target `json:"target,omitempty"`
	SHA256 string  `json:"sha256,omitempty"`
	Size   int64   `json:"size,omitempty"`
}

// Result lists what was written.
type Result struct {
	Version   string     `json:"version"`
	OutDir    string     `json:"out_dir"`
	Artifacts []Artifact `json:"artifacts"`
}

// Build builds the release into opts.OutDir.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Version == "" {
		return nil, spangate.Errorf(spangate.Invalid, "no version given").WithHint("pass -version v1.2.3")
	}
	if len(opts.Targets) == 0 {
		opts.Targets = Targets()
	}
	if opts.Package == "" {
		opts.Package = "./cmd/spangate"
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.PipeScript == "" {
		opts.PipeScript = filepath.Join(opts.ModuleDir, "integrations", "bitbucket-pipe", "pipe.sh")
	}
	if opts.CACerts == "" {
		opts.CACerts = "/etc/ssl/certs/ca-certificates.crt"
	}
	if opts.Date.IsZero() {
		opts.Date = time.Now().UTC().Truncate(time.Second)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "create %s: %w", opts.OutDir, err)
	}
	res := &Result{Version: opts.Version, OutDir: opts.OutDir}
	binaries := map[Target]string{}
	for _, t := range opts.Targets {
		name, err := buildBinary(ctx, opts, t)
		if err != nil {
			return nil, err
		}
		a, err := describe(opts.OutDir, name, "binary")
		if err != nil {
			return nil, err
		}
		a.Target = &t
		res.Artifacts = append(res.Artifacts, a)
		binaries[t] = filepath.Join(opts.OutDir, name)
	}
	sbomName := "spangate_" + opts.Version + ".cdx.json"
	if err := writeSBOM(filepath.Join(opts.OutDir, sbomName), opts, binaries); err != nil {
		return nil, err
	}
	opts.progress("wrote %s", sbomName)
	a, err := describe(opts.OutDir, sbomName, "sbom")
	if err != nil {
		return nil, err
	}
	res.Artifacts = append(res.Artifacts, a)
	if opts.Image {
		images, err := writeImages(opts, binaries)
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, images...)
	}
	if err := writeChecksums(opts.OutDir, res.Artifacts); err != nil {
		return nil, err
	}
	res.Artifacts = append(res.Artifacts, Artifact{Name: "SHA256SUMS", Kind: "checksums"})
	opts.progress("wrote SHA256SUMS")
	return res, nil
}

// BinaryName is the file name of the binary for t.
func BinaryName(version string, t Target) string {
	name := fmt.Sprintf("spangate_%s_%s_%s", version, t.OS, t.Arch)
	if t.OS == "windows" {
		name += ".exe"
	}
	return name
}

func buildBinary(ctx context.Context, opts Options, t Target) (string, error) {
	name := BinaryName(opts.Version, t)
	out, err := filepath.Abs(filepath.Join(opts.OutDir, name))
	if err != nil {
		return "", spangate.Errorf(spangate.Invalid, "output path: %w", err)
	}
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s",
		opts.Version, opts.Commit, opts.Date.UTC().Format(time.RFC3339))
	cmd := exec.CommandContext(ctx, opts.Go, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, opts.Package)
	cmd.Dir = opts.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch, "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	opts.progress("building %s", t)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", spangate.Errorf(spangate.Internal, "go build for %s: %w\n%s", t, err, strings.TrimSpace(stderr.String())).
			WithHint("run the same go build by hand to see the compiler's full output")
	}
	opts.progress("built %s in %s", name, time.Since(start).Round(time.Second))
	return name, nil
}

// describe returns the artifact for the file name in dir, with its size and
// SHA-256.
func describe(dir, name, kind string) (Artifact, error) {
	sum, size, err := fileSHA256(filepath.Join(dir, name))
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Name: name, Kind: kind, SHA256: sum, Size: size}, nil
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, spangate.Errorf(spangate.Internal, "read %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, spangate.Errorf(spangate.Internal, "read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeChecksums writes SHA256SUMS in the format sha256sum -c reads: the
// hash, two spaces, the name; one line per file artifact, sorted by name.
func writeChecksums(dir string, arts []Artifact) error {
	var lines []string
	for _, a := range arts {
		if a.SHA256 != "" {
			lines = append(lines, a.SHA256+"  "+a.Name+"\n")
		}
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[66:], b[66:]) })
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(strings.Join(lines, "")), 0o644); err != nil {
		return spangate.Errorf(spangate.Internal, "write SHA256SUMS: %w", err)
	}
	return nil
}

// VerifyChecksums checks every line of dir/SHA256SUMS against its file, and
// returns the names it checked.
func VerifyChecksums(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return nil, spangate.Errorf(spangate.NotFound, "read SHA256SUMS: %w", err)
	}
	var names []string
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			return nil, spangate.Errorf(spangate.Invalid, "SHA256SUMS:%d: want \"<sha256>  <name>\"", i+1)
		}
		got, _, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if got != sum {
			return nil, spangate.Errorf(spangate.Invalid, "SHA256SUMS:%d: %s has SHA-256 %s, the file lists %s", i+1, name, got, sum)
		}
		names = append(names, name)
	}
	return names, nil
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// Host is the platform of the machine running the build.
func Host() Target { return Target{OS: runtime.GOOS, Arch: runtime.GOARCH} }
