package citoken

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spangate/spangate"
)

const (
	tokFile = "eyJhbGciOiJSUzI1NiJ9.eyJzcmMiOiJmaWxlIn0.c2ln"
	tokEnv  = "eyJhbGciOiJSUzI1NiJ9.eyJzcmMiOiJlbnYifQ.c2ln"
	tokBB   = "eyJhbGciOiJSUzI1NiJ9.eyJzcmMiOiJiYiJ9.c2ln"
	tokGH   = "eyJhbGciOiJSUzI1NiJ9.eyJzcmMiOiJnaCJ9.c2ln"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// fakeGitHub is a fake Actions ID token endpoint.
type fakeGitHub struct {
	srv      *httptest.Server
	calls    atomic.Int64
	failures int64 // first n calls answer 503
	status   int
	body     string
	audience atomic.Value
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{status: 200, body: `{"value":"` + tokGH + `"}`}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer request-secret" || r.URL.Query().Get("api-version") != "2.0" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.audience.Store(r.URL.Query().Get("audience"))
		if n <= f.failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(f.status)
		fmt.Fprint(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) env() map[string]string {
	return map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   f.srv.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-secret",
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  "+tokFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	notJWT := filepath.Join(dir, "json")
	os.WriteFile(notJWT, []byte(`{"value":"x.y.z"}`), 0o600)
	huge := filepath.Join(dir, "huge")
	os.WriteFile(huge, []byte(strings.Repeat("a", maxTokenBytes+1)), 0o600)

	gh := newFakeGitHub(t)
	ghFailsOnce := newFakeGitHub(t)
	ghFailsOnce.failures = 1
	ghDown := newFakeGitHub(t)
	ghDown.failures = 100
	ghForbidden := newFakeGitHub(t)
	ghForbidden.status = 403
	ghBadJSON := newFakeGitHub(t)
	ghBadJSON.body = "<html>"
	ghNoValue := newFakeGitHub(t)
	ghNoValue.body = `{"count":1}`

	tests := []struct {
		name     string
		opts     Options
		env      map[string]string
		want     Token
		wantErr  string
		kind     spangate.Kind
		gh       *fakeGitHub
		calls    int64
		audience string
	}{
		{name: "file wins over everything", opts: Options{File: file}, env: merge(gh.env(), map[string]string{"SPANGATE_ID_TOKEN": tokEnv, "BITBUCKET_STEP_OIDC_TOKEN": tokBB}),
			want: Token{tokFile, SourceFile}, gh: gh, calls: 0},
		{name: "SPANGATE_ID_TOKEN over Bitbucket", env: map[string]string{"SPANGATE_ID_TOKEN": tokEnv, "BITBUCKET_STEP_OIDC_TOKEN": tokBB},
			want: Token{tokEnv, SourceEnv}},
		{name: "GitLab id_tokens via SPANGATE_ID_TOKEN", env: map[string]string{"GITLAB_CI": "true", "SPANGATE_ID_TOKEN": tokEnv},
			want: Token{tokEnv, SourceEnv}},
		{name: "Bitbucket over GitHub", env: merge(gh.env(), map[string]string{"BITBUCKET_STEP_OIDC_TOKEN": tokBB}),
			want: Token{tokBB, SourceBitbucket}, gh: gh, calls: 0},
		{name: "empty variable is unset", env: map[string]string{"SPANGATE_ID_TOKEN": "", "BITBUCKET_STEP_OIDC_TOKEN": tokBB},
			want: Token{tokBB, SourceBitbucket}},
		{name: "GitHub with audience", opts: Options{Audience: "https://gw.example.com/x?y"}, env: gh.env(),
			want: Token{tokGH, SourceGitHub}, gh: gh, calls: 1, audience: "https://gw.example.com/x?y"},
		{name: "GitHub retries a 503", env: ghFailsOnce.env(), want: Token{tokGH, SourceGitHub}, gh: ghFailsOnce, calls: 2},
		{name: "GitHub down", env: ghDown.env(), wantErr: "HTTP 503", kind: spangate.Unavailable, gh: ghDown, calls: 3},
		{name: "GitHub forbidden", env: ghForbidden.env(), wantErr: "refused the ID token request: HTTP 403", kind: spangate.Unauthenticated, gh: ghForbidden, calls: 1},
		{name: "GitHub bad request token", env: merge(gh.env(), map[string]string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}), wantErr: "HTTP 401", kind: spangate.Unauthenticated},
		{name: "GitHub not JSON", env: ghBadJSON.env(), wantErr: "not JSON", kind: spangate.Unavailable},
		{name: "GitHub no value", env: ghNoValue.env(), wantErr: "has no value", kind: spangate.Unavailable},
		{name: "GitHub URL without token", env: map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}, wantErr: "no CI identity token found", kind: spangate.Unauthenticated},
		{name: "GitHub bad URL", env: map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "::", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}, wantErr: "not an http(s) URL", kind: spangate.Invalid},
		{name: "nothing", env: map[string]string{"CI": "true"}, wantErr: "no CI identity token found", kind: spangate.Unauthenticated},
		{name: "missing file", opts: Options{File: filepath.Join(dir, "nope")}, env: map[string]string{"SPANGATE_ID_TOKEN": tokEnv}, wantErr: "read --id-token-file", kind: spangate.Invalid},
		{name: "empty file", opts: Options{File: empty}, wantErr: "is empty", kind: spangate.Invalid},
		{name: "huge file", opts: Options{File: huge}, wantErr: "larger than", kind: spangate.Invalid},
		{name: "file is not a JWT", opts: Options{File: notJWT}, wantErr: "from --id-token-file is not a JWT", kind: spangate.Invalid},
		{name: "variable is not a JWT", env: map[string]string{"SPANGATE_ID_TOKEN": "hunter2"}, wantErr: "from SPANGATE_ID_TOKEN is not a JWT", kind: spangate.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int64
			if tt.gh != nil {
				before = tt.gh.calls.Load()
			}
			f := NewFinder(envOf(tt.env), nil)
			f.backoff = time.Millisecond
			got, err := f.Find(t.Context(), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Find error = %v, want %q", err, tt.wantErr)
				}
				if k := spangate.KindOf(err); k != tt.kind {
					t.Errorf("kind = %v, want %v", k, tt.kind)
				}
				if strings.Contains(err.Error(), "request-secret") || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q leaks a secret", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Find: %v", err)
				}
				if got != tt.want {
					t.Errorf("Find = %#v (%s), want %#v", got, got.Value, tt.want)
				}
			}
			if tt.gh != nil {
				if n := tt.gh.calls.Load() - before; n != tt.calls {
					t.Errorf("GitHub endpoint called %d times, want %d", n, tt.calls)
				}
				if tt.audience != "" && tt.gh.audience.Load() != tt.audience {
					t.Errorf("audience = %v, want %q", tt.gh.audience.Load(), tt.audience)
				}
			}
		})
	}
}

func TestFindNoAudienceParameter(t *testing.T) {
	gh := newFakeGitHub(t)
	if _, err := NewFinder(envOf(gh.env()), gh.srv.Client()).Find(t.Context(), Options{}); err != nil {
		t.Fatal(err)
	}
	if a := gh.audience.Load(); a != "" {
		t.Errorf("audience = %q, want none", a)
	}
}

func TestTokenNeverPrintsValue(t *testing.T) {
	tok := Token{Value: tokEnv, Source: SourceEnv}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("found", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), logged.String()} {
		if strings.Contains(s, tokEnv) {
			t.Errorf("%q shows the token", s)
		}
		if !strings.Contains(s, "SPANGATE_ID_TOKEN") {
			t.Errorf("%q does not say where the token came from", s)
		}
	}
}

func TestMetadata(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want spangate.RunMetadata
	}{
		{"none", map[string]string{"CI": "true", "HOME": "/root"}, spangate.RunMetadata{}},
		{"bitbucket deployment", map[string]string{
			"CI": "true", "BITBUCKET_BUILD_NUMBER": "42", "BITBUCKET_COMMIT": "abc123",
			"BITBUCKET_PIPELINE_UUID": "{p}", "BITBUCKET_REPO_FULL_NAME": "acme/orders", "BITBUCKET_BRANCH": "main",
			"BITBUCKET_DEPLOYMENT_ENVIRONMENT": "production", "BITBUCKET_STEP_TRIGGERER_UUID": "{u}",
		}, spangate.RunMetadata{CI: "bitbucket", Commit: "abc123", Build: "42", Pipeline: "{p}", Repository: "acme/orders",
			Branch: "main", Environment: "production", Actor: "{u}"}},
		{"bitbucket pull request and tag fallback", map[string]string{
			"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_WORKSPACE": "acme", "BITBUCKET_REPO_SLUG": "orders",
			"BITBUCKET_TAG": "v1.2", "BITBUCKET_PR_ID": "12",
		}, spangate.RunMetadata{CI: "bitbucket", Build: "7", Repository: "acme/orders", Branch: "v1.2", PullRequest: "12"}},
		{"github push", map[string]string{
			"GITHUB_ACTIONS": "true", "GITHUB_SHA": "def", "GITHUB_RUN_NUMBER": "3", "GITHUB_RUN_ID": "999",
			"GITHUB_REPOSITORY": "acme/orders", "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_ACTOR": "octo",
		}, spangate.RunMetadata{CI: "github", Commit: "def", Build: "3", Pipeline: "999", Repository: "acme/orders", Branch: "main", Actor: "octo"}},
		{"github pull request", map[string]string{
			"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/17/merge", "GITHUB_REF_NAME": "17/merge",
			"GITHUB_HEAD_REF": "feature", "GITHUB_ACTOR": "octo", "GITHUB_TRIGGERING_ACTOR": "cat",
		}, spangate.RunMetadata{CI: "github", Branch: "feature", PullRequest: "17", Actor: "cat"}},
		{"gitlab merge request", map[string]string{
			"GITLAB_CI": "true", "CI_COMMIT_SHA": "123", "CI_JOB_ID": "5", "CI_PIPELINE_ID": "6",
			"CI_PROJECT_PATH": "g/p", "CI_COMMIT_REF_NAME": "feature", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature-mr",
			"CI_ENVIRONMENT_NAME": "staging", "CI_MERGE_REQUEST_IID": "8", "GITLAB_USER_LOGIN": "me",
		}, spangate.RunMetadata{CI: "gitlab", Commit: "123", Build: "5", Pipeline: "6", Repository: "g/p",
			Branch: "feature-mr", Environment: "staging", PullRequest: "8", Actor: "me"}},
		{"github wins over stray bitbucket variables", map[string]string{"GITHUB_ACTIONS": "true", "BITBUCKET_BUILD_NUMBER": "1", "GITHUB_SHA": "x"},
			spangate.RunMetadata{CI: "github", Commit: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Metadata(envOf(tt.env)); got != tt.want {
				t.Errorf("Metadata =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
