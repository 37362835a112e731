package identity

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeClaims decodes a token's payload, a JSON object, into exactly what
// json.Unmarshal into a map[string]any gives (strings, float64, bool,
// nil, []any and map[string]any; the last of duplicate keys wins; invalid
// UTF-8 and unpaired surrogates become U+FFFD) and fails where it fails,
// with a payload that is not an object failing too. It exists because
// encoding/json's reflection costs as much as the RSA verification it
// follows; FuzzDecodeClaims holds it to encoding/json.
func decodeClaims(payload []byte) (map[string]any, error) {
	d := claimsDecoder{s: string(payload)}
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return nil, errNotObject
	}
	// Sizing the claims map once saves its growing, which costs more than
	// the rest of decoding: the commas bound its members.
	m, err := d.object(min(strings.Count(d.s, ",")+1, 128))
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.s) {
		return nil, errSyntax
	}
	return m, nil
}

var (
	errNotObject = errors.New("not a JSON object")
	errSyntax    = errors.New("invalid JSON")
	errDepth     = errors.New("JSON nested too deeply")
	errNumber    = errors.New("JSON number out of range")
)

// maxClaimsDepth is encoding/json's limit on nesting.
const maxClaimsDepth = 10000

// claimsDecoder reads JSON from s at i. Strings without escapes are
// slices of s, which was copied from the payload once.
type claimsDecoder struct {
	s     string
	i     int
	depth int
}

func (d *claimsDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *claimsDecoder) value() (any, error) {
	if d.i >= len(d.s) {
		return nil, errSyntax
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(0)
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	for _, lit := range [...]struct {
		text string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(d.s)-d.i >= len(lit.text) && d.s[d.i:d.i+len(lit.text)] == lit.text {
			d.i += len(lit.text)
			return lit.v, nil
		}
	}
	return nil, errSyntax
}

// object reads an object, d.s[d.i] being '{', into a map made for size
// members.
func (d *claimsDecoder) object(size int) (map[string]any, error) {
	if d.depth++; d.depth > maxClaimsDepth {
		return nil, errDepth
	}
	d.i++
	m := make(map[string]any, size)
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, errSyntax
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		d.space()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i >= len(d.s) {
			return nil, errSyntax
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, errSyntax
		}
	}
}

// array reads an array; d.s[d.i] is '['.
func (d *claimsDecoder) array() ([]any, error) {
	if d.depth++; d.depth > maxClaimsDepth {
		return nil, errDepth
	}
	d.i++
	a := make([]any, 0)
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.s) {
			return nil, errSyntax
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, errSyntax
		}
	}
}

// number reads a number with JSON's grammar and converts it like
// encoding/json does for an interface value.
func (d *claimsDecoder) number() (any, error) {
	start := d.i
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, errSyntax
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errSyntax
		}
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil {
		return nil, errNumber
	}
	return f, nil
}

// str reads a string; d.s[d.i] is '"'.
func (d *claimsDecoder) str() (string, error) {
	d.i++
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return d.s[start : d.i-1], nil
		case c == '\\':
			return d.strSlow(start)
		case c < 0x20:
			return "", errSyntax
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && size == 1 {
				return d.strSlow(start)
			}
			d.i += size
		}
	}
	return "", errSyntax
}

// strSlow reads the rest of a string that has escapes or invalid UTF-8,
// from d.i; the string's text began at start.
func (d *claimsDecoder) strSlow(start int) (string, error) {
	b := make([]byte, 0, d.i-start+16)
	b = append(b, d.s[start:d.i]...)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c < 0x20:
			return "", errSyntax
		case c == '\\':
			if d.i+1 >= len(d.s) {
				return "", errSyntax
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := d.hex4()
				if r < 0 {
					return "", errSyntax
				}
				if utf16.IsSurrogate(r) {
					// A pair combines; anything else leaves U+FFFD for
					// this half and reads what follows on its own.
					save := d.i
					if d.i+1 < len(d.s) && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
						d.i += 2
						if r2 := d.hex4(); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								b = utf8.AppendRune(b, dec)
								continue
							}
						}
					}
					d.i = save
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", errSyntax
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, d.s[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", errSyntax
}

// hex4 reads four hex digits at d.i, or returns -1 (and leaves d.i).
func (d *claimsDecoder) hex4() rune {
	if len(d.s)-d.i < 4 {
		return -1
	}
	var r rune
	for _, c := range []byte(d.s[d.i : d.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	d.i += 4
	return r
}
