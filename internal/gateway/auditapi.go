package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
)

// AuditListResponse is the answer of GET /v1/databases/{db}/audit.
type AuditListResponse struct {
	Entries []audit.Entry `json:"entries"`
}

// auditList is GET /v1/databases/{db}/audit; it needs audit.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	db, err := s.authorizedDatabase(ctx, r, c, spangate.ActionAudit)
	if err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	entries, err := db.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, AuditListResponse{Entries: entries})
	return nil
}

// auditFilter reads ?table=&key=&principal=&action=&since=&before=&limit=.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{Table: q.Get("table"), Key: q.Get("key"), Principal: q.Get("principal"), Action: q.Get("action")}
	if f.Key != "" && f.Table == "" {
		return f, spangate.Errorf(spangate.Invalid, "key needs table").WithHint("pass table= with key=")
	}
	if f.Action != "" && !spangate.Action(f.Action).Valid() {
		return f, spangate.Errorf(spangate.Invalid, "unknown action %q", f.Action)
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, spangate.Errorf(spangate.Invalid, "since %q is not an RFC 3339 time", v).WithHint("write it such as 2026-07-01T00:00:00Z")
		}
		f.Since = t
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, spangate.Errorf(spangate.Invalid, "before %q is not a positive sequence number", v).
				WithHint("pass the seq of the last entry of the previous page")
		}
		f.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return f, spangate.Errorf(spangate.Invalid, "limit %q is not a number from 1 to %d", v, audit.MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// auditVerify is GET /v1/databases/{db}/audit:verify; it needs audit.
// Each anchor=SEQ:HASH query parameter names an entry the chain must still
// hold (see audit.Anchor). The answer is 200 with ok false when the chain
// is broken: the walk succeeded, its finding is the answer.
func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	var anchors []audit.Anchor
	for _, v := range r.URL.Query()["anchor"] {
		a, err := audit.ParseAnchor(v)
		if err != nil {
			return spangate.Errorf(spangate.Invalid, "%w", err).
				WithHint("pass anchor=SEQ:HASH as printed in the head of an earlier verify")
		}
		anchors = append(anchors, a)
	}
	db, err := s.authorizedDatabase(ctx, r, c, spangate.ActionAudit)
	if err != nil {
		return err
	}
	res, err := db.VerifyAudit(ctx, anchors...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
