package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// Redact replaces every parameter value that shows in msg (an error from
// Spanner may quote one) with @name, so messages can be logged and stored
// in the audit trail without the values.
func Redact(msg string, params map[string]any) string {
	for name, v := range params {
		for _, text := range valueTexts(v) {
			if text != "" {
				msg = strings.ReplaceAll(msg, text, "@"+name)
			}
		}
	}
	return msg
}

// valueTexts returns the texts a parameter value may show as in a message.
func valueTexts(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []*string:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, *p)
			}
		}
		return out
	case []*int64:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, strconv.FormatInt(*p, 10))
			}
		}
		return out
	case []*float64:
		var out []string
		for _, p := range x {
			if p != nil {
				out = append(out, fmt.Sprint(*p))
			}
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}
