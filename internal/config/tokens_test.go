package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate/internal/config"
)

func TestTokenSettings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want config.Tokens
	}{
		{"defaults", "", config.Tokens{MaxLifetime: 24 * time.Hour, ClockLeeway: 30 * time.Second}},
		{"both set", "tokens:\n  max_lifetime: 2h\n  clock_leeway: 5s\n", config.Tokens{MaxLifetime: 2 * time.Hour, ClockLeeway: 5 * time.Second}},
		{"leeway alone", "tokens:\n  clock_leeway: 2m\n", config.Tokens{MaxLifetime: 24 * time.Hour, ClockLeeway: 2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(strings.NewReader(minimal+tt.yaml), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Tokens != tt.want {
				t.Fatalf("tokens = %+v, want %+v", cfg.Tokens, tt.want)
			}
		})
	}
}

func TestTokenSettingProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"zero lifetime", "tokens:\n  max_lifetime: 0s\n", []string{`c.yaml:8: tokens.max_lifetime: must be positive`}},
		{"negative leeway", "tokens:\n  clock_leeway: -1s\n", []string{`c.yaml:8: tokens.clock_leeway: must be positive`}},
		{"leeway too large", "tokens:\n  clock_leeway: 5m\n", []string{`c.yaml:8: tokens.clock_leeway: 5m0s is more than the 2m0s maximum`}},
		{"not a duration", "tokens:\n  max_lifetime: forever\n", []string{`c.yaml:8: tokens.max_lifetime:`}},
		{"unknown key", "tokens:\n  leeway: 5s\n", []string{`c.yaml:8: tokens.leeway:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(strings.NewReader(minimal+tt.yaml), "c.yaml")
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %v; want problems", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ps {
					found = found || strings.HasPrefix(p.String(), w)
				}
				if !found {
					t.Errorf("missing problem %q in:\n%s", w, ps)
				}
			}
		})
	}
}
