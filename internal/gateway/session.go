package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spangate/spangate"
)

// Session tokens are compact JWS (JWT) signed with HMAC-SHA256:
//
//	header  {"alg":"HS256","typ":"spangate-session+jwt","kid":"<key id>"}
//	payload {"iss":"spangate","aud":"<session_audience>","sub":"<issuer:subject>",
//	         "iat","nbf","exp","jti","principal":{…spangate.Principal…}}
//
// HMAC is chosen over a signature because every replica both signs and
// verifies, so all of them hold the key anyway; it is also the cheapest to
// verify on every request. The typ header tells a session token from a CI
// token before anything else is looked at: a token that says it is a session
// is verified only as a session, and CI tokens never reach this code (the
// identity package refuses every HMAC algorithm, so a session key can never
// verify a forged CI token either).
const (
	sessionTyp    = "spangate-session+jwt"
	sessionAlg    = "HS256"
	sessionIssuer = "spangate"
	// maxSessionTokenBytes bounds the token size looked at.
	maxSessionTokenBytes = 64 << 10
	// sessionLeeway is the clock skew tolerated between replicas.
	sessionLeeway = 30 * time.Second
)

// sessionKey is one HMAC key with its id.
type sessionKey struct {
	id     string
	secret []byte
}

// sessions signs and verifies session tokens. The first key signs.
type sessions struct {
	keys     []sessionKey
	audience string
	ttl      time.Duration
	now      func() time.Time
	rand     io.Reader

	// payloads hold the JSON of session claims while issue encodes it
	// (*[]byte); nothing else reads them.
	payloads sync.Pool

	// verified remembers tokens that verified, by their SHA-256, until
	// they expire: a pipeline step presents one token on every request,
	// and a hit costs a hash and a lookup instead of decoding and an HMAC.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedSession
}

type verifiedSession struct {
	principal spangate.Principal
	exp       int64
}

// maxVerifiedSessions bounds the remembered tokens; when full, the
// memory is cleared and refilled by the tokens in use.
const maxVerifiedSessions = 4096

type sessionHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type sessionClaims struct {
	Iss       string             `json:"iss"`
	Aud       string             `json:"aud"`
	Sub       string             `json:"sub"`
	Iat       int64              `json:"iat"`
	Nbf       int64              `json:"nbf"`
	Exp       int64              `json:"exp"`
	Jti       string             `json:"jti"`
	Principal spangate.Principal `json:"principal"`
}

// issue signs a session token for pr and returns it with its lifetime.
// The token is ASCII: base64url and dots.
func (s *sessions) issue(pr spangate.Principal) ([]byte, time.Duration, error) {
	k := &s.keys[0]
	now := s.now()
	var jti [16]byte
	if _, err := io.ReadFull(s.rand, jti[:]); err != nil {
		return nil, 0, spangate.Errorf(spangate.Internal, "session id: %w", err)
	}
	scratch, _ := s.payloads.Get().(*[]byte)
	if scratch == nil {
		scratch = new([]byte)
	}
	defer s.payloads.Put(scratch)
	pb, err := appendSessionClaims((*scratch)[:0], sessionClaims{
		Iss: sessionIssuer, Aud: s.audience, Sub: pr.String(),
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(s.ttl).Unix(),
		Jti: hex.EncodeToString(jti[:]), Principal: pr,
	})
	if err != nil {
		return nil, 0, spangate.Errorf(spangate.Internal, "session claims: %w", err)
	}
	enc := base64.RawURLEncoding
	tok := make([]byte, 0, 128+len(k.id)+enc.EncodedLen(len(pb))+enc.EncodedLen(sha256.Size))
	tok = k.appendHeader(tok)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, pb)
	m := hmac.New(sha256.New, k.secret)
	m.Write(tok)
	var sum [sha256.Size]byte
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, m.Sum(sum[:0]))
	if cap(pb) <= 64<<10 {
		*scratch = pb // keep a grown buffer, but not a huge one
	}
	return tok, s.ttl, nil
}

// appendHeader appends the encoded header of the tokens k signs: the JSON
// of sessionHeader{sessionAlg, sessionTyp, k.id}.
func (k *sessionKey) appendHeader(b []byte) []byte {
	hb := append(make([]byte, 0, 64+len(k.id)), `{"alg":"`+sessionAlg+`","typ":"`+sessionTyp+`","kid":`...)
	hb = appendJSONString(hb, k.id)
	hb = append(hb, '}')
	return base64.RawURLEncoding.AppendEncode(b, hb)
}

func mac(key []byte, signing string) []byte {
	h := hmac.New(sha256.New, key)
	io.WriteString(h, signing)
	return h.Sum(nil)
}

// isSession reports whether raw claims to be a session token (its header
// says typ spangate-session+jwt). It checks nothing else.
func isSession(raw string) bool {
	h, _, ok := strings.Cut(raw, ".")
	if !ok || len(h) > 512 {
		return false
	}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	// The typ can only be there literally or with escapes: a header with
	// neither, a CI token's, needs no decoding.
	if !bytes.Contains(hb, []byte(sessionTyp)) && bytes.IndexByte(hb, '\\') < 0 {
		return false
	}
	var hdr sessionHeader
	return json.Unmarshal(hb, &hdr) == nil && hdr.Typ == sessionTyp
}

// verify checks a session token completely, remembers it when it holds,
// and returns its principal. Every refusal is Unauthenticated and names
// the check that failed. Callers look a token up with remembered first:
// one that verified before is only checked for expiry.
func (s *sessions) verify(raw string) (spangate.Principal, error) {
	sum := sha256.Sum256([]byte(raw))
	pr, exp, err := s.verifyFully(raw)
	s.mu.Lock()
	switch {
	case err != nil:
		delete(s.verified, sum)
	case s.verified == nil || len(s.verified) >= maxVerifiedSessions:
		s.verified = map[[sha256.Size]byte]verifiedSession{sum: {pr, exp}}
	default:
		s.verified[sum] = verifiedSession{pr, exp}
	}
	s.mu.Unlock()
	return pr, err
}

// remembered returns the principal of a session token that verified
// before and has not expired; such a token needs no parsing and no
// verify.
func (s *sessions) remembered(raw string) (spangate.Principal, bool) {
	sum := sha256.Sum256([]byte(raw))
	s.mu.Lock()
	v, ok := s.verified[sum]
	s.mu.Unlock()
	if !ok || s.now().After(time.Unix(v.exp, 0).Add(sessionLeeway)) {
		return spangate.Principal{}, false
	}
	return v.principal, true
}

// verifyFully is verify without the memory of verified tokens; it also
// returns the token's expiry (exp, Unix seconds).
func (s *sessions) verifyFully(raw string) (spangate.Principal, int64, error) {
	refuse := func(format string, args ...any) (spangate.Principal, int64, error) {
		return spangate.Principal{}, 0, spangate.Errorf(spangate.Unauthenticated, "session token refused: "+format, args...).
			WithHint("exchange the CI token again at POST /v1/token (spangate login)")
	}
	if len(raw) > maxSessionTokenBytes {
		return refuse("too large")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return refuse("not a compact JWS")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return refuse("malformed encoding")
	}
	var hdr sessionHeader
	if err := strictUnmarshal(hb, &hdr); err != nil {
		return refuse("malformed header")
	}
	if hdr.Alg != sessionAlg || hdr.Typ != sessionTyp {
		return refuse("algorithm %q is not %s", hdr.Alg, sessionAlg)
	}
	var key *sessionKey
	for i := range s.keys {
		if s.keys[i].id == hdr.Kid {
			key = &s.keys[i]
			break
		}
	}
	if key == nil {
		return refuse("signed with key %q, which this gateway does not have", hdr.Kid)
	}
	if !hmac.Equal(sig, mac(key.secret, parts[0]+"."+parts[1])) {
		return refuse("signature does not verify with key %q", hdr.Kid)
	}
	var c sessionClaims
	if err := strictUnmarshal(pb, &c); err != nil {
		return refuse("malformed claims")
	}
	now := s.now()
	switch {
	case c.Iss != sessionIssuer:
		return refuse("issuer %q is not %q", c.Iss, sessionIssuer)
	case c.Aud != s.audience:
		return refuse("audience %q is not this gateway's (%q)", c.Aud, s.audience)
	case c.Exp == 0 || now.After(time.Unix(c.Exp, 0).Add(sessionLeeway)):
		return refuse("expired at %s", time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	case now.Add(sessionLeeway).Before(time.Unix(c.Nbf, 0)) || now.Add(sessionLeeway).Before(time.Unix(c.Iat, 0)):
		return refuse("not valid yet")
	case c.Sub == "" || c.Sub != c.Principal.String():
		return refuse("subject does not match its principal")
	}
	return c.Principal, c.Exp, nil
}

// strictUnmarshal decodes one JSON object, refusing trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
