package main

import (
	"context"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/citoken"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/spannerdb"
)

// targetFlags say which database a client command acts on, and whether it
// goes through a gateway (with the caller's CI identity) or straight to
// Spanner (with Google credentials).
type targetFlags struct {
	database    string
	gateway     string
	idTokenFile string
	audience    string
}

func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.database, "database", "", "target database (default $SPANGATE_DATABASE): through a gateway, its logical name; direct, projects/P/instances/I/databases/D")
	fs.StringVar(&t.gateway, "gateway", "", "URL of a spangate gateway (default $SPANGATE_URL); without it, commands act directly on Spanner")
	fs.StringVar(&t.idTokenFile, "id-token-file", "", "file holding the CI's OIDC ID token (else $SPANGATE_ID_TOKEN, $BITBUCKET_STEP_OIDC_TOKEN, or GitHub Actions' token request)")
	fs.StringVar(&t.audience, "audience", "", "audience to request for the GitHub Actions ID token (default: the gateway URL)")
}

// gatewayURL returns the gateway to use, or "" for direct mode.
func (a *app) gatewayURL(t *targetFlags) string {
	if t.gateway != "" {
		return t.gateway
	}
	return a.getenv("SPANGATE_URL")
}

// databaseName returns --database or SPANGATE_DATABASE.
func (a *app) databaseName(t *targetFlags, gateway bool) (string, error) {
	db := t.database
	if db == "" {
		db = a.getenv("SPANGATE_DATABASE")
	}
	if db != "" {
		return db, nil
	}
	if gateway {
		return "", spangate.Errorf(spangate.Invalid, "no database given").
			WithHint("pass --database NAME (a logical name from the gateway's config) or set SPANGATE_DATABASE")
	}
	return "", spangate.Errorf(spangate.Invalid, "no database given").
		WithHint("pass --database projects/P/instances/I/databases/D or set SPANGATE_DATABASE (spangate dev prints the line to paste)")
}

// openDirect opens the database for direct mode.
func (a *app) openDirect(ctx context.Context, t *targetFlags) (*spannerdb.DB, error) {
	path, err := a.databaseName(t, false)
	if err != nil {
		return nil, err
	}
	if err := a.checkGoogleCredentials(); err != nil {
		return nil, err
	}
	return spannerdb.Open(ctx, path, spannerdb.Options{
		EmulatorHost: a.getenv("SPANNER_EMULATOR_HOST"),
		Logger:       a.logger,
	})
}

// runMetadata is what the CI reports about this run.
func (a *app) runMetadata() spangate.RunMetadata {
	return citoken.Metadata(a.lookupEnv)
}

// connectGateway returns a client of the gateway that holds a session
// token: SPANGATE_SESSION_TOKEN when set (from an earlier spangate login),
// else the CI's ID token exchanged once.
func (a *app) connectGateway(ctx context.Context, t *targetFlags) (*gatewayclient.Client, error) {
	c, _, err := a.gatewaySession(ctx, t, true)
	return c, err
}

// gatewaySession connects to the gateway. With reuse, a session token in
// SPANGATE_SESSION_TOKEN is used as it is; otherwise the CI's ID token is
// found and exchanged, and the exchange's answer is returned too.
func (a *app) gatewaySession(ctx context.Context, t *targetFlags, reuse bool) (*gatewayclient.Client, *gateway.TokenResponse, error) {
	url := a.gatewayURL(t)
	// No overall timeout: apply streams for as long as the migration runs.
	hc := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 5 * time.Minute,
		TLSHandshakeTimeout:   10 * time.Second,
	}}
	c, err := gatewayclient.New(url, hc, a.runMetadata())
	if err != nil {
		return nil, nil, err
	}
	if s := a.getenv("SPANGATE_SESSION_TOKEN"); s != "" && reuse {
		c.UseToken(s)
		return c, nil, nil
	}
	aud := t.audience
	if aud == "" {
		aud = url
	}
	tok, err := citoken.NewFinder(a.lookupEnv, &http.Client{Timeout: 30 * time.Second}).
		Find(ctx, citoken.Options{File: t.idTokenFile, Audience: aud})
	if err != nil {
		return nil, nil, err
	}
	a.logger.Debug("exchanging the CI token for a session token", "source", string(tok.Source))
	resp, err := c.Exchange(ctx, tok.Value)
	if err != nil {
		return nil, nil, err
	}
	return c, &resp, nil
}

// directActor is the audit identity of direct mode: the local user and
// host (Spanner's IAM, not spangate, authorized the credential in use),
// with the run metadata the CI reports.
func (a *app) directActor(database string) audit.Entry {
	who := a.localUser()
	return audit.Entry{
		At:        a.now(),
		Principal: "direct:" + who,
		Issuer:    "direct",
		Subject:   who,
		Run:       a.runMetadata(),
		Database:  database,
	}
}

// onTarget runs viaGateway with a connected client and the database's
// logical name when a gateway is set (--gateway or SPANGATE_URL), and
// direct with the opened database otherwise.
func (a *app) onTarget(ctx context.Context, t *targetFlags,
	viaGateway func(c *gatewayclient.Client, name string) error, direct func(db *spannerdb.DB) error) error {
	if a.gatewayURL(t) != "" {
		name, err := a.databaseName(t, true)
		if err != nil {
			return err
		}
		c, err := a.connectGateway(ctx, t)
		if err != nil {
			return err
		}
		return viaGateway(c, name)
	}
	db, err := a.openDirect(ctx, t)
	if err != nil {
		return err
	}
	defer db.Close()
	return direct(db)
}
