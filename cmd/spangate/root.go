package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app carries what every command needs from the outside world. Commands read
// the environment only through lookupEnv, so tests control it.
type app struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	now       func() time.Time

	logLevel string
	logger   *slog.Logger
	// auditPage is the page size of audit list (audit.MaxLimit when zero);
	// tests make it small.
	auditPage int
}

func newApp(lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{
		lookupEnv: lookupEnv,
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		now:       time.Now,
	}
}

// getenv returns the value of the environment variable key, or "".
func (a *app) getenv(key string) string {
	v, _ := a.lookupEnv(key)
	return v
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "spangate",
		Short: "Safe, audited changes to Cloud Spanner from CI pipelines, people and agents",
		Long: `spangate changes Google Cloud Spanner databases safely and provably.

It applies versioned schema migrations (batched into as few schema operations
as Spanner allows, under a lease lock, resumable statement by statement),
verifies CI identities (Bitbucket Pipelines, GitHub Actions, GitLab CI) and
records every change in an audit trail written in the same transaction.

Start a local stack in one command:

  spangate dev

then, in another shell, paste the export lines it prints and run:

  spangate migrate plan  --dir migrations
  spangate migrate apply --dir migrations`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion().Version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setupLogger()
		},
	}
	root.SetVersionTemplate(buildVersion().String() + "\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{err: err}
	})
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log verbosity on stderr: debug, info, warn or error")

	root.AddCommand(
		a.devCommand(),
		a.serveCommand(),
		a.loginCommand(),
		a.migrateCommand(),
		a.execCommand(),
		a.auditCommand(),
		a.policyCommand(),
		a.schemaCommand(),
		a.scanCommand(),
		a.wifCommand(),
		a.versionCommand(),
	)
	// The completion command captures its writer when it is made: give the
	// root its streams first, then make it, so that its subcommands are
	// strict too.
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.InitDefaultCompletionCmd()
	strictUsage(root)
	return root
}

// strictUsage makes every command-line mistake in cmd and its subcommands a
// usage error (exit 2) instead of cobra's defaults, which print help and
// succeed: an unknown or misspelled subcommand, a group command run without
// one, extra arguments, and a required flag left out. A pipeline with a typo
// must fail, not pass having done nothing.
func strictUsage(cmd *cobra.Command) {
	check := cmd.Args
	switch {
	case cmd.HasSubCommands():
		check = subcommandArgs
		if !cmd.Runnable() {
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if !cmd.HasParent() {
					return cmd.Help() // spangate alone: its help, exit 0
				}
				cmd.SetOut(cmd.ErrOrStderr())
				_ = cmd.Help()
				return usageError{err: fmt.Errorf("%s needs a subcommand: %s", cmd.CommandPath(), subcommandNames(cmd))}
			}
		}
	case check == nil:
		check = cobra.ArbitraryArgs
	}
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err: err}
		}
		if missing := missingRequiredFlags(cmd); len(missing) > 0 {
			return usageError{err: fmt.Errorf("%s: required flag(s) %s not set; see %s --help", cmd.CommandPath(), strings.Join(missing, ", "), cmd.CommandPath())}
		}
		return nil
	}
	for _, sub := range cmd.Commands() {
		strictUsage(sub)
	}
}

// subcommandArgs refuses any argument of a command that only groups
// subcommands: cobra gets here only when none of them matched.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	} else {
		msg += "; commands: " + subcommandNames(cmd)
	}
	return errors.New(msg)
}

func subcommandNames(cmd *cobra.Command) string {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return strings.Join(names, ", ")
}

// missingRequiredFlags lists the flags marked required (MarkFlagRequired)
// that the command line leaves out, as --name.
func missingRequiredFlags(cmd *cobra.Command) []string {
	var missing []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if req := f.Annotations[cobra.BashCompOneRequiredFlag]; len(req) > 0 && req[0] == "true" && !f.Changed {
			missing = append(missing, "--"+f.Name)
		}
	})
	return missing
}

func (a *app) setupLogger() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError{err: err}
	}
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}
