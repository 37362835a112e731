package gateway

import (
	"mime"
	"net/http"
	"net/url"

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

// token is POST /v1/token: it verifies the CI token given as
// subject_token and returns a session token for its principal.
func (s *Server) token(w http.ResponseWriter, r *http.Request, c *call) error {
	c.run = RunMetadataFromHeader(r.Header)
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-www-form-urlencoded" {
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
	writeJSON(w, http.StatusOK, TokenResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()), IssuedTokenType: TokenTypeJWT,
	})
	return nil
}
