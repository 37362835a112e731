package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/devoidc"
)

// devIssuerName and devDatabaseName are the names the dev stack's config
// gives its own issuer and database.
const (
	devIssuerName   = "dev"
	devDatabaseName = "dev"
)

// devConfig builds the gateway config of `spangate dev`.
//
// Without --config it is a config that trusts only the dev issuer and
// allows every action on the dev database; it is written to a file in dir
// so that `spangate policy explain --config` can use it too. With --config,
// the user's file is loaded and the dev issuer and database are added to it
// (unless it names them already, or has an issuer with the dev issuer's
// URL); its rules decide.
func devConfig(configPath, dir, listen string, iss *devoidc.Issuer) (cfg *config.Config, file string, err error) {
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return nil, "", spangate.Errorf(spangate.Invalid, "--config: %w", err).
				WithHint("give the path of a readable gateway config file, or leave --config out")
		}
		cfg, err := config.Load(bytes.NewReader(b), configPath)
		if err != nil {
			return nil, "", err
		}
		// An issuer of the file may already be the dev issuer under another
		// name (a CI policy pointed at the dev stack to try its rules).
		_, named := cfg.Issuer(devIssuerName)
		_, sameURL := cfg.Issuer(iss.URL())
		if !named && !sameURL {
			cfg.Issuers = append(cfg.Issuers, config.Issuer{Name: devIssuerName, URL: iss.URL(), Audiences: iss.Audiences()})
		}
		if cfg.Databases == nil {
			cfg.Databases = map[string]string{}
		}
		if _, ok := cfg.Databases[devDatabaseName]; !ok {
			cfg.Databases[devDatabaseName] = devDatabase
		}
		if err := cfg.Validate(); err != nil {
			return nil, "", err
		}
		return cfg, configPath, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by spangate dev: trusts only the dev OIDC issuer and allows every\n")
	fmt.Fprintf(&b, "# action on the dev database. Removed when spangate dev exits.\n")
	fmt.Fprintf(&b, "listen: %s\n", listen)
	fmt.Fprintf(&b, "issuers:\n  - name: %s\n    url: %s\n    audiences: [%s]\n", devIssuerName, iss.URL(), quoteAll(iss.Audiences()))
	fmt.Fprintf(&b, "databases:\n  %s: %s\n", devDatabaseName, devDatabase)
	var acts []string
	for _, a := range spangate.Actions() {
		acts = append(acts, string(a))
	}
	fmt.Fprintf(&b, "rules:\n  - name: dev-allow-all\n    when: issuer == %q\n    databases: [%s]\n    allow: [%s]\n",
		devIssuerName, devDatabaseName, strings.Join(acts, ", "))
	file = filepath.Join(dir, "spangate-dev.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return nil, "", spangate.Errorf(spangate.Internal, "write the dev config: %w", err)
	}
	cfg, err = config.Load(strings.NewReader(b.String()), file)
	if err != nil {
		return nil, "", err
	}
	return cfg, file, nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
