package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spangate/spangate"
)

// ErrorBody is the JSON error object of every refusal and failure:
// {"error":{"code","message","hint"}}. Code is always the name of a
// spangate.Kind ("invalid", "unauthenticated", "denied", "blocked",
// "not_found", "conflict", "unavailable", "canceled", "internal"), so a
// client maps it back to the same kind and exit code as direct mode.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// Reference is the request's id (also in the Spangate-Request-Id
	// header): quoted to the operator, it finds the request's log line,
	// which explains a denial.
	Reference string `json:"reference,omitempty"`
	// Outcome is "unknown" when the change's commit got no answer, so it
	// may have been made (spangate.ErrOutcomeUnknown); otherwise absent,
	// and nothing of a failed request was committed.
	Outcome string `json:"outcome,omitempty"`
}

// ErrorResponse wraps ErrorBody as the whole response body.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// StatusOf maps an error kind to its HTTP status. It is the one place where
// kinds become statuses:
//
//	Invalid          400 (413 for an oversized body, see tooLarge; 408 for a
//	                 body that arrives too slowly, see bodyTimedOut)
//	Unauthenticated  401
//	Denied           403
//	NotFound         404
//	Conflict         409
//	Blocked          409 (the plan refuses: an edited applied file, drift, a held lock)
//	Unavailable      503 (also 429 for the rate limits, see rateLimited and
//	                 deniedTooOften)
//	Canceled         503
//	Internal         500
func StatusOf(k spangate.Kind) int {
	switch k {
	case spangate.Invalid:
		return http.StatusBadRequest
	case spangate.Unauthenticated:
		return http.StatusUnauthorized
	case spangate.Denied:
		return http.StatusForbidden
	case spangate.NotFound:
		return http.StatusNotFound
	case spangate.Conflict, spangate.Blocked:
		return http.StatusConflict
	case spangate.Unavailable, spangate.Canceled:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody returns what a caller is told about err. An internal error is
// not described: its cause stays in the server's log.
func errorBody(err error) ErrorBody {
	k := spangate.KindOf(err)
	b := ErrorBody{Code: k.String(), Message: err.Error(), Hint: spangate.HintOf(err)}
	if errors.Is(err, spangate.ErrOutcomeUnknown) {
		b.Outcome = "unknown"
	}
	if k == spangate.Internal {
		b.Message = "internal error; the gateway's log has the details"
		b.Hint = ""
	}
	return b
}

// writeError writes err as the JSON error body with its status.
func writeError(w http.ResponseWriter, err error, body ErrorBody) int {
	status := StatusOf(spangate.KindOf(err))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, errBodyTimeout) {
		status = http.StatusRequestTimeout
		w.Header().Set("Connection", "close")
	}
	var rl *rateLimitError
	if errors.As(err, &rl) {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(int((rl.retryAfter+time.Second-1)/time.Second)))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="spangate"`)
	}
	writeJSON(w, status, ErrorResponse{Error: body})
	return status
}

// publicBody is what the caller of request ref is told about err: the
// error body, with every configured database's full path replaced by its
// logical name (a Spanner error may quote the path; callers know
// databases by their logical names only).
func (s *Server) publicBody(err error, ref string) ErrorBody {
	b := errorBody(err)
	b.Message, b.Hint = s.paths.Replace(b.Message), s.paths.Replace(b.Hint)
	b.Reference = ref
	return b
}

// pathReplacer replaces each configured database path with its logical
// name, longest path first.
func pathReplacer(databases map[string]string) *strings.Replacer {
	names := slices.SortedFunc(maps.Keys(databases), func(a, b string) int {
		return cmp.Compare(len(databases[b]), len(databases[a]))
	})
	var pairs []string
	for _, name := range names {
		pairs = append(pairs, databases[name], name)
	}
	return strings.NewReplacer(pairs...)
}

// writeJSON writes v as the JSON response body with status.
// It sets Content-Length, so that a flush sends the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{Error: ErrorBody{Code: spangate.Internal.String(), Message: "internal error: the response could not be encoded"}})
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing more to do
}

// tooLarge is the error of a request body over the limit.
func tooLarge(limit int64) error {
	return spangate.Errorf(spangate.Invalid, "request body is larger than the gateway's limit of %d bytes: %w", limit, &http.MaxBytesError{Limit: limit}).
		WithHint("split the change into smaller requests, or raise limits.max_body_bytes in the gateway config")
}

// rateLimitError is a request over the principal's rate limit.
type rateLimitError struct{ retryAfter time.Duration }

func (e *rateLimitError) Error() string { return "rate limit exceeded" }

func rateLimited(retryAfter time.Duration) error {
	return spangate.Errorf(spangate.Unavailable, "too many requests from this identity; retry in %s: %w",
		retryAfter.Round(time.Millisecond), &rateLimitError{retryAfter: retryAfter}).
		WithHint("slow down, or raise limits.rate_limit and limits.rate_burst in the gateway config")
}
