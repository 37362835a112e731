package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
)

// FuzzParseConfig feeds arbitrary text to Parse and Validate: they must
// never panic, and every failure must be an Invalid error whose problems
// each carry a message.
func FuzzParseConfig(f *testing.F) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(valid))
	f.Add(minimal)
	f.Add("rules:\n  - &a {name: x}\n  - *a\n")
	f.Add("session_ttl: 1e9h\n")
	f.Add("databases: {\"\": \"\"}\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := config.Load(strings.NewReader(text), "f.yaml")
		if err != nil {
			if k := spangate.KindOf(err); k != spangate.Invalid {
				t.Fatalf("error kind %s, want invalid: %v", k, err)
			}
			var ps config.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					if p.Message == "" {
						t.Fatalf("problem without a message: %+v", p)
					}
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
		if len(cfg.Issuers) == 0 || len(cfg.Databases) == 0 {
			t.Fatalf("a config without issuers or databases passed: %+v", cfg)
		}
		for _, r := range cfg.Rules {
			for _, a := range r.Allow {
				if !a.Valid() {
					t.Fatalf("invalid action %q passed", a)
				}
			}
		}
	})
}
