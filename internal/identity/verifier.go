// Package identity verifies the OIDC ID tokens that CI systems (Bitbucket
// Pipelines, GitHub Actions, GitLab CI) and other OpenID Connect issuers give
// to their workloads, and maps their claims to a spangate.Principal.
//
// It is the only package that imports go-oidc and go-jose. Verification is
// deliberately stricter than go-oidc's IDTokenVerifier:
//
//   - Only issuers on an allow-list are trusted, each with its own accepted
//     audiences, discovery document and key cache. The token's unverified iss
//     claim is used only to pick the issuer; everything else is checked after
//     the signature.
//   - Only asymmetric algorithms are accepted (RS*, PS*, ES*, EdDSA); "none"
//     in any casing and every HMAC algorithm are refused before any key is
//     looked at, so an issuer's public key can never be used as an HMAC
//     secret. A key is used only for the algorithm family and curve it was
//     made for, and only when its own "alg" and "use" (if any) agree.
//   - The jku, x5u, x5c and jwk headers are refused, never followed; any crit
//     header is refused because no extension is understood.
//   - exp is required; exp and nbf are checked with a small, configurable
//     leeway that cannot exceed MaxLeeway; an iat in the future is refused,
//     and so is a token that lives longer than a maximum lifetime (exp -
//     iat, default 24 h) or expires later than that from now.
//   - A token for several audiences must name one of spangate's in azp,
//     unless its other audience is its Bitbucket workspace's own.
//   - Discovery and JWKS responses are fetched lazily, with timeouts and size
//     limits. A token whose kid is unknown refetches the JWKS at most once per
//     cooldown, and concurrent callers share one fetch, so a flood of tokens
//     with random kids cannot make spangate hammer the issuer. Keys older than
//     a maximum age are refreshed on use, so rotated and revoked keys are
//     picked up.
//
// Security caveat: an issuer such as GitHub Actions' is shared by every
// repository on the platform. The audience check only proves the token was
// minted for spangate; which repository, branch or environment may do what
// must be decided by policy over the claims (prefer immutable ids such as
// repository_id and repositoryUuid over names).
package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/spangate/spangate"
)

// Limits and defaults of a Verifier.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat when
	// Options.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway NewVerifier accepts.
	MaxLeeway = 2 * time.Minute
	// DefaultMaxTokenLifetime is the longest lifetime (exp - iat) of an
	// accepted token when Options.MaxTokenLifetime is zero. CI tokens live
	// minutes to an hour; one that lives for days is a stolen signing key's
	// token, or one that must not be kept.
	DefaultMaxTokenLifetime = 24 * time.Hour
	// DefaultJWKSRefreshCooldown is the minimum time between two JWKS fetches
	// of one issuer when Options.JWKSRefreshCooldown is zero.
	DefaultJWKSRefreshCooldown = 30 * time.Second
	// DefaultKeyMaxAge is how long fetched keys are used before they are
	// refreshed, when Options.KeyMaxAge is zero.
	DefaultKeyMaxAge = time.Hour
	// DefaultFetchTimeout bounds one discovery plus JWKS fetch when
	// Options.FetchTimeout is zero.
	DefaultFetchTimeout = 10 * time.Second
	// MaxTokenBytes is the size of the largest token Verify looks at. Real
	// CI tokens are one to two kilobytes.
	MaxTokenBytes = 32 << 10
	// maxDocumentBytes bounds discovery and JWKS response bodies.
	maxDocumentBytes = 1 << 20
)

// allowedAlgorithms are the signature algorithms spangate accepts: the
// asymmetric ones of RFC 7518 and EdDSA. HMAC and "none" are never accepted.
var allowedAlgorithms = []string{
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.EdDSA),
}

// Algorithms returns the signature algorithms a Verifier may accept.
func Algorithms() []string { return slices.Clone(allowedAlgorithms) }

// IssuerConfig describes one trusted issuer.
type IssuerConfig struct {
	// Name is the issuer's name in the configuration; it becomes
	// Principal.Issuer and the policy variable "issuer".
	Name string
	// URL is the issuer identifier, compared exactly with the token's iss
	// claim. The discovery document is fetched from
	// URL + "/.well-known/openid-configuration".
	URL string
	// Audiences lists the aud values accepted from this issuer; a token is
	// accepted when any of its audiences is in the list. Required.
	Audiences []string
	// Provider selects the claim mapping. Empty means: inferred from the URL
	// for the well-known CI issuers, otherwise from each token's claims.
	Provider spangate.Provider
	// JWKSURL, when set, skips discovery and fetches keys from this URL.
	JWKSURL string
	// Algorithms narrows the accepted signature algorithms for this issuer;
	// empty means all of Algorithms().
	Algorithms []string
}

// Options tune a Verifier. The zero value is usable.
type Options struct {
	// HTTPClient fetches discovery documents and key sets. Nil means a
	// client with a 10 s timeout. Response bodies are always size-limited.
	HTTPClient *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated on exp, nbf and iat: zero means
	// DefaultLeeway; more than MaxLeeway or negative is an error.
	Leeway time.Duration
	// MaxTokenLifetime is the longest lifetime a token may claim: exp - iat,
	// and exp - now for a token without iat. Zero means
	// DefaultMaxTokenLifetime; negative is an error.
	MaxTokenLifetime time.Duration
	// JWKSRefreshCooldown is the minimum time between two key set fetches of
	// one issuer; zero means DefaultJWKSRefreshCooldown.
	JWKSRefreshCooldown time.Duration
	// KeyMaxAge is how long fetched keys are trusted before the next Verify
	// refreshes them (subject to the cooldown); zero means DefaultKeyMaxAge.
	KeyMaxAge time.Duration
	// FetchTimeout bounds one discovery plus key set fetch; zero means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Logger receives key fetch events; nil discards them. Tokens are never
	// logged.
	Logger *slog.Logger
}

// Verifier verifies ID tokens from a fixed allow-list of issuers. It is safe
// for concurrent use; keep one for the life of the process so its key caches
// are reused.
type Verifier struct {
	issuers     map[string]*issuer // by URL
	now         func() time.Time
	leeway      time.Duration
	maxLifetime time.Duration
}

// issuer is one trusted issuer with its key cache.
type issuer struct {
	cfg   IssuerConfig
	algs  []string
	keys  *keyCache
	infer bool // provider inferred per token from its claims
}

// NewVerifier checks the issuer list and options and returns a Verifier. It
// makes no network calls: discovery and keys are fetched on first use.
func NewVerifier(issuers []IssuerConfig, opts Options) (*Verifier, error) {
	if len(issuers) == 0 {
		return nil, spangate.Errorf(spangate.Invalid, "no issuers configured")
	}
	switch {
	case opts.Leeway < 0:
		return nil, spangate.Errorf(spangate.Invalid, "leeway %s is negative", opts.Leeway)
	case opts.Leeway > MaxLeeway:
		return nil, spangate.Errorf(spangate.Invalid, "leeway %s exceeds the maximum of %s", opts.Leeway, MaxLeeway)
	case opts.Leeway == 0:
		opts.Leeway = DefaultLeeway
	}
	switch {
	case opts.MaxTokenLifetime < 0:
		return nil, spangate.Errorf(spangate.Invalid, "maximum token lifetime %s is negative", opts.MaxTokenLifetime)
	case opts.MaxTokenLifetime == 0:
		opts.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if opts.JWKSRefreshCooldown < 0 || opts.KeyMaxAge < 0 || opts.FetchTimeout < 0 {
		return nil, spangate.Errorf(spangate.Invalid, "negative JWKS cooldown, key age or fetch timeout")
	}
	if opts.JWKSRefreshCooldown == 0 {
		opts.JWKSRefreshCooldown = DefaultJWKSRefreshCooldown
	}
	if opts.KeyMaxAge == 0 {
		opts.KeyMaxAge = DefaultKeyMaxAge
	}
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	client := limitedClient(opts.HTTPClient, maxDocumentBytes)

	v := &Verifier{
		issuers:     make(map[string]*issuer, len(issuers)),
		now:         opts.Now,
		leeway:      opts.Leeway,
		maxLifetime: opts.MaxTokenLifetime,
	}
	names := make(map[string]bool, len(issuers))
	for i, ic := range issuers {
		if err := validateIssuer(ic); err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "issuers[%d]: %w", i, err)
		}
		if names[ic.Name] {
			return nil, spangate.Errorf(spangate.Invalid, "issuers[%d]: duplicate name %q", i, ic.Name)
		}
		if _, dup := v.issuers[ic.URL]; dup {
			return nil, spangate.Errorf(spangate.Invalid, "issuers[%d]: duplicate url %q", i, ic.URL)
		}
		names[ic.Name] = true
		ic.Audiences = slices.Clone(ic.Audiences)
		ic.Algorithms = slices.Clone(ic.Algorithms)
		infer := false
		if ic.Provider == "" {
			ic.Provider = providerFromURL(ic.URL)
			infer = ic.Provider == ""
		}
		algs := ic.Algorithms
		if len(algs) == 0 {
			algs = allowedAlgorithms
		}
		if u, _ := url.Parse(ic.URL); u.Scheme == "http" && !isLoopback(u.Hostname()) {
			opts.Logger.Warn("issuer uses plain http; its keys can be tampered with in transit", "issuer", ic.Name, "url", ic.URL)
		}
		v.issuers[ic.URL] = &issuer{
			cfg:   ic,
			algs:  algs,
			infer: infer,
			keys: &keyCache{
				issuerURL: ic.URL,
				jwksURL:   ic.JWKSURL,
				client:    client,
				now:       opts.Now,
				cooldown:  opts.JWKSRefreshCooldown,
				maxAge:    opts.KeyMaxAge,
				timeout:   opts.FetchTimeout,
				log:       opts.Logger.With("issuer", ic.Name),
			},
		}
	}
	return v, nil
}

func validateIssuer(ic IssuerConfig) error {
	if ic.Name == "" {
		return errors.New("name is empty")
	}
	if err := validateURL(ic.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if ic.JWKSURL != "" {
		if err := validateURL(ic.JWKSURL); err != nil {
			return fmt.Errorf("jwks url: %w", err)
		}
	}
	if len(ic.Audiences) == 0 {
		return errors.New("no audiences: list the aud values this issuer's tokens must carry for spangate")
	}
	for _, a := range ic.Audiences {
		if a == "" {
			return errors.New("empty audience")
		}
	}
	for _, a := range ic.Algorithms {
		if !slices.Contains(allowedAlgorithms, a) {
			return fmt.Errorf("algorithm %q not allowed; use one of %v", a, allowedAlgorithms)
		}
	}
	switch ic.Provider {
	case "", spangate.ProviderBitbucket, spangate.ProviderGitHub, spangate.ProviderGitLab, spangate.ProviderGeneric:
	default:
		return fmt.Errorf("unknown provider %q", ic.Provider)
	}
	return nil
}

func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q: scheme must be https (or http for local issuers)", raw)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want scheme://host/path without user, query or fragment", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IssuerByURL returns the configured issuer whose URL is exactly url.
func (v *Verifier) IssuerByURL(url string) (IssuerConfig, bool) {
	is, ok := v.issuers[url]
	if !ok {
		return IssuerConfig{}, false
	}
	c := is.cfg
	c.Audiences = slices.Clone(c.Audiences)
	c.Algorithms = slices.Clone(c.Algorithms)
	if is.infer {
		c.Provider = ""
	}
	return c, true
}

// header is the part of a JOSE header Verify inspects.
type header struct {
	alg, kid string
}

// Verify checks rawToken completely (format, header, issuer, signature,
// audience, times) and returns the principal it proves. Every refusal is a
// *spangate.Error of kind Unauthenticated whose message names the check that
// failed; a key set that cannot be fetched is kind Unavailable. Messages never
// contain the token.
//
// The principal's Claims hold every claim of the payload as decoded by
// encoding/json into any: numbers are float64, arrays []any, objects
// map[string]any.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (spangate.Principal, error) {
	tok, err := parseUnverified(rawToken)
	if err != nil {
		return spangate.Principal{}, err
	}
	hdr, claims := tok.hdr, tok.claims
	iss, _ := claims["iss"].(string)
	is, ok := v.issuers[iss]
	if !ok {
		if iss == "" {
			return spangate.Principal{}, refuse("token has no iss claim")
		}
		return spangate.Principal{}, refuse("issuer %s not allowed", quote(iss))
	}
	if !slices.Contains(is.algs, hdr.alg) {
		return spangate.Principal{}, refuse("algorithm %s not allowed for issuer %q", hdr.alg, is.cfg.Name)
	}
	if err := is.verifySignature(ctx, tok); err != nil {
		return spangate.Principal{}, err
	}
	if err := v.checkClaims(is, claims); err != nil {
		return spangate.Principal{}, err
	}
	p := is.cfg.Provider
	if is.infer {
		p = ""
	}
	return principal(is.cfg.Name, p, claims), nil
}

// unverifiedToken is a token split and decoded, before its signature is
// checked.
type unverifiedToken struct {
	hdr    header
	claims map[string]any
	// signingInput is the token's first two parts with the dot between
	// them: the bytes the signature covers.
	signingInput []byte
	sig          []byte
}

// parseUnverified splits and decodes the token and checks its header. It
// reads nothing from the network and trusts nothing it returns until the
// signature is verified.
func parseUnverified(raw string) (unverifiedToken, error) {
	var none unverifiedToken
	if raw == "" {
		return none, refuse("malformed token: empty")
	}
	if len(raw) > MaxTokenBytes {
		return none, refuse("malformed token: %d bytes, more than the %d allowed", len(raw), MaxTokenBytes)
	}
	switch n := strings.Count(raw, "."); n {
	case 2:
	case 4:
		return none, refuse("malformed token: encrypted tokens (JWE) are not supported")
	default:
		return none, refuse("malformed token: want 3 dot-separated parts, got %d", n+1)
	}
	enc := base64.RawURLEncoding
	// One buffer holds the token's bytes (what base64 decodes from), then
	// the decoded header, payload and signature.
	buf := make([]byte, len(raw)+enc.DecodedLen(len(raw)))
	rb, buf := buf[:len(raw):len(raw)], buf[len(raw):]
	copy(rb, raw)
	h64, rest, _ := bytes.Cut(rb, []byte("."))
	p64, s64, _ := bytes.Cut(rest, []byte("."))
	n, err := enc.Decode(buf, h64)
	if err != nil {
		return none, refuse("malformed token: header is not base64url: %w", err)
	}
	hb, buf := buf[:n:n], buf[n:]
	hdr, err := checkHeader(hb)
	if err != nil {
		return none, err
	}
	if len(p64) == 0 || len(s64) == 0 {
		return none, refuse("malformed token: empty payload or signature")
	}
	if n, err = enc.Decode(buf, p64); err != nil {
		return none, refuse("malformed token: payload is not base64url: %w", err)
	}
	pb, buf := buf[:n:n], buf[n:]
	claims, err := decodeClaims(pb)
	if err != nil {
		return none, refuse("malformed token: payload is not a JSON object")
	}
	if n, err = enc.Decode(buf, s64); err != nil {
		return none, refuse("malformed token: signature is not base64url: %w", err)
	}
	return unverifiedToken{
		hdr:          hdr,
		claims:       claims,
		signingInput: rb[:len(h64)+1+len(p64)],
		sig:          buf[:n:n],
	}, nil
}

// checkHeader enforces the algorithm allow-list and refuses headers that
// point at keys or demand extensions.
func checkHeader(hb []byte) (header, error) {
	var h header
	fields, err := decodeClaims(hb) // names are matched exactly
	if err != nil {
		return h, refuse("malformed token: header is not a JSON object")
	}
	alg, ok := fields["alg"]
	if !ok {
		return h, refuse("malformed token: header has no alg")
	}
	if h.alg, ok = alg.(string); !ok {
		return h, refuse("malformed token: header alg is not a string")
	}
	switch {
	case strings.EqualFold(h.alg, "none"):
		return h, refuse("algorithm %s not allowed: unsigned tokens are refused", quote(h.alg))
	case len(h.alg) >= 2 && strings.EqualFold(h.alg[:2], "HS"):
		return h, refuse("algorithm %s not allowed: HMAC (shared-secret) algorithms are refused", quote(h.alg))
	case !slices.Contains(allowedAlgorithms, h.alg):
		return h, refuse("algorithm %s not allowed; allowed: %s", quote(h.alg), strings.Join(allowedAlgorithms, ", "))
	}
	for _, name := range []string{"jku", "x5u", "jwk", "x5c"} {
		if _, ok := fields[name]; ok {
			return h, refuse("header %s not allowed: keys are only taken from the issuer's key set", name)
		}
	}
	if _, ok := fields["crit"]; ok {
		return h, refuse("header crit not allowed: no critical extension is supported")
	}
	if kid, ok := fields["kid"]; ok && kid != nil {
		if h.kid, ok = kid.(string); !ok {
			return h, refuse("malformed token: header kid is not a string")
		}
	}
	return h, nil
}

// verifySignature finds the issuer's keys that fit the token's kid and
// algorithm and checks the signature over the token's signing input.
func (is *issuer) verifySignature(ctx context.Context, tok unverifiedToken) error {
	hdr := tok.hdr
	keys, err := is.keys.lookup(ctx, hdr.kid, false)
	if err != nil {
		return err
	}
	digest, ok := signedDigest(hdr.alg, tok.signingInput)
	if !ok {
		return refuse("algorithm %s not allowed", quote(hdr.alg))
	}
	try := func(keys []jose.JSONWebKey) bool {
		for _, k := range keys {
			if keyFits(k, hdr.alg) && verifyWithKey(k.Key, hdr.alg, tok.signingInput, digest, tok.sig) {
				return true
			}
		}
		return false
	}
	if try(keys) {
		return nil
	}
	if hdr.kid == "" {
		// Without a kid every key was a candidate; the signing key may be
		// new. Refresh once (subject to the cooldown) and try again.
		keys, err = is.keys.lookup(ctx, "", true)
		if err != nil {
			return err
		}
		if try(keys) {
			return nil
		}
	}
	return refuse("signature invalid: no key of issuer %q with kid %s and algorithm %s verifies it", is.cfg.Name, quote(hdr.kid), hdr.alg)
}

// signedDigest hashes the signing input with alg's hash function. EdDSA
// signs the input itself: its digest is nil. ok is false for an algorithm
// outside allowedAlgorithms.
func signedDigest(alg string, input []byte) (digest []byte, ok bool) {
	switch alg {
	case "RS256", "PS256", "ES256":
		sum := sha256.Sum256(input)
		return sum[:], true
	case "RS384", "PS384", "ES384":
		sum := sha512.Sum384(input)
		return sum[:], true
	case "RS512", "PS512", "ES512":
		sum := sha512.Sum512(input)
		return sum[:], true
	case "EdDSA":
		return nil, true
	}
	return nil, false
}

// verifyWithKey checks sig over input (whose digest for alg is digest)
// with the public key pub. The caller has checked that pub fits alg
// (keyFits). The checks are those of RFC 7518 section 3 and RFC 8037:
// PKCS #1 v1.5 or PSS (salt length read from the signature, as go-jose
// does) for RSA, a fixed-size r||s pair for ECDSA.
func verifyWithKey(pub any, alg string, input, digest, sig []byte) bool {
	hash := crypto.SHA256
	switch alg[len(alg)-3:] {
	case "384":
		hash = crypto.SHA384
	case "512":
		hash = crypto.SHA512
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg[:2] {
		case "RS":
			return rsa.VerifyPKCS1v15(k, hash, digest, sig) == nil
		case "PS":
			return rsa.VerifyPSS(k, hash, digest, sig, nil) == nil
		}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize && ed25519.Verify(k, input, sig)
	}
	return false
}

// checkClaims checks audience, authorized party, times and subject of a
// token whose signature has been verified.
func (v *Verifier) checkClaims(is *issuer, claims map[string]any) error {
	aud, err := audiences(claims["aud"])
	if err != nil {
		return err
	}
	accepted := func(a string) bool { return slices.Contains(is.cfg.Audiences, a) }
	if !slices.ContainsFunc(aud, accepted) {
		return refuse("audience mismatch: token has %s, want one of %s", quoteList(aud), quoteList(is.cfg.Audiences)).
			WithHint("request the token with one of the accepted audiences (Bitbucket: oidc.audiences, GitHub: the audience parameter, GitLab: id_tokens aud)")
	}
	if len(aud) > 1 {
		// OpenID Connect Core 3.1.3.7: a token for several audiences
		// names the party it was issued to in azp; spangate must be that
		// party, or the token was meant for another of its audiences.
		azp, present := claims["azp"]
		s, isStr := azp.(string)
		switch {
		case !present && !v.ownAudiencesOnly(is, claims, aud, accepted):
			return refuse("token has several audiences (%s) and no azp claim naming the party it was issued to", quoteList(aud)).
				WithHint("request the token for spangate's audience alone, or with azp set to it")
		case present && !isStr:
			return refuse("claim azp is not a string")
		case present && !accepted(s):
			return refuse("token was issued to %s (azp), not to spangate: want one of %s", quote(s), quoteList(is.cfg.Audiences))
		}
	}
	now := v.now()
	exp, ok, err := timeClaim(claims, "exp")
	switch {
	case err != nil:
		return err
	case !ok:
		return refuse("token has no exp claim")
	case now.After(exp.Add(v.leeway)):
		return refuse("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	nbf, ok, err := timeClaim(claims, "nbf")
	switch {
	case err != nil:
		return err
	case ok && now.Add(v.leeway).Before(nbf):
		return refuse("token not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	iat, ok, err := timeClaim(claims, "iat")
	switch {
	case err != nil:
		return err
	case ok && now.Add(v.leeway).Before(iat):
		return refuse("token issued in the future, at %s", iat.UTC().Format(time.RFC3339))
	case ok && exp.Sub(iat) > v.maxLifetime:
		return refuse("token lifetime %s (exp - iat) exceeds the maximum of %s", exp.Sub(iat), v.maxLifetime).
			WithHint("request a shorter-lived token, or raise tokens.max_lifetime in the gateway config")
	case exp.Sub(now) > v.maxLifetime+v.leeway:
		// Without iat (or with one that hides the lifetime) the token
		// still may not outlive the maximum from now.
		return refuse("token expires at %s, more than the maximum token lifetime of %s from now", exp.UTC().Format(time.RFC3339), v.maxLifetime).
			WithHint("request a shorter-lived token, or raise tokens.max_lifetime in the gateway config")
	}
	if sub, ok := claims["sub"]; ok {
		if s, isStr := sub.(string); !isStr || s == "" {
			return refuse("claim sub is not a non-empty string")
		}
	} else {
		return refuse("token has no sub claim")
	}
	return nil
}

// ownAudiencesOnly reports whether a token without azp names, besides
// spangate's audiences, only its issuer's own default audience: Bitbucket
// Pipelines appends custom audiences to its workspace's
// (ari:cloud:bitbucket::workspace/…) and sets no azp. Such a token was
// issued to no other party.
func (v *Verifier) ownAudiencesOnly(is *issuer, claims map[string]any, aud []string, accepted func(string) bool) bool {
	p := is.cfg.Provider
	if is.infer {
		p = InferProvider(claims) // the claims are signed by now
	}
	for _, a := range aud {
		if !accepted(a) && (p != spangate.ProviderBitbucket || !strings.HasPrefix(a, bitbucketWorkspaceAudience)) {
			return false
		}
	}
	return true
}

// bitbucketWorkspaceAudience prefixes the default audience of Bitbucket
// Pipelines tokens.
const bitbucketWorkspaceAudience = "ari:cloud:bitbucket::workspace/"

// audiences reads aud, a string or an array of strings.
func audiences(v any) ([]string, error) {
	switch a := v.(type) {
	case nil:
		return nil, refuse("token has no aud claim")
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, refuse("claim aud is not a string or an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, refuse("claim aud is not a string or an array of strings")
}

// maxUnixSeconds keeps time claims within what time.Time represents
// exactly (year ~33658).
const maxUnixSeconds = 1 << 40

// timeClaim reads a NumericDate claim.
func timeClaim(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, isNum := v.(float64)
	if !isNum {
		return time.Time{}, false, refuse("claim %s is not a number", name)
	}
	if f > maxUnixSeconds || f < -maxUnixSeconds {
		return time.Time{}, false, refuse("claim %s is out of range", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

// refuse returns an Unauthenticated error.
func refuse(format string, args ...any) *spangate.Error {
	return spangate.Errorf(spangate.Unauthenticated, format, args...)
}

// quote quotes an attacker-controlled value for an error message, cut to a
// length that keeps messages readable.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}

func quoteList(list []string) string {
	const max = 5
	parts := make([]string, 0, min(len(list), max)+1)
	for i, s := range list {
		if i == max {
			parts = append(parts, fmt.Sprintf("… %d more", len(list)-max))
			break
		}
		parts = append(parts, quote(s))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
