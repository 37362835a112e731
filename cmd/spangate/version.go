package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
)

// Set at build time by the release command:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.date=<RFC 3339>"
//
// A build without them (go build, go install, go run) takes what the Go
// toolchain recorded: the module version for go install …@v1.2.3, and the
// VCS revision and time for a build in a git checkout.
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionInfo is what `spangate version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// buildVersion combines the linker flags with the build info; the flags
// win where both say something.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

// String is the one-line form: spangate v1.2.3 (abc1234, 2026-12-06T08:00:00Z, go1.26.8 linux/amd64).
func (v versionInfo) String() string {
	s := "spangate " + v.Version + " ("
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if v.Modified {
			c += "+modified"
		}
		s += c + ", "
	}
	if v.Date != "" {
		s += v.Date + ", "
	}
	return s + v.GoVersion + " " + v.Platform + ")"
}

func (a *app) versionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the spangate version, commit, build date and Go version",
		Long: `Print the version of this spangate binary, the commit it was built from,
the build date, and the Go version and platform it was built with.

Release binaries carry all of these; a binary built with go install or
go build says what the Go toolchain recorded (the module version, or the
commit of the checkout it was built in).`,
		Example: "  spangate version\n  spangate version --format json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeVersion(a.stdout, buildVersion(), format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json (version, commit, modified, date, go_version, platform)")
	return cmd
}

func writeVersion(w io.Writer, v versionInfo, format string) error {
	switch format {
	case "text":
		_, err := fmt.Fprintln(w, v.String())
		return err
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	default:
		return spangate.Errorf(spangate.Invalid, "unknown --format %q", format).WithHint("use --format text or --format json")
	}
}
