package gateway

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendClaims appends the JSON of a principal's claims to b: an object
// whose keys are sorted, like encoding/json writes a map. Claims are
// normally what encoding/json decoded from a token (strings, float64,
// bools, nil, []any and map[string]any), which are encoded here directly;
// any other value is handed to encoding/json. Decoding the result gives
// back the same values (TestAppendClaimsRoundTrip, FuzzAppendClaims).
func appendClaims(b []byte, claims map[string]any) ([]byte, error) {
	if claims == nil {
		return append(b, "null"...), nil
	}
	return appendJSONObject(b, claims)
}

func appendJSONObject(b []byte, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break // encoding/json reports the error
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendJSONObject(b, x)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendSessionClaims appends the JSON of c, as encoding/json would write
// it (the same names, omitempty where the types say so), without
// reflection: it is most of what a token exchange does besides verifying.
// TestSessionClaimsJSON holds it to encoding/json.
func appendSessionClaims(b []byte, c sessionClaims) ([]byte, error) {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Iss)
	b = append(b, `,"aud":`...)
	b = appendJSONString(b, c.Aud)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Sub)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.Iat, 10)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, c.Nbf, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Exp, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.Jti)
	p := c.Principal
	b = append(b, `,"principal":{"issuer":`...)
	b = appendJSONString(b, p.Issuer)
	b = append(b, `,"issuer_url":`...)
	b = appendJSONString(b, p.IssuerURL)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, string(p.Provider))
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, p.Subject)
	if len(p.Attributes) > 0 {
		b = append(b, `,"attributes":{`...)
		keys := make([]string, 0, len(p.Attributes))
		for k := range p.Attributes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, p.Attributes[k])
		}
		b = append(b, '}')
	}
	if len(p.Claims) > 0 {
		b = append(b, `,"claims":`...)
		var err error
		if b, err = appendJSONObject(b, p.Claims); err != nil {
			return nil, err
		}
	}
	return append(b, "}}"...), nil
}
