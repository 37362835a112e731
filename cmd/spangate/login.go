package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) loginCommand() *cobra.Command {
	var (
		t      targetFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Exchange the CI's ID token for a gateway session token and print it",
		Long: `login finds the CI's OIDC ID token (--id-token-file, SPANGATE_ID_TOKEN,
BITBUCKET_STEP_OIDC_TOKEN, or GitHub Actions' token request), exchanges it at
the gateway (RFC 8693) and prints the session token on stdout. Later commands
of the same step reuse it through SPANGATE_SESSION_TOKEN instead of exchanging
again. The token is a bearer credential until it expires: keep it out of logs.`,
		Example: `  export SPANGATE_SESSION_TOKEN="$(spangate login --gateway https://spangate.example.com)"
  spangate migrate apply --database orders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLogin(cmd.Context(), &t, format)
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "text", "output format: text (the token alone) or json (access_token, token_type, expires_in)")
	return cmd
}

func (a *app) runLogin(ctx context.Context, t *targetFlags, format string) error {
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	if a.gatewayURL(t) == "" {
		return usageError{err: fmt.Errorf("login needs a gateway: pass --gateway URL or set SPANGATE_URL")}
	}
	_, resp, err := a.gatewaySession(ctx, t, false)
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(a.stdout, resp)
	}
	a.logger.Info("session token issued", "expires_in_seconds", resp.ExpiresIn)
	_, err = fmt.Fprintln(a.stdout, resp.AccessToken)
	return err
}
