package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/identity"
)

// devTokenStack serves a dev issuer the way `spangate dev` mounts it.
type devTokenStack struct {
	srv      *httptest.Server
	verifier *identity.Verifier
}

func newDevTokenStack(t *testing.T) *devTokenStack {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := devoidc.New(srv.URL+"/dev/oidc", devoidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(iss.MountPath(), iss.Handler())
	v, err := identity.NewVerifier([]identity.IssuerConfig{{Name: "dev", URL: iss.URL(), Audiences: iss.Audiences()}}, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &devTokenStack{srv: srv, verifier: v}
}

// runDevToken runs `spangate dev token args…` with env and returns stdout
// and the error.
func runDevToken(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &stdout, &stderr)
	root := &cobra.Command{Use: "spangate", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(a.newDevTokenCommand(&http.Client{Timeout: 5 * time.Second}))
	root.SetArgs(append([]string{"token"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(t.Context())
	return stdout.String(), err
}

func TestDevToken(t *testing.T) {
	s := newDevTokenStack(t)
	// A numeric exp within the verifier's maximum token lifetime (24 h).
	numericExp := time.Now().Add(2 * time.Hour).Unix()
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, p spangate.Principal)
		err   string
	}{
		{
			name: "bitbucket by default",
			args: []string{"--gateway", s.srv.URL},
			check: func(t *testing.T, p spangate.Principal) {
				if p.Provider != spangate.ProviderBitbucket || p.Attributes["workspaceUuid"] != devoidc.BitbucketWorkspaceUUID {
					t.Errorf("principal %+v", p)
				}
			},
		},
		{
			name: "gateway from SPANGATE_URL, github with claims",
			env:  map[string]string{"SPANGATE_URL": s.srv.URL + "/"},
			args: []string{"--provider", "github", "--claim", "ref=refs/heads/feature", "--claim", "environment=", "--claim", "actor=a=b"},
			check: func(t *testing.T, p spangate.Principal) {
				if p.Subject != "repo:spangate-dev/app:ref:refs/heads/feature" || p.Attributes["actor"] != "a=b" {
					t.Errorf("principal %+v", p)
				}
				if _, ok := p.Claims["environment"]; ok {
					t.Error("environment not removed")
				}
			},
		},
		{
			name: "gitlab with numeric exp",
			args: []string{"--gateway", s.srv.URL, "--provider", "gitlab", "--claim", "exp=" + strconv.FormatInt(numericExp, 10)},
			check: func(t *testing.T, p spangate.Principal) {
				if p.Claims["exp"] != float64(numericExp) || p.Provider != spangate.ProviderGitLab {
					t.Errorf("claims %v", p.Claims)
				}
			},
		},
		{name: "expired", args: []string{"--gateway", s.srv.URL, "--expires-in", "-5m"}, err: "token expired at"},
		{name: "foreign audience", args: []string{"--gateway", s.srv.URL, "--audience", "https://elsewhere.example"}, err: "audience mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runDevToken(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("dev token: %v", err)
			}
			if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
				t.Errorf("stdout %q is not one line", out)
			}
			p, err := s.verifier.Verify(t.Context(), strings.TrimSpace(out))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Verify error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tt.check(t, p)
		})
	}
}

func TestDevTokenErrors(t *testing.T) {
	s := newDevTokenStack(t)
	notDev := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notDev.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	tests := []struct {
		name  string
		args  []string
		usage bool
		kind  spangate.Kind
		want  string
	}{
		{name: "claim without =", args: []string{"--gateway", s.srv.URL, "--claim", "ref"}, usage: true, want: "want KEY=VALUE"},
		{name: "claim without key", args: []string{"--gateway", s.srv.URL, "--claim", "=x"}, usage: true, want: "want KEY=VALUE"},
		{name: "unknown provider", args: []string{"--gateway", s.srv.URL, "--provider", "jenkins"}, usage: true, want: "--provider"},
		{name: "issuer refuses", args: []string{"--gateway", s.srv.URL, "--claim", "iat=yesterday"}, kind: spangate.Invalid, want: "want a number"},
		{name: "not a dev gateway", args: []string{"--gateway", notDev.URL}, kind: spangate.NotFound, want: "no dev OIDC issuer"},
		{name: "nothing listening", args: []string{"--gateway", down.URL}, kind: spangate.Unavailable, want: "request a dev token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runDevToken(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			var ue usageError
			if tt.usage != errors.As(err, &ue) {
				t.Errorf("usage error = %v, want %v", !tt.usage, tt.usage)
			}
			if !tt.usage && spangate.KindOf(err) != tt.kind {
				t.Errorf("kind = %v, want %v", spangate.KindOf(err), tt.kind)
			}
			if tt.name == "nothing listening" && spangate.HintOf(err) == "" {
				t.Error("no hint on how to start the dev stack")
			}
		})
	}
}

func TestDevTokenHelp(t *testing.T) {
	var stdout bytes.Buffer
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &stdout, &stdout)
	cmd := a.devTokenCommand()
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--provider", "--claim", "--expires-in", "--audience", "--gateway", "SPANGATE_URL", "Examples:", "export SPANGATE_ID_TOKEN"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
