// Command release builds a spangate release with nothing but Go: static
// binaries for every platform, SHA256SUMS, a CycloneDX bill of materials and
// the container image (OCI layout and docker archives), into one directory.
//
//	go run ./build/release -version v1.2.3
//	go run ./build/release -version v1.2.3 -targets linux/amd64 -out /tmp/dist
//
// The commit and the date default to the checkout's HEAD and its commit
// time (git), so that two builds of one commit give the same files.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		if h := spangate.HintOf(err); h != "" {
			fmt.Fprintf(os.Stderr, "hint: %s\n", h)
		}
		if errors.Is(err, flag.ErrHelp) || spangate.KindOf(err) == spangate.Invalid {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	var (
		opts    release.Options
		targets = fs.String("targets", "", "comma-separated os/arch list (default: linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64)")
		date    = fs.String("date", "", "build date, RFC 3339 (default: the commit time of HEAD)")
		format  = fs.String("format", "text", "summary on stdout: text or json")
	)
	fs.StringVar(&opts.Version, "version", "", "release version, for example v1.2.3 (required)")
	fs.StringVar(&opts.Commit, "commit", "", "commit to stamp (default: git rev-parse HEAD)")
	fs.StringVar(&opts.OutDir, "out", "dist", "output directory")
	fs.StringVar(&opts.ModuleDir, "module", ".", "root of the spangate module")
	fs.StringVar(&opts.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to put into the image")
	fs.StringVar(&opts.Source, "source", "https://github.com/spangate/spangate", "source repository URL for the image's label")
	fs.BoolVar(&opts.Image, "image", true, "also build the container image")
	opts.Shells = map[string]string{}
	fs.Func("shell", "ARCH=PATH: the static busybox that gives the ARCH image its /bin/sh (default: /bin/busybox for this machine's architecture; repeat for others)", func(v string) error {
		arch, path, ok := strings.Cut(v, "=")
		if !ok || arch == "" || path == "" {
			return fmt.Errorf("want ARCH=PATH, for example arm64=/tmp/busybox-arm64/bin/busybox")
		}
		opts.Shells[arch] = path
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return spangate.Errorf(spangate.Invalid, "%w", err)
	}
	if *targets != "" {
		for _, s := range strings.Split(*targets, ",") {
			t, err := release.ParseTarget(strings.TrimSpace(s))
			if err != nil {
				return err
			}
			opts.Targets = append(opts.Targets, t)
		}
	}
	if opts.Commit == "" {
		opts.Commit = git(ctx, opts.ModuleDir, "rev-parse", "HEAD")
	}
	switch {
	case *date != "":
		t, err := time.Parse(time.RFC3339, *date)
		if err != nil {
			return spangate.Errorf(spangate.Invalid, "-date %q: %w", *date, err).WithHint("use RFC 3339, for example 2026-12-06T08:00:00Z")
		}
		opts.Date = t.UTC()
	default:
		if s := git(ctx, opts.ModuleDir, "log", "-1", "--format=%cI"); s != "" {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				opts.Date = t.UTC()
			}
		}
	}
	opts.Progress = os.Stderr
	res, err := release.Build(ctx, opts)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	for _, a := range res.Artifacts {
		fmt.Printf("%-14s %s\n", a.Kind, a.Name)
	}
	return nil
}

// git returns the trimmed output of a git command, or "" when git or the
// repository is not there.
func git(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
