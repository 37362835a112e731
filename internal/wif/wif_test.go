package wif

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"golang.org/x/oauth2/google"
)

const (
	pool      = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/bitbucket"
	sa        = "migrator@acme-prod.iam.gserviceaccount.com"
	ciToken   = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln" // the CI's ID token, as the fakes expect it
	fedToken  = "federated-access-token"
	saToken   = "impersonated-access-token"
	reqSecret = "actions-request-token"
)

// fakeGoogle serves the STS token exchange and the IAM credentials
// generateAccessToken call, each checked against Google's documented
// request format; a request that deviates gets 400 and fails the test.
type fakeGoogle struct {
	t         *testing.T
	srv       *httptest.Server
	audience  string
	lifetime  string
	sts, iam  atomic.Int32
	ghRequest atomic.Int32
}

func newFakeGoogle(t *testing.T, audience, lifetime string) *fakeGoogle {
	f := &fakeGoogle{t: t, audience: audience, lifetime: lifetime}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/token", f.token)
	mux.HandleFunc("/v1/projects/-/serviceAccounts/", f.generateAccessToken)
	mux.HandleFunc("/github/token", f.githubToken)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogle) fail(w http.ResponseWriter, format string, args ...any) {
	f.t.Errorf(format, args...)
	http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
}

// token is STS: POST /v1/token, a form with the RFC 8693 fields.
func (f *fakeGoogle) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		f.fail(w, "STS: %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		return
	}
	if err := r.ParseForm(); err != nil {
		f.fail(w, "STS: %v", err)
		return
	}
	want := map[string]string{
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"audience":             f.audience,
		"requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"subject_token_type":   SubjectTokenJWT,
		"subject_token":        ciToken,
	}
	for k, v := range want {
		if got := r.PostForm.Get(k); got != v {
			f.fail(w, "STS: %s = %q, want %q", k, got, v)
			return
		}
	}
	if !strings.Contains(" "+r.PostForm.Get("scope")+" ", " "+CloudPlatformRole+" ") {
		f.fail(w, "STS: scope %q lacks cloud-platform", r.PostForm.Get("scope"))
		return
	}
	f.sts.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": fedToken, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": 3600})
}

// generateAccessToken is IAM credentials: POST
// /v1/projects/-/serviceAccounts/SA:generateAccessToken with the federated
// token as bearer and a JSON body {scope, lifetime}.
func (f *fakeGoogle) generateAccessToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/projects/-/serviceAccounts/"+sa+":generateAccessToken" {
		f.fail(w, "IAM: %s %s", r.Method, r.URL.Path)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+fedToken {
		f.fail(w, "IAM: Authorization %q, want the federated token as bearer", got)
		return
	}
	var body struct {
		Scope    []string `json:"scope"`
		Lifetime string   `json:"lifetime"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || len(body.Scope) == 0 || (f.lifetime != "" && body.Lifetime != f.lifetime) {
		f.fail(w, "IAM: body %s (want scope and lifetime %q)", b, f.lifetime)
		return
	}
	f.iam.Add(1)
	json.NewEncoder(w).Encode(map[string]string{"accessToken": saToken, "expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
}

// githubToken is the Actions runtime's ID token endpoint.
func (f *fakeGoogle) githubToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+reqSecret || r.URL.Query().Get("audience") != "https:"+pool || r.URL.Query().Get("api-version") != "2.0" {
		f.fail(w, "GitHub token request: %s %q", r.URL, r.Header.Get("Authorization"))
		return
	}
	f.ghRequest.Add(1)
	json.NewEncoder(w).Encode(map[string]string{"value": ciToken})
}

// write writes the configuration of opts pointed at the fakes.
func (f *fakeGoogle) write(t *testing.T, opts Options) (string, *Setup) {
	t.Helper()
	opts.STSURL, opts.IAMURL = f.srv.URL+"/v1/token", f.srv.URL
	s, err := Configure(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCredentials("creds.json", b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, s
}

// TestOfficialLibrariesExchangeTheCIToken checks that both of Google's Go
// auth libraries (x/oauth2, and cloud.google.com/go/auth, which the Spanner
// client uses for Application Default Credentials) turn each written
// configuration into a service account's access token through STS and IAM
// credentials, with requests in Google's documented format.
func TestOfficialLibrariesExchangeTheCIToken(t *testing.T) {
	for _, tc := range []struct {
		provider string
		lifetime int
	}{{Bitbucket, 0}, {GitLab, 1800}, {GitHub, 600}} {
		t.Run(tc.provider, func(t *testing.T) {
			// Without a lifetime the libraries ask for Google's default hour.
			f := newFakeGoogle(t, pool, fmt.Sprintf("%ds", max(tc.lifetime, 3600)))
			if tc.lifetime > 0 {
				f.lifetime = fmt.Sprintf("%ds", tc.lifetime)
			}
			tokenFile := filepath.Join(t.TempDir(), "oidc-token")
			if err := os.WriteFile(tokenFile, []byte(ciToken+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": f.srv.URL + "/github/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": reqSecret}
			path, s := f.write(t, Options{Provider: tc.provider, PoolProvider: pool, ServiceAccount: sa, TokenFile: tokenFile, Lifetime: tc.lifetime,
				LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
			b, _ := os.ReadFile(path)

			ctx := context.Background()
			creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx, b, google.ExternalAccount,
				google.CredentialsParams{Scopes: []string{CloudPlatformRole}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := creds.TokenSource.Token()
			if err != nil || tok.AccessToken != saToken {
				t.Fatalf("x/oauth2: token %v, %v", tok, err)
			}

			ac, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{CloudPlatformRole}, CredentialsFile: path})
			if err != nil {
				t.Fatal(err)
			}
			at, err := ac.Token(ctx)
			if err != nil || at.Value != saToken {
				t.Fatalf("cloud.google.com/go/auth: token %v, %v", at, err)
			}
			if f.sts.Load() != 2 || f.iam.Load() != 2 {
				t.Errorf("STS called %d times, IAM %d; want 2 and 2", f.sts.Load(), f.iam.Load())
			}
			if tc.provider == GitHub && f.ghRequest.Load() != 2 {
				t.Errorf("GitHub token requested %d times, want 2", f.ghRequest.Load())
			}
			if s.AttributeCondition == "" || len(s.AttributeMapping) < 2 || !s.Placeholders {
				t.Errorf("setup = %+v", s)
			}
		})
	}
}

func TestConfigureRefusesMistakes(t *testing.T) {
	ok := Options{Provider: Bitbucket, PoolProvider: pool, ServiceAccount: sa}
	for name, mut := range map[string]func(*Options){
		"pool not provider": func(o *Options) {
			o.PoolProvider = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci"
		},
		"project id":        func(o *Options) { o.PoolProvider = strings.Replace(pool, "123456789", "acme-prod", 1) },
		"no prefix":         func(o *Options) { o.PoolProvider = "projects/1/locations/global/workloadIdentityPools/p/providers/q" },
		"user email":        func(o *Options) { o.ServiceAccount = "ada@example.com" },
		"unknown provider":  func(o *Options) { o.Provider = "jenkins" },
		"github outside CI": func(o *Options) { o.Provider = GitHub },
		"lifetime":          func(o *Options) { o.Lifetime = 99999 },
	} {
		o := ok
		mut(&o)
		if _, err := Configure(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := Configure(Options{Provider: Bitbucket, PoolProvider: "https:" + pool, ServiceAccount: sa,
		Repository: "{7c1e}", Environment: "{a12f}"})
	if err != nil || s.Placeholders || s.AttributeCondition != "attribute.repositoryuuid == '{7c1e}' && attribute.deploymentenvironmentuuid == '{a12f}'" {
		t.Fatalf("%+v %v", s, err)
	}
	if s.Config.TokenURL != DefaultSTSURL || !strings.HasPrefix(s.Config.ServiceAccountImpersonationURL, DefaultIAMURL+"/v1/projects/-/serviceAccounts/") {
		t.Errorf("default endpoints: %+v", s.Config)
	}
}

func TestCheckCredentials(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{"type":"external_account","token_url":"https://sts.googleapis.com/v1/token"}`:                                                                  true,
		`{"type":"external_account","token_url":"http://127.0.0.1:9/v1/token"}`:                                                                          true,
		`{"type":"external_account","token_url":"https://sts.googleapis.com.evil.example/v1/token"}`:                                                     false,
		`{"type":"external_account","token_url":"https://sts.googleapis.com/v1/token","service_account_impersonation_url":"https://attacker.example/x"}`: false,
		`{"type":"service_account"}`: true,
		`not json`:                   false,
	} {
		if err := CheckCredentials("c.json", []byte(raw)); (err == nil) != ok {
			t.Errorf("%s: err = %v", raw, err)
		}
	}
}
