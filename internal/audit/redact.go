package audit

import (
	"errors"
	"strings"

	"google.golang.org/grpc/status"
)

// ErrorText returns what may be logged or stored (as an entry's Reason) of
// err: spangate's own messages, with the text of every Spanner (gRPC)
// error in the chain replaced by its status code. Spanner's messages may
// quote a statement's parameter values, escaped in ways no substitution
// can undo (quotes, newlines, control characters), so they are never
// kept; the code and spangate's message say what failed. The caller still
// gets the whole error, values included: they are its own.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	cut, code := len(text), ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		gs, ok := e.(interface{ GRPCStatus() *status.Status })
		if !ok {
			continue
		}
		st := gs.GRPCStatus()
		if code == "" {
			code = st.Code().String()
		}
		// Spanner's text starts where the first bytes of its message, or
		// of its error's text, show: spangate quotes it whole or in part
		// (without a clause it added), but always from its start.
		for _, frag := range []string{e.Error(), st.Message()} {
			if frag == "" {
				continue
			}
			if i := strings.Index(text, frag[:min(len(frag), probeLen)]); i >= 0 && i < cut {
				cut = i
			}
		}
	}
	if code == "" {
		return text
	}
	return strings.TrimRight(text[:cut], ": ") + ": Spanner error " + code
}

// probeLen is how many leading bytes of a Spanner message find where it
// is quoted.
const probeLen = 16
