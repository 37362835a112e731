package spangate

import (
	"context"
	"errors"
	"fmt"
)

// ErrOutcomeUnknown marks the error of a change whose commit got no answer
// (a timeout, a lost connection): it may or may not have been made, so the
// caller must find out (the audit trail, the migration history) before it
// repeats a change that is not safe to repeat. Test with errors.Is.
var ErrOutcomeUnknown = errors.New("the outcome is unknown")

// OutcomeUnknown marks err as the error of a change whose outcome is
// unknown: errors.Is(result, ErrOutcomeUnknown) holds, and the result
// reads as err.
func OutcomeUnknown(err error) error { return outcomeUnknown{err} }

type outcomeUnknown struct{ error }

func (u outcomeUnknown) Is(target error) bool { return target == ErrOutcomeUnknown }
func (u outcomeUnknown) Unwrap() error        { return u.error }

// Kind classifies an error by what the caller can do about it. Each kind is
// mapped once to a process exit code (in cmd/spangate) and once to an HTTP
// status (in the gateway).
type Kind uint8

// The error kinds. The zero value is Internal, so an unclassified error is
// never mistaken for a user mistake.
const (
	// Internal is a failure the caller cannot fix: a bug or an unexpected
	// response from a dependency.
	Internal Kind = iota
	// Invalid is bad input: a malformed flag, config, migration file or
	// statement.
	Invalid
	// Unauthenticated means the caller's identity could not be verified.
	Unauthenticated
	// Denied means the caller is known but not allowed to do this.
	Denied
	// Blocked means the plan refuses to proceed: an edited applied migration,
	// drift, a lint error, or a lock that was not acquired in time.
	Blocked
	// NotFound means a named thing does not exist.
	NotFound
	// Conflict means the request collides with the current state.
	Conflict
	// Unavailable means a dependency could not be reached or timed out; the
	// same request may succeed later.
	Unavailable
	// Canceled means the operation was interrupted by the caller.
	Canceled
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid",
	Unauthenticated: "unauthenticated",
	Denied:          "denied",
	Blocked:         "blocked",
	NotFound:        "not_found",
	Conflict:        "conflict",
	Unavailable:     "unavailable",
	Canceled:        "canceled",
}

// String returns the kind's stable, machine-readable name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the kind whose String is name, and false for an
// unknown name.
func ParseKind(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), true
		}
	}
	return Internal, false
}

// Error is the error type of the domain: a kind, a message a person can act
// on, an optional hint that says how to fix it, and the wrapped cause.
type Error struct {
	Kind    Kind
	Message string
	Hint    string
	Err     error
}

// Error returns the message. Errorf already folds the cause's text into the
// message; an Error built by hand with no message shows its cause.
func (e *Error) Error() string {
	if e.Message == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause, so errors.Is and errors.As see through Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind whose message is formatted from
// format and args. A %w verb in format wraps its argument as the cause.
func Errorf(kind Kind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), Err: errors.Unwrap(err)}
}

// WithHint returns a copy of e carrying hint, a sentence that tells the user
// how to fix the problem.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// KindOf returns the kind of the outermost *Error in err's chain, Canceled for
// context cancellation, Unavailable for an expired deadline, and Internal
// otherwise.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Unavailable
	}
	return Internal
}

// HintOf returns the first non-empty hint in err's chain.
func HintOf(err error) string {
	for err != nil {
		if e, ok := err.(*Error); ok && e.Hint != "" {
			return e.Hint
		}
		err = errors.Unwrap(err)
	}
	return ""
}
