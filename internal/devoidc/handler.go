package devoidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spangate/spangate"
)

// maxRequestBytes bounds a token request body.
const maxRequestBytes = 64 << 10

// TokenRequest is the body of POST <path>/token, as JSON or as a form.
//
// JSON:
//
//	{"provider": "github", "audience": "...", "expires_in": "-5m",
//	 "claims": {"ref": "refs/heads/dev", "exp": 1700000000}}
//
// Form (application/x-www-form-urlencoded): provider, audience, expires_in,
// and claim=KEY=VALUE repeated.
//
// expires_in is a Go duration ("10m", "-1h") or a number of seconds.
// Claim values in JSON may be strings, numbers, booleans or arrays; they are
// handed to Mint in their JSON text, except strings, which are passed as is.
type TokenRequest struct {
	Provider  spangate.Provider          `json:"provider"`
	Audience  string                     `json:"audience"`
	ExpiresIn json.RawMessage            `json:"expires_in"`
	Claims    map[string]json.RawMessage `json:"claims"`
}

// TokenResponse is the answer of POST <path>/token.
type TokenResponse struct {
	// IDToken is the signed token.
	IDToken string `json:"id_token"`
	// ExpiresAt is the token's exp, RFC 3339.
	ExpiresAt string `json:"expires_at"`
}

// Handler serves discovery, the key set and the token endpoint. It expects
// full request paths: register it with mux.Handle(iss.MountPath(), h) (no
// http.StripPrefix), so that <issuer URL>/.well-known/openid-configuration
// reaches it. Other paths get 404.
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, i.path)
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "no such dev OIDC endpoint", "")
			return
		}
		switch rest {
		case "/.well-known/openid-configuration":
			i.serveJSON(w, r, i.discovery)
		case "/keys":
			i.serveJSON(w, r, i.jwks)
		case "/token":
			i.serveToken(w, r)
		default:
			writeError(w, http.StatusNotFound, "not_found", "no such dev OIDC endpoint",
				"the dev issuer serves /.well-known/openid-configuration, /keys and POST /token under "+i.path)
		}
	})
}

func (i *Issuer) serveJSON(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed", "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(body)
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" not allowed; POST the token request", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	provider, overrides, audience, expiresIn, err := parseTokenRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error(),
			`send {"provider":"bitbucket|github|gitlab","claims":{"KEY":"VALUE"},"audience":"...","expires_in":"10m"}`)
		return
	}
	tok, claims, err := i.mint(provider, overrides, audience, expiresIn)
	if err != nil {
		status := http.StatusInternalServerError
		if spangate.KindOf(err) == spangate.Invalid {
			status = http.StatusBadRequest
		}
		writeError(w, status, spangate.KindOf(err).String(), err.Error(), "")
		return
	}
	resp := TokenResponse{IDToken: tok}
	switch exp := claims["exp"].(type) {
	case int64:
		resp.ExpiresAt = time.Unix(exp, 0).UTC().Format(time.RFC3339)
	case float64:
		resp.ExpiresAt = time.Unix(int64(exp), 0).UTC().Format(time.RFC3339)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
}

// parseTokenRequest reads a JSON or form token request.
func parseTokenRequest(r *http.Request) (spangate.Provider, map[string]string, string, time.Duration, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	overrides := map[string]string{}
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return "", nil, "", 0, fmt.Errorf("read form: %w", err)
		}
		for _, kv := range r.PostForm["claim"] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return "", nil, "", 0, fmt.Errorf("claim %q: want KEY=VALUE", kv)
			}
			overrides[k] = v
		}
		d, err := parseExpiresIn(r.PostForm.Get("expires_in"))
		if err != nil {
			return "", nil, "", 0, err
		}
		return spangate.Provider(r.PostForm.Get("provider")), overrides, r.PostForm.Get("audience"), d, nil
	}
	var req TokenRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", nil, "", 0, fmt.Errorf("read JSON body: %w", err)
	}
	for k, raw := range req.Claims {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			overrides[k] = s
			continue
		}
		if string(raw) == "null" {
			overrides[k] = ""
			continue
		}
		overrides[k] = string(raw)
	}
	var exp string
	if len(req.ExpiresIn) > 0 && string(req.ExpiresIn) != "null" {
		if json.Unmarshal(req.ExpiresIn, &exp) != nil {
			exp = string(req.ExpiresIn)
		}
	}
	d, err := parseExpiresIn(exp)
	if err != nil {
		return "", nil, "", 0, err
	}
	return req.Provider, overrides, req.Audience, d, nil
}

// parseExpiresIn reads a Go duration or a number of seconds; "" is 0.
func parseExpiresIn(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs > int64(MaxExpiresIn/time.Second) || secs < -int64(MaxExpiresIn/time.Second) {
		return 0, errors.New("expires_in: want a duration such as 10m or -1h, or seconds")
	}
	return time.Duration(secs) * time.Second, nil
}

// writeError writes the gateway's error shape.
func writeError(w http.ResponseWriter, status int, code, message, hint string) {
	body := map[string]map[string]string{"error": {"code": code, "message": message}}
	if hint != "" {
		body["error"]["hint"] = hint
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
