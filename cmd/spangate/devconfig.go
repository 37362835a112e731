package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

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

// devConfig builds the gateway config of `spangate dev` and writes it to a
// file in dir, so that `spangate policy explain --config` reads the config
// the dev gateway runs (dev tokens included).
//
// Without --config it is a config that trusts only the dev issuer and
// allows every action on the dev database. With --config, the user's file
// is loaded and the dev issuer and database are added to it (unless it
// names them already, or has an issuer with the dev issuer's URL); its
// rules decide. The user's file is not changed: the effective config, the
// user's YAML with those two additions, is written next to the dev stack's
// other temporary files.
func devConfig(configPath, dir, listen string, iss *devoidc.Issuer) (cfg *config.Config, file string, err error) {
	file = filepath.Join(dir, "spangate-dev.yaml")
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
		addIssuer := !named && !sameURL
		_, hasDB := cfg.Databases[devDatabaseName]
		text, err := effectiveConfig(b, configPath, addIssuer, !hasDB, iss)
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(file, text, 0o600); err != nil {
			return nil, "", spangate.Errorf(spangate.Internal, "write the dev config: %w", err)
		}
		cfg, err = config.Load(bytes.NewReader(text), file)
		if err != nil {
			return nil, "", err
		}
		return cfg, file, nil
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
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return nil, "", spangate.Errorf(spangate.Internal, "write the dev config: %w", err)
	}
	cfg, err = config.Load(strings.NewReader(b.String()), file)
	if err != nil {
		return nil, "", err
	}
	return cfg, file, nil
}

// effectiveConfig returns the user's config text with the dev issuer and
// the dev database added, as asked, keeping everything else (comments
// included) as written.
func effectiveConfig(text []byte, name string, addIssuer, addDatabase bool, iss *devoidc.Issuer) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	section := func(key string, kind yaml.Kind) *yaml.Node {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				if v := root.Content[i+1]; v.Kind == kind {
					return v
				}
				root.Content[i+1] = &yaml.Node{Kind: kind}
				return root.Content[i+1]
			}
		}
		v := &yaml.Node{Kind: kind}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
		return v
	}
	str := func(v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Style: yaml.DoubleQuotedStyle}
	}
	if addIssuer {
		auds := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, a := range iss.Audiences() {
			auds.Content = append(auds.Content, str(a))
		}
		is := section("issuers", yaml.SequenceNode)
		is.Content = append(is.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "name"}, str(devIssuerName),
			{Kind: yaml.ScalarNode, Value: "url"}, str(iss.URL()),
			{Kind: yaml.ScalarNode, Value: "audiences"}, auds,
		}, HeadComment: "added by spangate dev: its OIDC issuer"})
	}
	if addDatabase {
		dbs := section("databases", yaml.MappingNode)
		dbs.Content = append(dbs.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: devDatabaseName, HeadComment: "added by spangate dev"}, str(devDatabase))
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Written by spangate dev from %s, with its issuer and database added.\n# Removed when spangate dev exits.\n", name)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, spangate.Errorf(spangate.Internal, "write the dev config: %w", err)
	}
	return out.Bytes(), nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
