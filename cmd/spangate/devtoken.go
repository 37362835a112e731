package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/devoidc"
)

// defaultDevGateway is where `spangate dev` listens by default.
const defaultDevGateway = "http://127.0.0.1:8479"

// devTokenPath is the dev issuer's token endpoint, relative to the gateway.
const devTokenPath = "/dev/oidc/token"

// devTokenOptions are the flags of `spangate dev token`.
type devTokenOptions struct {
	gateway   string
	provider  string
	claims    []string
	audience  string
	expiresIn time.Duration
}

// devTokenCommand returns `spangate dev token`, which asks the dev stack's
// OIDC issuer for a token and prints it.
func (a *app) devTokenCommand() *cobra.Command {
	return a.newDevTokenCommand(&http.Client{Timeout: 10 * time.Second})
}

func (a *app) newDevTokenCommand(client *http.Client) *cobra.Command {
	var opts devTokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a CI-shaped ID token minted by the local dev stack's OIDC issuer",
		Long: `token asks the OIDC issuer of a running "spangate dev" for an ID token and
prints it on stdout. The token has the claim set of a real Bitbucket Pipelines,
GitHub Actions or GitLab CI token (its issuer is the dev issuer,
<gateway>/dev/oidc) and a real RS256 signature, so the gateway verifies it
exactly like a pipeline's token. Use it to try policies and the CLI locally.

--claim KEY=VALUE sets or replaces any claim, iss, aud, exp and nbf included.
exp, nbf, iat and claims that are numbers in the real tokens become JSON
numbers; a value starting with [ that parses as a JSON array becomes an
array; an empty VALUE removes the claim. Unless you set sub, it is rebuilt
from the claims the CI system derives it from.

The dev issuer trusts anyone who can reach it: never point a gateway that
guards real data at it.`,
		Example: `  # a Bitbucket deployment-step token, for the CLI to present
  export SPANGATE_ID_TOKEN="$(spangate dev token)"

  # a GitHub Actions token for a feature branch, outside any environment
  spangate dev token --provider github --claim ref=refs/heads/feature --claim environment=

  # a GitLab token for another project, with a custom audience
  spangate dev token --provider gitlab --claim project_path=acme/billing --audience https://gateway.example.com

  # an expired token, to see the gateway refuse it
  spangate dev token --expires-in=-5m

  # a token from a dev stack on another port
  spangate dev token --gateway http://127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("gateway") {
				if v := a.getenv("SPANGATE_URL"); v != "" {
					opts.gateway = v
				}
			}
			tok, err := requestDevToken(cmd.Context(), client, opts, cmd.Flags().Changed("expires-in"))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.gateway, "gateway", defaultDevGateway, "URL of the running dev stack (env SPANGATE_URL)")
	f.StringVar(&opts.provider, "provider", string(spangate.ProviderBitbucket), "claim set to mint: bitbucket, github or gitlab")
	f.StringArrayVar(&opts.claims, "claim", nil, "set or override a claim, KEY=VALUE (repeatable; empty VALUE removes it)")
	f.StringVar(&opts.audience, "audience", "", "aud of the token (default: the provider's default audience the dev gateway accepts)")
	f.DurationVar(&opts.expiresIn, "expires-in", devoidc.DefaultExpiresIn, "token lifetime; negative mints an already expired token")
	return cmd
}

// requestDevToken POSTs a token request to the dev issuer and returns the
// token.
func requestDevToken(ctx context.Context, client *http.Client, opts devTokenOptions, sendExpiry bool) (string, error) {
	req := devoidc.TokenRequest{
		Provider: spangate.Provider(opts.provider),
		Audience: opts.audience,
		Claims:   map[string]json.RawMessage{},
	}
	switch req.Provider {
	case spangate.ProviderBitbucket, spangate.ProviderGitHub, spangate.ProviderGitLab, spangate.ProviderGeneric:
	default:
		return "", usageError{err: fmt.Errorf("--provider %q: want bitbucket, github or gitlab", opts.provider)}
	}
	for _, kv := range opts.claims {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", usageError{err: fmt.Errorf("--claim %q: want KEY=VALUE", kv)}
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return "", usageError{err: fmt.Errorf("--claim %q: %w", kv, err)}
		}
		req.Claims[k] = raw
	}
	if sendExpiry {
		req.ExpiresIn, _ = json.Marshal(opts.expiresIn.String())
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", spangate.Errorf(spangate.Internal, "encode token request: %w", err)
	}
	endpoint := strings.TrimSuffix(opts.gateway, "/") + devTokenPath
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", usageError{err: fmt.Errorf("--gateway %q: %w", opts.gateway, err)}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return "", spangate.Errorf(spangate.KindOf(ctx.Err()), "request a dev token: %w", ctx.Err())
		}
		return "", spangate.Errorf(spangate.Unavailable, "request a dev token from %s: %w", opts.gateway, err).
			WithHint(`start the local stack with "spangate dev", or point --gateway (or SPANGATE_URL) at it`)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", spangate.Errorf(spangate.Unavailable, "read the dev token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", devTokenError(opts.gateway, resp.StatusCode, data)
	}
	var out devoidc.TokenResponse
	if err := json.Unmarshal(data, &out); err != nil || out.IDToken == "" {
		return "", spangate.Errorf(spangate.Internal, "the dev issuer at %s answered without a token", opts.gateway)
	}
	return out.IDToken, nil
}

// devTokenError turns an error response of the dev issuer into an error.
func devTokenError(gateway string, status int, data []byte) error {
	var e struct {
		Error struct {
			Code, Message, Hint string
		}
	}
	if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
		e.Error.Message = http.StatusText(status)
	}
	switch {
	case status == http.StatusNotFound:
		return spangate.Errorf(spangate.NotFound, "%s has no dev OIDC issuer (HTTP 404)", gateway).
			WithHint(`dev tokens come from "spangate dev"; a gateway started with "spangate serve" has no dev issuer`)
	case status == http.StatusBadRequest:
		err := spangate.Errorf(spangate.Invalid, "the dev issuer refused the request: %s", e.Error.Message)
		if e.Error.Hint != "" {
			return err.WithHint(e.Error.Hint)
		}
		return err
	}
	return spangate.Errorf(spangate.Unavailable, "the dev issuer failed: HTTP %d: %w", status, errors.New(e.Error.Message))
}
