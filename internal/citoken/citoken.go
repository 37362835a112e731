// Package citoken finds the OIDC ID token a CI system gives to the running
// job, for the CLI to present to a gateway, and reads the run metadata
// (commit, build, repository…) the CI system reports in its environment.
//
// Sources, first found wins:
//
//  1. the --id-token-file flag (Options.File): a file holding the token;
//  2. SPANGATE_ID_TOKEN: the token itself. This is also how GitLab CI is
//     supported: GitLab exposes each ID token as an environment variable the
//     job names, so declare
//     id_tokens: { SPANGATE_ID_TOKEN: { aud: https://gateway.example.com } };
//  3. BITBUCKET_STEP_OIDC_TOKEN: set by Bitbucket Pipelines on steps with
//     oidc: true;
//  4. GitHub Actions' token request: with ACTIONS_ID_TOKEN_REQUEST_URL and
//     ACTIONS_ID_TOKEN_REQUEST_TOKEN set (permissions: id-token: write), the
//     token is requested from the runner with the audience asked for.
//
// The token is a credential: this package never logs it, and Token's String,
// GoString and LogValue methods print only where it came from.
package citoken

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spangate/spangate"
)

// Source says where a token was found.
type Source string

// The sources, in the order they are tried.
const (
	SourceFile      Source = "--id-token-file"
	SourceEnv       Source = "SPANGATE_ID_TOKEN"
	SourceBitbucket Source = "BITBUCKET_STEP_OIDC_TOKEN"
	SourceGitHub    Source = "GitHub Actions token request"
)

// maxTokenBytes bounds a token read from a file or a response.
const maxTokenBytes = 64 << 10

// Token is an ID token and where it was found.
type Token struct {
	// Value is the raw token: a secret, never print or log it.
	Value string
	// Source says where it was found.
	Source Source
}

// String describes the token without its value.
func (t Token) String() string { return "ID token from " + string(t.Source) }

// GoString describes the token without its value, for %#v.
func (t Token) GoString() string { return "citoken.Token{Source: " + fmt.Sprintf("%q", t.Source) + "}" }

// LogValue logs only the token's source.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Options say what the caller asks for.
type Options struct {
	// File is the value of --id-token-file; "" skips that source.
	File string
	// Audience is the aud requested from GitHub Actions; "" leaves GitHub's
	// default (the repository owner's URL). Other CI systems fix the
	// audience in the pipeline definition.
	Audience string
}

// Finder finds the CI's ID token.
type Finder struct {
	lookupEnv func(string) (string, bool)
	client    *http.Client
	attempts  int
	backoff   time.Duration
}

// NewFinder returns a Finder that reads the environment through lookupEnv
// and requests GitHub Actions tokens with client (nil means a client with a
// 30 s timeout).
func NewFinder(lookupEnv func(string) (string, bool), client *http.Client) *Finder {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Finder{lookupEnv: lookupEnv, client: client, attempts: 3, backoff: time.Second}
}

func (f *Finder) env(key string) string {
	v, _ := f.lookupEnv(key)
	return strings.TrimSpace(v)
}

// Find returns the first token found. An empty environment variable counts
// as unset. With no token anywhere it returns an Unauthenticated error whose
// hint says how to provide one; a source that is present but broken (an
// unreadable file, a failing GitHub request) is an error too, not a reason to
// try the next one.
func (f *Finder) Find(ctx context.Context, opts Options) (Token, error) {
	if opts.File != "" {
		v, err := readTokenFile(opts.File)
		if err != nil {
			return Token{}, err
		}
		return checked(v, SourceFile)
	}
	if v := f.env("SPANGATE_ID_TOKEN"); v != "" {
		return checked(v, SourceEnv)
	}
	if v := f.env("BITBUCKET_STEP_OIDC_TOKEN"); v != "" {
		return checked(v, SourceBitbucket)
	}
	reqURL, reqToken := f.env("ACTIONS_ID_TOKEN_REQUEST_URL"), f.env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL != "" && reqToken != "" {
		v, err := f.requestGitHub(ctx, reqURL, reqToken, opts.Audience)
		if err != nil {
			return Token{}, err
		}
		return checked(v, SourceGitHub)
	}
	hint := "pass --id-token-file or set SPANGATE_ID_TOKEN; in Bitbucket Pipelines add oidc: true to the step; " +
		"in GitHub Actions give the job permissions: id-token: write; in GitLab CI declare id_tokens: SPANGATE_ID_TOKEN with aud set to the gateway URL"
	if reqURL != "" || reqToken != "" {
		hint = "only one of ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN is set; give the job permissions: id-token: write"
	}
	return Token{}, spangate.Errorf(spangate.Unauthenticated, "no CI identity token found").WithHint(hint)
}

// checked refuses values that cannot be a compact JWT, to catch a wrong file
// or variable early, without saying anything about the value.
func checked(v string, src Source) (Token, error) {
	if strings.Count(v, ".") != 2 || strings.ContainsAny(v, " \t\r\n\"{}") {
		return Token{}, spangate.Errorf(spangate.Invalid, "the token from %s is not a JWT (want three dot-separated base64url parts)", src)
	}
	return Token{Value: v, Source: src}, nil
}

func readTokenFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", spangate.Errorf(spangate.Invalid, "read --id-token-file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxTokenBytes+1))
	if err != nil {
		return "", spangate.Errorf(spangate.Invalid, "read --id-token-file: %w", err)
	}
	if len(b) > maxTokenBytes {
		return "", spangate.Errorf(spangate.Invalid, "--id-token-file %s is larger than %d bytes", path, maxTokenBytes)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", spangate.Errorf(spangate.Invalid, "--id-token-file %s is empty", path)
	}
	return v, nil
}

// requestGitHub asks the Actions runtime for a token, retrying transient
// failures.
func (f *Finder) requestGitHub(ctx context.Context, reqURL, reqToken, audience string) (string, error) {
	u, err := url.Parse(reqURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", spangate.Errorf(spangate.Invalid, "ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	var lastErr error
	for attempt := range f.attempts {
		if attempt > 0 {
			t := time.NewTimer(f.backoff << (attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return "", spangate.Errorf(spangate.KindOf(ctx.Err()), "request GitHub Actions ID token: %w", ctx.Err())
			case <-t.C:
			}
		}
		v, retry, err := f.requestOnce(ctx, u.String(), reqToken)
		if err == nil {
			return v, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return "", lastErr
}

// requestOnce makes one request; retry says whether another may succeed.
func (f *Finder) requestOnce(ctx context.Context, reqURL, reqToken string) (string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
	if err != nil {
		return "", false, spangate.Errorf(spangate.Invalid, "request GitHub Actions ID token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, spangate.Errorf(spangate.KindOf(ctx.Err()), "request GitHub Actions ID token: %w", ctx.Err())
		}
		// The error text holds the URL, which carries no secret; the
		// request token travels in a header.
		return "", true, spangate.Errorf(spangate.Unavailable, "request GitHub Actions ID token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBytes+1))
	if err != nil {
		return "", true, spangate.Errorf(spangate.Unavailable, "read GitHub Actions ID token response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", false, spangate.Errorf(spangate.Unauthenticated, "GitHub Actions refused the ID token request: HTTP %d", resp.StatusCode).
			WithHint("give the job permissions: id-token: write")
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", true, spangate.Errorf(spangate.Unavailable, "GitHub Actions ID token request failed: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return "", false, spangate.Errorf(spangate.Unavailable, "GitHub Actions ID token request failed: HTTP %d", resp.StatusCode)
	case len(body) > maxTokenBytes:
		return "", false, spangate.Errorf(spangate.Unavailable, "GitHub Actions ID token response is larger than %d bytes", maxTokenBytes)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", false, spangate.Errorf(spangate.Unavailable, "GitHub Actions ID token response is not JSON: %w", err)
	}
	if out.Value == "" {
		return "", false, spangate.Errorf(spangate.Unavailable, "GitHub Actions ID token response has no value")
	}
	return out.Value, false, nil
}
