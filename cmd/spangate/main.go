// Command spangate is the only composition root of the project: it reads
// flags, environment and files, builds the logger, picks implementations and
// wires them together. Everything it runs lives in internal packages.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(reportError(os.Stderr, err))
}

// run executes one spangate command line. It never exits; the error it
// returns is turned into an exit code by reportError.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	a := newApp(lookupEnv, stdin, stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && wantsJSON(cmd) {
		writeJSONError(stdout, err)
	}
	return err
}

// wantsJSON reports whether the command that ran was asked for --format json.
func wantsJSON(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("format")
	return f != nil && f.Value.String() == "json"
}
