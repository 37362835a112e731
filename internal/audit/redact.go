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
	for range 8 { // a chain holds few gRPC errors; bound the work anyway
		g, code, ok := grpcCause(err, text)
		if !ok {
			return text
		}
		text = strings.ReplaceAll(text, g, "Spanner error "+code)
	}
	return text
}

// grpcCause finds, in err's chain, a gRPC error whose text still shows in
// text, and returns that text and its code's name. An error that carries a
// gRPC status but whose text does not show (a message spangate rewrote)
// ends the search: the text kept is then spangate's.
func grpcCause(err error, text string) (string, string, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		gs, ok := e.(interface{ GRPCStatus() *status.Status })
		if !ok {
			continue
		}
		msg := e.Error()
		if msg == "" || !strings.Contains(text, msg) {
			continue
		}
		return msg, gs.GRPCStatus().Code().String(), true
	}
	return "", "", false
}
