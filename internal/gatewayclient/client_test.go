package gatewayclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/gatewayclient"
	"github.com/spangate/spangate/internal/migration"
)

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8479", "ftp://x", "http://"} {
		if _, err := gatewayclient.New(u, http.DefaultClient, spangate.RunMetadata{}); spangate.KindOf(err) != spangate.Invalid {
			t.Errorf("New(%q) = %v, want an invalid error", u, err)
		}
	}
}

// TestErrorsKeepTheGatewaysKind checks that a refusal comes back as the
// kind the gateway named, so the CLI exits as it would in direct mode.
func TestErrorsKeepTheGatewaysKind(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		want    spangate.Kind
		unknown bool // the error says the outcome is unknown
	}{
		{401, `{"error":{"code":"unauthenticated","message":"token expired at T","hint":"get a new token"}}`, spangate.Unauthenticated, false},
		{403, `{"error":{"code":"denied","message":"rule x: condition false"}}`, spangate.Denied, false},
		{409, `{"error":{"code":"blocked","message":"edited"}}`, spangate.Blocked, false},
		{400, `{"error":{"code":"invalid","message":"2 statements"}}`, spangate.Invalid, false},
		{503, `{"error":{"code":"unavailable","message":"audit"}}`, spangate.Unavailable, false},
		{503, `{"error":{"code":"unavailable","message":"the commit got no answer","outcome":"unknown"}}`, spangate.Unavailable, true},
		{502, `<html>bad gateway</html>`, spangate.Internal, false},
		{404, `not json`, spangate.NotFound, false},
		{429, `{}`, spangate.Unavailable, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := gatewayclient.New(srv.URL, srv.Client(), spangate.RunMetadata{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Status(context.Background(), "orders")
			if k := spangate.KindOf(err); k != tt.want {
				t.Errorf("kind = %v (%v), want %v", k, err, tt.want)
			}
			if got := errors.Is(err, spangate.ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("outcome unknown = %v (%v), want %v", got, err, tt.unknown)
			}
		})
	}
}

func TestApplyStream(t *testing.T) {
	tests := []struct {
		name     string
		lines    string
		events   int
		wantErr  spangate.Kind
		wantDone bool
	}{
		{name: "result", lines: `{"type":"lock","message":"lock acquired"}` + "\n" + `{"type":"step","step":1,"steps":1,"message":"m"}` + "\n" +
			`{"type":"result","database":"orders","applied":[1],"schema_operations":1,"statements":2,"duration_ms":5}` + "\n", events: 2, wantDone: true},
		{name: "error line", lines: `{"type":"step","message":"m"}` + "\n" + `{"type":"error","error":{"code":"blocked","message":"lock lost"}}` + "\n", events: 1, wantErr: spangate.Blocked},
		{name: "cut off", lines: `{"type":"step","message":"m"}` + "\n", events: 1, wantErr: spangate.Unavailable},
		{name: "garbage", lines: "not json\n", wantErr: spangate.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotAuth, gotCommit string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth, gotCommit = r.Header.Get("Authorization"), r.Header.Get(gateway.HeaderRunCommit)
				w.Header().Set("Content-Type", "application/x-ndjson")
				io.WriteString(w, tt.lines)
			}))
			defer srv.Close()
			c, _ := gatewayclient.New(srv.URL, srv.Client(), spangate.RunMetadata{Commit: "abc123"})
			c.UseToken("session-token")
			events := 0
			res, err := c.Apply(context.Background(), "orders", gatewayclient.Files([]migration.Source{{Name: "db/0001_a.sql", Content: []byte("SELECT 1")}}),
				func(migration.Event) { events++ })
			if tt.wantDone && (err != nil || res.SchemaOperations != 1) {
				t.Fatalf("Apply = %+v, %v", res, err)
			}
			if !tt.wantDone && spangate.KindOf(err) != tt.wantErr {
				t.Fatalf("Apply error kind = %v (%v), want %v", spangate.KindOf(err), err, tt.wantErr)
			}
			if events != tt.events {
				t.Errorf("events = %d, want %d", events, tt.events)
			}
			if gotAuth != "Bearer session-token" || gotCommit != "abc123" {
				t.Errorf("request headers: auth %q, commit %q", gotAuth, gotCommit)
			}
		})
	}
}

func TestFilesUseBaseNames(t *testing.T) {
	fs := gatewayclient.Files([]migration.Source{{Name: "a/b/0001_x.sql", Content: []byte("x")}})
	if fs[0].Name != "0001_x.sql" || fs[0].Content != "x" {
		t.Errorf("Files = %+v", fs)
	}
}
