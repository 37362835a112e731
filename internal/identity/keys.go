package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/spangate/spangate"
)

// minRSABits is the smallest RSA modulus accepted in a key set.
const minRSABits = 2048

// failureBackoff caps the wait before retrying a failed fetch when no key
// has ever been fetched, so a transient outage at startup heals quickly.
const failureBackoff = 5 * time.Second

// keyCache holds one issuer's signing keys. It fetches them lazily and
// refreshes them when they are older than maxAge or when a token names a key
// it does not have, but starts at most one fetch per cooldown, and callers
// that need keys while a fetch runs wait for that fetch instead of starting
// their own.
type keyCache struct {
	issuerURL string
	client    *http.Client
	now       func() time.Time
	cooldown  time.Duration
	maxAge    time.Duration
	timeout   time.Duration
	log       *slog.Logger

	mu        sync.Mutex
	jwksURL   string            // configured or discovered; "" until discovery succeeds
	keys      []jose.JSONWebKey // immutable once stored
	fetchedAt time.Time         // last successful fetch; zero if none
	nextFetch time.Time         // no fetch starts before this
	lastErr   error             // error of the last fetch, nil after a success
	inflight  *keyFetch
}

// keyFetch is one fetch that several callers may wait for.
type keyFetch struct {
	done chan struct{}
	err  error
}

// lookup returns the cached keys that may have signed a token with kid (all
// keys when kid is empty). It fetches the key set when none has been
// fetched, when the keys are older than maxAge, when no key matches kid, or
// when refresh is set, unless a fetch started less than a cooldown ago.
func (c *keyCache) lookup(ctx context.Context, kid string, refresh bool) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	now := c.now()
	found := c.matchLocked(kid)
	fresh := !c.fetchedAt.IsZero() && now.Sub(c.fetchedAt) < c.maxAge
	if len(found) > 0 && fresh && !refresh {
		c.mu.Unlock()
		return found, nil
	}
	f := c.inflight
	if f == nil {
		if now.Before(c.nextFetch) {
			err := c.lastErr
			c.mu.Unlock()
			if len(found) > 0 {
				return found, nil
			}
			return nil, c.missing(kid, err)
		}
		f = c.startLocked(ctx, now)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, spangate.Errorf(spangate.KindOf(ctx.Err()), "waiting for the issuer's keys: %w", ctx.Err())
	}
	c.mu.Lock()
	found = c.matchLocked(kid)
	c.mu.Unlock()
	if len(found) > 0 {
		return found, nil
	}
	return nil, c.missing(kid, f.err)
}

// matchLocked returns the keys with the given kid; keys without a kid match
// any kid when no key has it.
func (c *keyCache) matchLocked(kid string) []jose.JSONWebKey {
	if kid == "" {
		return c.keys
	}
	var out, anonymous []jose.JSONWebKey
	for _, k := range c.keys {
		switch k.KeyID {
		case kid:
			out = append(out, k)
		case "":
			anonymous = append(anonymous, k)
		}
	}
	if len(out) == 0 {
		return anonymous
	}
	return out
}

// missing explains why no key was found.
func (c *keyCache) missing(kid string, fetchErr error) error {
	if fetchErr != nil {
		return spangate.Errorf(spangate.Unavailable, "cannot fetch the signing keys of issuer %s: %w", c.issuerURL, fetchErr)
	}
	if kid != "" {
		return refuse("signature invalid: no key with kid %s in the issuer's key set", quote(kid))
	}
	return refuse("signature invalid: the issuer's key set has no usable key")
}

// startLocked starts a fetch in its own goroutine, so that one caller giving
// up does not fail the others waiting for it. The fetch keeps ctx's values
// but not its cancellation, and is bounded by the fetch timeout.
func (c *keyCache) startLocked(ctx context.Context, now time.Time) *keyFetch {
	f := &keyFetch{done: make(chan struct{})}
	c.inflight = f
	c.nextFetch = now.Add(c.cooldown)
	jwksURL := c.jwksURL
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	go func() {
		defer cancel()
		keys, discovered, err := c.fetch(fctx, jwksURL)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inflight = nil
		c.lastErr = err
		f.err = err
		if err != nil {
			c.log.Warn("fetching signing keys failed", "error", err.Error())
			if c.fetchedAt.IsZero() {
				c.nextFetch = now.Add(min(c.cooldown, failureBackoff))
			}
		} else {
			c.log.Debug("fetched signing keys", "keys", len(keys))
			c.jwksURL = discovered
			c.keys = keys
			c.fetchedAt = c.now()
		}
		close(f.done)
	}()
	return f
}

// fetch discovers the JWKS URL if needed and fetches the key set.
func (c *keyCache) fetch(ctx context.Context, jwksURL string) ([]jose.JSONWebKey, string, error) {
	if jwksURL == "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.client), c.issuerURL)
		if err != nil {
			return nil, "", fmt.Errorf("discovery: %w", err)
		}
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil {
			return nil, "", fmt.Errorf("discovery: %w", err)
		}
		if err := validateURL(doc.JWKSURI); err != nil {
			return nil, "", fmt.Errorf("discovery: jwks_uri: %w", err)
		}
		if strings.HasPrefix(c.issuerURL, "https:") && !strings.HasPrefix(doc.JWKSURI, "https:") {
			return nil, "", errors.New("discovery: jwks_uri is not https")
		}
		jwksURL = doc.JWKSURI
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("jwks %s: %w", jwksURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("jwks %s: HTTP %d", jwksURL, resp.StatusCode)
	}
	keys, err := parseKeySet(body, c.log)
	if err != nil {
		return nil, "", fmt.Errorf("jwks %s: %w", jwksURL, err)
	}
	return keys, jwksURL, nil
}

// parseKeySet decodes a JWKS, keeping only public signature keys of a type
// spangate accepts. A key it cannot use is skipped, not fatal, so one
// exotic key does not lock out the others.
func parseKeySet(body []byte, log *slog.Logger) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON key set: %w", err)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			log.Debug("skipping key", "index", i, "error", err.Error())
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			// Only asymmetric keys can be made public; symmetric ("oct")
			// keys are dropped so no key can ever act as an HMAC secret.
			if _, symmetric := k.Key.([]byte); symmetric {
				log.Warn("skipping symmetric key in key set", "index", i, "kid", k.KeyID)
				continue
			}
			log.Warn("key set publishes a private key; using its public part", "index", i, "kid", k.KeyID)
			k = k.Public()
		}
		if !k.Valid() {
			continue
		}
		if pub, ok := k.Key.(*rsa.PublicKey); ok && pub.N.BitLen() < minRSABits {
			log.Warn("skipping short RSA key", "index", i, "kid", k.KeyID, "bits", pub.N.BitLen())
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keyFits reports whether k may verify a signature made with alg: the key's
// type (and curve) must be the one alg is defined for, and the key's own alg,
// when it has one, must be alg. This is what makes key confusion impossible.
func keyFits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case string(jose.ES256):
			return pub.Curve == elliptic.P256()
		case string(jose.ES384):
			return pub.Curve == elliptic.P384()
		case string(jose.ES512):
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// errTooLarge is returned when a response body exceeds its limit.
var errTooLarge = errors.New("response body too large")

// limitedClient returns a copy of base (or of a client with a 10 s timeout)
// whose response bodies fail after limit bytes.
func limitedClient(base *http.Client, limit int64) *http.Client {
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = limitTransport{base: rt, limit: limit}
	return &c
}

// limitTransport caps the size of response bodies.
type limitTransport struct {
	base  http.RoundTripper
	limit int64
}

// RoundTrip sends r and wraps the response body.
func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, limit: t.limit}
	return resp, nil
}

// limitedBody fails with errTooLarge once more than its limit is read.
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, fmt.Errorf("%w (limit %d bytes)", errTooLarge, b.limit)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
