package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
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
		Version:       version,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setupLogger()
		},
	}
	root.SetVersionTemplate(versionString() + "\n")
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
	argsAreUsage(root)
	return root
}

// argsAreUsage makes the argument checks of cmd and its subcommands
// usage errors (exit 2), like cobra's flag errors.
func argsAreUsage(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err: err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		argsAreUsage(sub)
	}
}

func (a *app) setupLogger() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError{err: err}
	}
	a.logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the spangate version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := io.WriteString(a.stdout, versionString()+"\n")
			return err
		},
	}
}
