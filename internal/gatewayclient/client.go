// Package gatewayclient is the CLI's client of a spangate gateway: it
// exchanges the CI's ID token for a session token once, then calls the
// gateway's HTTP API with it, sending the run metadata the CI reports with
// every request. Errors come back as *spangate.Error of the kind the
// gateway named, so a command exits with the same code as in direct mode.
//
// It speaks the wire types the gateway package exports; it never sees a
// Spanner credential.
package gatewayclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/audit"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/migration"
)

// maxResponse bounds the JSON documents read from the gateway.
const maxResponse = 64 << 20

// Client talks to one gateway.
type Client struct {
	base  *url.URL
	http  *http.Client
	run   spangate.RunMetadata
	token string
}

// New returns a client of the gateway at baseURL (http or https). hc is the
// HTTP client to use; run is sent with every request.
func New(baseURL string, hc *http.Client, run spangate.RunMetadata) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, spangate.Errorf(spangate.Invalid, "gateway URL %q is not an http(s) URL", baseURL).
			WithHint("pass --gateway https://spangate.example.com (or set SPANGATE_URL)")
	}
	return &Client{base: u, http: hc, run: run}, nil
}

// UseToken makes the client send tok (a session token from an earlier
// exchange, or a CI token) as its bearer token.
func (c *Client) UseToken(tok string) { c.token = tok }

// Exchange trades a CI ID token for a gateway session token (RFC 8693) and
// uses it for the following calls.
func (c *Client) Exchange(ctx context.Context, idToken string) (gateway.TokenResponse, error) {
	form := url.Values{
		"grant_type":         {gateway.GrantTypeTokenExchange},
		"subject_token":      {idToken},
		"subject_token_type": {gateway.TokenTypeIDToken},
	}
	var resp gateway.TokenResponse
	err := c.do(ctx, http.MethodPost, "/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), &resp)
	if err != nil {
		return resp, err
	}
	c.token = resp.AccessToken
	return resp, nil
}

// Files turns migration sources into the request body's files, named by
// their base names as the gateway requires.
func Files(srcs []migration.Source) []gateway.MigrationFile {
	out := make([]gateway.MigrationFile, len(srcs))
	for i, s := range srcs {
		out[i] = gateway.MigrationFile{Name: path.Base(s.Name), Content: string(s.Content), ProtoDescriptors: s.ProtoDescriptors}
	}
	return out
}

// FilesAgainst is Files for a database whose history is hist: a file the
// history shows applied with the same checksum is sent by name and
// checksum only (the gateway has its content in the history), every other
// file whole. A long history then costs the request a few bytes per
// applied file, not its content.
func FilesAgainst(srcs []migration.Source, hist *gateway.StatusResponse) []gateway.MigrationFile {
	applied := map[int64]string{}
	if hist != nil {
		for _, h := range hist.History {
			if migration.State(h.State) == migration.StateApplied {
				applied[h.Version] = h.Checksum
			}
		}
	}
	out := make([]gateway.MigrationFile, len(srcs))
	for i, s := range srcs {
		base := path.Base(s.Name)
		out[i] = gateway.MigrationFile{Name: base, Content: string(s.Content), ProtoDescriptors: s.ProtoDescriptors}
		fn, err := migration.ParseFileName(base)
		if err != nil || fn.Down {
			continue
		}
		if sum, ok := applied[fn.Version]; ok && sum == migration.FileChecksum(s.Content, s.ProtoDescriptors) {
			out[i] = gateway.MigrationFile{Name: base, Checksum: sum}
		}
	}
	return out
}

// Baseline asks the gateway to record files up to version (0: the version
// in another tool's history table) as applied in db.
func (c *Client) Baseline(ctx context.Context, db string, files []gateway.MigrationFile, version int64) (*gateway.BaselineResponse, error) {
	var resp gateway.BaselineResponse
	err := c.doJSON(ctx, http.MethodPost, "/v1/databases/"+url.PathEscape(db)+"/migrations:baseline", gateway.MigrationsRequest{Migrations: files, Version: version}, &resp)
	return &resp, err
}

// Plan asks the gateway for the plan of files against database db.
func (c *Client) Plan(ctx context.Context, db string, files []gateway.MigrationFile) (*gateway.PlanResponse, error) {
	var resp gateway.PlanResponse
	err := c.doJSON(ctx, http.MethodPost, "/v1/databases/"+url.PathEscape(db)+"/migrations:plan", gateway.MigrationsRequest{Migrations: files}, &resp)
	return &resp, err
}

// Status returns the migration history of db.
func (c *Client) Status(ctx context.Context, db string) (*gateway.StatusResponse, error) {
	var resp gateway.StatusResponse
	err := c.do(ctx, http.MethodGet, "/v1/databases/"+url.PathEscape(db)+"/migrations", "", nil, &resp)
	return &resp, err
}

// Apply applies files to db. Progress events are passed to report as they
// stream in; the last line is the result, or an error.
func (c *Client) Apply(ctx context.Context, db string, files []gateway.MigrationFile, report func(migration.Event)) (*gateway.ApplyResult, error) {
	body, err := json.Marshal(gateway.MigrationsRequest{Migrations: files})
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, http.MethodPost, "/v1/databases/"+url.PathEscape(db)+"/migrations:apply", "application/json", bytes.NewReader(body))
	if err != nil {
		if ctx.Err() != nil {
			return nil, interrupted(ctx.Err())
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if ctx.Err() != nil {
			// Interrupted while lines were still buffered.
			return nil, interrupted(ctx.Err())
		}
		line := sc.Bytes()
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, spangate.Errorf(spangate.Internal, "the gateway sent a line that is not JSON: %w", err)
		}
		switch head.Type {
		case gateway.LineResult:
			var res gateway.ApplyResult
			if err := json.Unmarshal(line, &res); err != nil {
				return nil, spangate.Errorf(spangate.Internal, "decode the apply result: %w", err)
			}
			return &res, nil
		case gateway.LineError:
			var e gateway.ApplyError
			if err := json.Unmarshal(line, &e); err != nil {
				return nil, spangate.Errorf(spangate.Internal, "decode the apply error: %w", err)
			}
			return nil, fromBody(e.Error, http.StatusOK)
		default:
			var ev migration.Event
			if err := json.Unmarshal(line, &ev); err == nil && report != nil {
				report(ev)
			}
		}
	}
	if ctx.Err() != nil {
		return nil, interrupted(ctx.Err())
	}
	if err := sc.Err(); err != nil {
		return nil, spangate.Errorf(spangate.Unavailable, "the apply stream broke off: %w", err).
			WithHint("run spangate migrate status: the history says what was applied; re-run apply to resume")
	}
	return nil, spangate.Errorf(spangate.Unavailable, "the apply stream ended without a result").
		WithHint("run spangate migrate status: the history says what was applied; re-run apply to resume")
}

// interrupted is the error of an apply whose caller went away (Ctrl-C):
// the gateway sees the connection close and stops at the next step
// boundary, as direct mode does.
func interrupted(cause error) error {
	return spangate.Errorf(spangate.Canceled, "interrupted: the gateway stops this apply at the next step boundary (the step under way finishes and is recorded) and releases the lock: %w", cause).
		WithHint("run spangate migrate status to see what was applied; re-run apply to resume")
}

// Unlock reports db's migration lock and, with force, breaks it when its
// holder is gone (the gateway refuses while the lease is being renewed).
func (c *Client) Unlock(ctx context.Context, db string, force bool) (*gateway.UnlockResponse, error) {
	var resp gateway.UnlockResponse
	path := "/v1/databases/" + url.PathEscape(db) + "/migrations:unlock"
	if force {
		path += "?force=true"
	}
	err := c.do(ctx, http.MethodPost, path, "", nil, &resp)
	return &resp, err
}

// Exec runs one statement on db with bound parameters.
func (c *Client) Exec(ctx context.Context, db, sql string, params map[string]json.RawMessage) (*gateway.ExecResponse, error) {
	var resp gateway.ExecResponse
	err := c.doJSON(ctx, http.MethodPost, "/v1/databases/"+url.PathEscape(db)+":exec", gateway.ExecRequest{SQL: sql, Params: params}, &resp)
	return &resp, err
}

// AuditList lists audit entries of db matching q (table, key, principal,
// action, since, limit).
func (c *Client) AuditList(ctx context.Context, db string, q url.Values) (*gateway.AuditListResponse, error) {
	var resp gateway.AuditListResponse
	path := "/v1/databases/" + url.PathEscape(db) + "/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &resp)
	return &resp, err
}

// AuditVerify walks db's audit chain on the gateway, checking that it
// still holds the anchored entries.
func (c *Client) AuditVerify(ctx context.Context, db string, anchors ...audit.Anchor) (*audit.VerifyResult, error) {
	var resp audit.VerifyResult
	path := "/v1/databases/" + url.PathEscape(db) + "/audit:verify"
	if len(anchors) > 0 {
		q := url.Values{}
		for _, a := range anchors {
			q.Add("anchor", a.String())
		}
		path += "?" + q.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &resp)
	return &resp, err
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, "application/json", bytes.NewReader(body), out)
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return spangate.Errorf(spangate.Internal, "decode the gateway's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	u := *c.base
	rel, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	u.Path += rel.Path
	u.RawPath = ""
	u.RawQuery = rel.RawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	gateway.SetRunMetadata(req.Header, c.run)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, spangate.Errorf(spangate.Canceled, "%s %s: %w", method, c.base.Host, ctx.Err())
		}
		return nil, spangate.Errorf(spangate.Unavailable, "reach the gateway at %s: %w", c.base.Redacted(), err).
			WithHint("check --gateway / SPANGATE_URL and that the gateway is running (spangate dev serves one)")
	}
	return resp, nil
}

// readError turns a non-2xx answer into a *spangate.Error.
func readError(resp *http.Response) error {
	var eb gateway.ErrorResponse
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		return spangate.Errorf(kindOfStatus(resp.StatusCode), "the gateway answered %s", resp.Status)
	}
	return fromBody(eb.Error, resp.StatusCode)
}

func fromBody(b gateway.ErrorBody, status int) error {
	kind, ok := spangate.ParseKind(b.Code)
	if !ok {
		kind = kindOfStatus(status)
	}
	e := &spangate.Error{Kind: kind, Message: "gateway: " + b.Message, Hint: b.Hint}
	if b.Outcome == "unknown" {
		e.Err = spangate.ErrOutcomeUnknown
	}
	return e
}

func kindOfStatus(status int) spangate.Kind {
	switch {
	case status == http.StatusUnauthorized:
		return spangate.Unauthenticated
	case status == http.StatusForbidden:
		return spangate.Denied
	case status == http.StatusNotFound:
		return spangate.NotFound
	case status == http.StatusConflict:
		return spangate.Conflict
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return spangate.Unavailable
	case status >= 400 && status < 500:
		return spangate.Invalid
	}
	return spangate.Internal
}
