package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spangate/spangate"
)

// Exit codes, as documented in docs/cli.md.
const (
	exitOK          = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitDenied      = 3
	exitBlocked     = 4
	exitInterrupted = 130
)

// usageError marks a command-line mistake (unknown flag, missing argument).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code. It is the one place where
// error kinds become exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitInvalid
	}
	var se silentError
	if errors.As(err, &se) {
		return se.code
	}
	switch spangate.KindOf(err) {
	case spangate.Invalid:
		return exitInvalid
	case spangate.Unauthenticated, spangate.Denied:
		return exitDenied
	case spangate.Blocked:
		return exitBlocked
	case spangate.Canceled:
		return exitInterrupted
	default:
		return exitFailed
	}
}

// silentError carries an exit code for a result that was already reported on
// stdout (a blocked plan printed as JSON, say), so nothing more is printed.
type silentError struct {
	code int
	err  error
}

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

// jsonError is the one JSON document a failing command prints on stdout
// with --format json: the same error object as the gateway's answers, and
// the exit code.
type jsonError struct {
	Error struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
		Hint    string `json:"hint,omitempty"`
		Outcome string `json:"outcome,omitempty"`
	} `json:"error"`
	ExitCode int `json:"exit_code"`
}

// writeJSONError prints err as a jsonError on w, unless the command already
// printed its result document (a silentError).
func writeJSONError(w io.Writer, err error) {
	var se silentError
	if errors.As(err, &se) {
		return
	}
	var doc jsonError
	doc.Error.Kind = spangate.KindOf(err).String()
	var ue usageError
	if errors.As(err, &ue) {
		doc.Error.Kind = spangate.Invalid.String()
	}
	doc.Error.Message = err.Error()
	doc.Error.Hint = spangate.HintOf(err)
	if errors.Is(err, spangate.ErrOutcomeUnknown) {
		doc.Error.Outcome = "unknown"
	}
	doc.ExitCode = exitCode(err)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// reportError prints err with its hint to w and returns the exit code.
func reportError(w io.Writer, err error) int {
	code := exitCode(err)
	if err == nil {
		return code
	}
	var se silentError
	if errors.As(err, &se) {
		return code
	}
	fmt.Fprintf(w, "error: %v\n", err)
	if hint := spangate.HintOf(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return code
}
