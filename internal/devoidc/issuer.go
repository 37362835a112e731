// Package devoidc is the local OpenID Connect issuer of `spangate dev`. It
// mints ID tokens shaped like those of Bitbucket Pipelines, GitHub Actions and
// GitLab CI (same claim names and value formats, issued by the dev issuer),
// signed with real RS256 signatures, so the gateway verifies them exactly as
// it verifies a pipeline's token.
//
// It serves, under the path of its issuer URL (http://<addr>/dev/oidc in
// `spangate dev`):
//
//	GET  <path>/.well-known/openid-configuration   discovery
//	GET  <path>/keys                               the JWKS (one RSA key)
//	POST <path>/token                              mint a token
//
// Security caveat: anyone who can reach the token endpoint can mint any
// identity. It exists for local development only; its key is generated at
// start, lives in memory and is gone at exit. Never trust the dev issuer in a
// gateway that guards real data.
//
// Tokens are signed and the key published with go-jose, the JOSE library
// the verifier uses too.
package devoidc

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/spangate/spangate"
)

// Defaults of minted tokens.
const (
	// DefaultExpiresIn is the lifetime of a token minted with expiresIn 0.
	DefaultExpiresIn = time.Hour
	// MaxExpiresIn bounds the lifetime (positive or negative) of a token.
	MaxExpiresIn = 7 * 24 * time.Hour
)

// The fixed identity that minted tokens describe by default, so dev configs
// and tests can name it in rules.
const (
	BitbucketWorkspaceUUID   = "{5b0e1c7a-3f2d-4e8b-9a61-2c4d8e0f1a3b}"
	BitbucketRepositoryUUID  = "{7c1e9a42-8d3b-4f6e-b2a0-5e9d1c3f7a84}"
	BitbucketEnvironmentUUID = "{a12f6d3e-0b7c-4e59-8f14-9d2a6c0e3b71}"
	GitHubRepository         = "spangate-dev/app"
	GitHubRepositoryID       = "700000001"
	GitHubOwnerID            = "700000000"
	GitLabProjectPath        = "spangate-dev/app"
	GitLabProjectID          = "4200001"
	GitLabNamespaceID        = "4200000"
	DevEnvironment           = "production"
)

// numericClaims are always JSON numbers, whatever the claim set.
var numericClaims = []string{"exp", "nbf", "iat", "auth_time"}

// Options tune an Issuer. The zero value is usable.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand supplies the random run, step and token ids; nil means
	// crypto/rand. The signing key always comes from crypto/rand.
	Rand io.Reader
	// Logger receives one line per minted token (provider, subject; never the
	// token); nil discards.
	Logger *slog.Logger
}

// Issuer is a local OIDC issuer. It is safe for concurrent use.
type Issuer struct {
	url       string
	path      string // the issuer URL's path, without a trailing slash
	key       *rsa.PrivateKey
	signer    jose.Signer
	kid       string
	now       func() time.Time
	log       *slog.Logger
	jwks      []byte
	discovery []byte

	randMu sync.Mutex
	rand   io.Reader
}

// New generates a 2048-bit RSA key and returns an issuer whose iss is
// issuerURL, which must be an absolute http or https URL without query.
func New(issuerURL string, opts Options) (*Issuer, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, spangate.Errorf(spangate.Invalid, "dev issuer URL %q: want http(s)://host[/path]", issuerURL)
	}
	issuerURL = strings.TrimSuffix(issuerURL, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "generate dev issuer key: %w", err)
	}
	iss := &Issuer{
		url:  issuerURL,
		path: strings.TrimSuffix(u.EscapedPath(), "/"),
		key:  key,
		now:  opts.Now,
		log:  opts.Logger,
		rand: opts.Rand,
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256) // RFC 7638
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "dev issuer key thumbprint: %w", err)
	}
	iss.kid = b64(thumb)
	pub.KeyID = iss.kid
	iss.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "encode JWKS: %w", err)
	}
	iss.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: iss.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "dev issuer signer: %w", err)
	}
	iss.discovery, err = json.Marshal(map[string]any{
		"issuer":                                issuerURL,
		"jwks_uri":                              issuerURL + "/keys",
		"token_endpoint":                        issuerURL + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      claimsSupported(),
	})
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "encode discovery document: %w", err)
	}
	return iss, nil
}

// URL returns the issuer URL, the iss of every token it mints.
func (i *Issuer) URL() string { return i.url }

// MountPath returns the pattern under which to register Handler on a
// ServeMux: the issuer URL's path with a trailing slash, "/dev/oidc/" for
// http://127.0.0.1:8479/dev/oidc.
func (i *Issuer) MountPath() string { return i.path + "/" }

// Providers lists the providers Mint accepts.
func Providers() []spangate.Provider {
	return []spangate.Provider{spangate.ProviderBitbucket, spangate.ProviderGitHub, spangate.ProviderGitLab, spangate.ProviderGeneric}
}

// DefaultAudience returns the aud a token for provider gets when Mint is
// called with no audience: the CI system's own default shape (the Bitbucket
// workspace ARI, the GitHub owner URL) or, for GitLab and generic issuers
// which have none, the origin of the issuer URL (the dev gateway). It
// returns "" for an unknown provider.
func (i *Issuer) DefaultAudience(p spangate.Provider) string {
	switch p {
	case spangate.ProviderBitbucket:
		return "ari:cloud:bitbucket::workspace/" + strings.Trim(BitbucketWorkspaceUUID, "{}")
	case spangate.ProviderGitHub:
		return "https://github.com/" + strings.Split(GitHubRepository, "/")[0]
	case spangate.ProviderGitLab, spangate.ProviderGeneric:
		u, _ := url.Parse(i.url)
		return u.Scheme + "://" + u.Host
	}
	return ""
}

// Audiences returns the distinct default audiences of all providers: what a
// gateway that trusts the dev issuer should accept.
func (i *Issuer) Audiences() []string {
	var out []string
	for _, p := range Providers() {
		if a := i.DefaultAudience(p); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Mint returns a signed token for provider with the CI system's claim set.
// audience "" means DefaultAudience(provider); expiresIn 0 means
// DefaultExpiresIn and may be negative to mint an expired token.
//
// overrides set or replace any claim, iss and aud included. A value is
// stored as a JSON number for exp, nbf, iat and auth_time and for any claim
// whose default is a number; as a JSON array when it starts with "[" and
// parses as one (aud='["a","b"]'); otherwise as a string. An empty value
// removes the claim. Unless sub is overridden, it is rebuilt from the
// overridden claims the CI system derives it from (for example
// repositoryUuid, deploymentEnvironmentUuid and stepUuid for Bitbucket).
func (i *Issuer) Mint(provider spangate.Provider, overrides map[string]string, audience string, expiresIn time.Duration) (string, error) {
	tok, _, err := i.mint(provider, overrides, audience, expiresIn)
	return tok, err
}

// mint is Mint that also returns the claims it signed.
func (i *Issuer) mint(provider spangate.Provider, overrides map[string]string, audience string, expiresIn time.Duration) (string, map[string]any, error) {
	claims, err := i.claims(provider, overrides, audience, expiresIn)
	if err != nil {
		return "", nil, err
	}
	tok, err := i.sign(claims)
	if err != nil {
		return "", nil, err
	}
	i.log.Info("minted dev token", "provider", string(cmp.Or(provider, spangate.ProviderBitbucket)), "subject", str(claims["sub"]))
	return tok, claims, nil
}

// claims builds the claim set Mint signs.
func (i *Issuer) claims(provider spangate.Provider, overrides map[string]string, audience string, expiresIn time.Duration) (map[string]any, error) {
	if provider == "" {
		provider = spangate.ProviderBitbucket
	}
	if expiresIn == 0 {
		expiresIn = DefaultExpiresIn
	}
	if expiresIn > MaxExpiresIn || expiresIn < -MaxExpiresIn {
		return nil, spangate.Errorf(spangate.Invalid, "expires_in %s is beyond ±%s", expiresIn, MaxExpiresIn)
	}
	if audience == "" {
		audience = i.DefaultAudience(provider)
	}
	now := i.now().Truncate(time.Second)
	c := map[string]any{
		"iss": i.url,
		"aud": audience,
		"iat": now.Unix(),
		"exp": now.Add(expiresIn).Unix(),
	}
	var derive func(map[string]any)
	switch provider {
	case spangate.ProviderBitbucket:
		derive = i.bitbucket(c)
	case spangate.ProviderGitHub:
		derive = i.github(c, now)
	case spangate.ProviderGitLab:
		derive = i.gitlab(c, now)
	case spangate.ProviderGeneric:
		derive = i.generic(c)
	default:
		return nil, spangate.Errorf(spangate.Invalid, "unknown provider %q; want one of bitbucket, github, gitlab, oidc", provider)
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			return nil, spangate.Errorf(spangate.Invalid, "claim override with an empty name")
		}
		v, err := overrideValue(k, overrides[k], c[k])
		if err != nil {
			return nil, err
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	if _, ok := overrides["sub"]; !ok {
		derive(c)
	}
	return c, nil
}

// overrideValue converts an override to the claim's JSON type; nil removes
// the claim.
func overrideValue(name, value string, old any) (any, error) {
	if value == "" {
		return nil, nil
	}
	switch old.(type) {
	case int64, float64:
		return number(name, value)
	}
	if slices.Contains(numericClaims, name) {
		return number(name, value)
	}
	if strings.HasPrefix(value, "[") {
		var arr []any
		if json.Unmarshal([]byte(value), &arr) == nil {
			return arr, nil
		}
	}
	return value, nil
}

func number(name, value string) (any, error) {
	if n, err := strconv.ParseInt(value, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "claim %s=%q: want a number", name, value)
	}
	return f, nil
}

// bitbucket fills Bitbucket Pipelines claims: a deployment step of the dev
// repository on branch main.
func (i *Issuer) bitbucket(c map[string]any) func(map[string]any) {
	c["workspaceUuid"] = BitbucketWorkspaceUUID
	c["repositoryUuid"] = BitbucketRepositoryUUID
	c["deploymentEnvironmentUuid"] = BitbucketEnvironmentUUID
	c["pipelineUuid"] = i.uuid()
	c["stepUuid"] = i.uuid()
	c["branchName"] = "main"
	return func(c map[string]any) {
		// {REPOSITORY_UUID}[:{ENVIRONMENT_UUID}]:{STEP_UUID}
		parts := []string{str(c["repositoryUuid"])}
		if env := str(c["deploymentEnvironmentUuid"]); env != "" {
			parts = append(parts, env)
		}
		c["sub"] = strings.Join(append(parts, str(c["stepUuid"])), ":")
	}
}

// github fills GitHub Actions claims: a push to main of the dev repository,
// deploying to the production environment.
func (i *Issuer) github(c map[string]any, now time.Time) func(map[string]any) {
	owner := strings.Split(GitHubRepository, "/")[0]
	sha := i.hex(20)
	workflow := GitHubRepository + "/.github/workflows/deploy.yml@refs/heads/main"
	c["jti"] = i.uuidBare()
	c["nbf"] = now.Unix()
	c["ref"] = "refs/heads/main"
	c["ref_type"] = "branch"
	c["ref_protected"] = "true"
	c["sha"] = sha
	c["repository"] = GitHubRepository
	c["repository_id"] = GitHubRepositoryID
	c["repository_owner"] = owner
	c["repository_owner_id"] = GitHubOwnerID
	c["repository_visibility"] = "private"
	c["run_id"] = i.digits(10)
	c["run_number"] = "1"
	c["run_attempt"] = "1"
	c["actor"] = "dev-user"
	c["actor_id"] = "700000002"
	c["workflow"] = "deploy"
	c["workflow_ref"] = workflow
	c["workflow_sha"] = sha
	c["job_workflow_ref"] = workflow
	c["job_workflow_sha"] = sha
	c["event_name"] = "push"
	c["head_ref"] = ""
	c["base_ref"] = ""
	c["environment"] = DevEnvironment
	c["runner_environment"] = "github-hosted"
	return func(c map[string]any) {
		repo := "repo:" + str(c["repository"])
		switch {
		case str(c["environment"]) != "":
			c["sub"] = repo + ":environment:" + str(c["environment"])
		case str(c["event_name"]) == "pull_request":
			c["sub"] = repo + ":pull_request"
		default:
			c["sub"] = repo + ":ref:" + str(c["ref"])
		}
	}
}

// gitlab fills GitLab CI claims: a protected-branch pipeline of the dev
// project, deploying to production. IDs and booleans are strings, as in
// GitLab's tokens.
func (i *Issuer) gitlab(c map[string]any, now time.Time) func(map[string]any) {
	sha := i.hex(20)
	c["jti"] = i.uuidBare()
	c["nbf"] = now.Unix()
	c["namespace_id"] = GitLabNamespaceID
	c["namespace_path"] = strings.Split(GitLabProjectPath, "/")[0]
	c["project_id"] = GitLabProjectID
	c["project_path"] = GitLabProjectPath
	c["user_id"] = "4200002"
	c["user_login"] = "dev-user"
	c["user_email"] = "dev-user@example.com"
	c["pipeline_id"] = i.digits(9)
	c["pipeline_source"] = "push"
	c["job_id"] = i.digits(10)
	c["ref"] = "main"
	c["ref_type"] = "branch"
	c["ref_path"] = "refs/heads/main"
	c["ref_protected"] = "true"
	c["environment"] = DevEnvironment
	c["environment_protected"] = "true"
	c["deployment_tier"] = "production"
	c["runner_id"] = "1"
	c["runner_environment"] = "gitlab-hosted"
	c["sha"] = sha
	return func(c map[string]any) {
		c["sub"] = "project_path:" + str(c["project_path"]) + ":ref_type:" + str(c["ref_type"]) + ":ref:" + str(c["ref"])
	}
}

// generic fills the claims of a person's token from a corporate IdP.
func (i *Issuer) generic(c map[string]any) func(map[string]any) {
	c["email"] = "dev-user@example.com"
	c["email_verified"] = true
	c["name"] = "Dev User"
	c["groups"] = []any{"spangate-dev"}
	return func(c map[string]any) { c["sub"] = "dev-user" }
}

// sign encodes claims and signs them with RS256 (go-jose), under the
// issuer's kid and typ JWT.
func (i *Issuer) sign(claims map[string]any) (string, error) {
	var payload bytes.Buffer
	enc := json.NewEncoder(&payload)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return "", spangate.Errorf(spangate.Invalid, "encode claims: %w", err)
	}
	jws, err := i.signer.Sign(bytes.TrimRight(payload.Bytes(), "\n"))
	if err != nil {
		return "", spangate.Errorf(spangate.Internal, "sign token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", spangate.Errorf(spangate.Internal, "encode token: %w", err)
	}
	return tok, nil
}

// random fills b from the injected source.
func (i *Issuer) random(b []byte) {
	i.randMu.Lock()
	defer i.randMu.Unlock()
	if _, err := io.ReadFull(i.rand, b); err != nil {
		// A failing source only makes ids less unique; keep them valid.
		clear(b)
	}
}

// uuidBare returns a random version-4 UUID.
func (i *Issuer) uuidBare() string {
	var b [16]byte
	i.random(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// uuid returns a random UUID in Bitbucket's brace-wrapped form.
func (i *Issuer) uuid() string { return "{" + i.uuidBare() + "}" }

// hex returns n random bytes in hex (a commit SHA for n = 20).
func (i *Issuer) hex(n int) string {
	b := make([]byte, n)
	i.random(b)
	return hex.EncodeToString(b)
}

// digits returns a random decimal id of n digits without a leading zero.
func (i *Issuer) digits(n int) string {
	b := make([]byte, n)
	i.random(b)
	for j := range b {
		b[j] = '0' + b[j]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func claimsSupported() []string {
	return []string{
		"iss", "aud", "sub", "iat", "exp", "nbf", "jti",
		"workspaceUuid", "repositoryUuid", "deploymentEnvironmentUuid", "pipelineUuid", "stepUuid", "branchName",
		"repository", "repository_id", "repository_owner", "repository_owner_id", "ref", "ref_type", "sha",
		"environment", "workflow_ref", "job_workflow_ref", "run_id", "actor", "event_name",
		"project_path", "project_id", "namespace_path", "namespace_id", "ref_protected", "pipeline_id", "job_id",
		"email", "groups",
	}
}
