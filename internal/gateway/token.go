package gateway

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spangate/spangate"
)

// RFC 8693 token exchange identifiers.
const (
	// GrantTypeTokenExchange is the grant_type of POST /v1/token.
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeIDToken and TokenTypeJWT are the accepted
	// subject_token_type values: the CI's OIDC ID token.
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	// TokenTypeAccessToken is also accepted as requested_token_type.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// maxTokenRequestBytes bounds the form of a token exchange, whatever
// limits.max_body_bytes says: CI tokens are a few kilobytes.
const maxTokenRequestBytes = 64 << 10

// TokenResponse is the answer of POST /v1/token.
type TokenResponse struct {
	// AccessToken is the session token, to send as Authorization: Bearer.
	AccessToken string `json:"access_token"`
	// TokenType is always "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn is the session token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// IssuedTokenType is TokenTypeJWT.
	IssuedTokenType string `json:"issued_token_type"`
}

const formType = "application/x-www-form-urlencoded"

// isFormType reports whether a Content-Type other than formType itself
// (with parameters, say) names a form.
func isFormType(contentType string) bool {
	ct, _, err := mime.ParseMediaType(contentType)
	return err == nil && ct == formType
}

// token is POST /v1/token: it verifies the CI token given as
// subject_token and returns a session token for its principal.
func (s *Server) token(w http.ResponseWriter, r *http.Request, c *call) error {
	c.run = RunMetadataFromHeader(r.Header)
	if ct := r.Header.Get("Content-Type"); ct != formType && !isFormType(ct) {
		return spangate.Errorf(spangate.Invalid, "the token exchange takes a form (Content-Type: application/x-www-form-urlencoded)")
	}
	limit := int64(maxTokenRequestBytes)
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := s.readLimited(w, r, limit)
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return spangate.Errorf(spangate.Invalid, "malformed form: %w", err)
	}
	if gt := form.Get("grant_type"); gt != GrantTypeTokenExchange {
		return spangate.Errorf(spangate.Invalid, "unsupported grant_type %q", gt).
			WithHint("use grant_type=" + GrantTypeTokenExchange)
	}
	switch tt := form.Get("subject_token_type"); tt {
	case TokenTypeIDToken, TokenTypeJWT:
	default:
		return spangate.Errorf(spangate.Invalid, "unsupported subject_token_type %q", tt).
			WithHint("send the CI's OIDC ID token with subject_token_type=" + TokenTypeIDToken)
	}
	switch rt := form.Get("requested_token_type"); rt {
	case "", TokenTypeAccessToken, TokenTypeJWT:
	default:
		return spangate.Errorf(spangate.Invalid, "unsupported requested_token_type %q", rt)
	}
	raw := form.Get("subject_token")
	if raw == "" {
		return spangate.Errorf(spangate.Invalid, "subject_token is missing")
	}
	if isSession(raw) {
		s.metrics.verifications.WithLabelValues("ci", "refused").Inc()
		return spangate.Errorf(spangate.Unauthenticated, "a session token cannot be exchanged for another").
			WithHint("exchange the CI's own ID token")
	}
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	pr, err := s.verifier.Verify(ctx, raw)
	s.countVerification("ci", err)
	if err != nil {
		return err
	}
	c.principal = &pr
	if err := s.rateLimit(pr); err != nil {
		return err
	}
	if err := checkRunMetadata(pr, c.run); err != nil {
		return err
	}
	tok, ttl, err := s.sessions.issue(pr)
	if err != nil {
		return err
	}
	writeTokenResponse(w, tok, ttl)
	return nil
}

// writeTokenResponse is writeJSON of the TokenResponse for a session
// token tok (ASCII: base64url and dots) that lives ttl, without
// reflection or copying the token (TestTokenExchange decodes it).
func writeTokenResponse(w http.ResponseWriter, tok []byte, ttl time.Duration) {
	const prefix = `{"access_token":"`
	suffix := make([]byte, 0, 128)
	suffix = append(suffix, `","token_type":"Bearer","expires_in":`...)
	suffix = strconv.AppendInt(suffix, int64(ttl.Seconds()), 10)
	suffix = append(suffix, `,"issued_token_type":`...)
	suffix = appendJSONString(suffix, TokenTypeJWT)
	suffix = append(suffix, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(prefix)+len(tok)+len(suffix)))
	w.WriteHeader(http.StatusOK)
	// The client went away if a write fails; nothing more to do.
	if _, err := io.WriteString(w, prefix); err == nil {
		if _, err := w.Write(tok); err == nil {
			_, _ = w.Write(suffix)
		}
	}
}
