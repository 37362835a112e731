package audit

import (
	"bytes"
	"encoding/json"
	"strings"
)

// KeyText returns the canonical text of a primary key: the JSON array of
// its column values in key order, compact, such as [1,"a"]. Storage writes
// keys in this form and looks them up in it.
func KeyText(values []any) (string, error) {
	if values == nil {
		values = []any{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// KeyCandidates returns the canonical key texts a user-typed key may mean,
// most likely first:
//   - a JSON array (`[1,"a"]`) is that key, re-encoded compactly;
//   - a JSON number or boolean (`42`) is a one-column key of that value, or
//     of that text as a string: [42] and ["42"];
//   - a JSON string (`"a"`) is ["a"];
//   - anything else is a one-column string key: `abc` is ["abc"].
func KeyCandidates(key string) []string {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(key))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		switch v := v.(type) {
		case []any:
			if t, err := KeyText(v); err == nil {
				return []string{t}
			}
		case json.Number, bool:
			a, _ := KeyText([]any{v})
			b, _ := KeyText([]any{key})
			return []string{a, b}
		case string:
			t, _ := KeyText([]any{v})
			return []string{t}
		}
	}
	t, _ := KeyText([]any{key})
	return []string{t}
}
