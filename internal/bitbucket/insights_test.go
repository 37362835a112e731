package bitbucket_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spangate/spangate/internal/bitbucket"
	"github.com/spangate/spangate/internal/cireport"
)

// proxy stands in for the pipeline's proxy: it receives the requests meant
// for api.bitbucket.org (absolute URLs) and records them.
type proxy struct {
	mu   sync.Mutex
	reqs []string
	fail int // answer 500 to this request (1-based); 0 never
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, fmt.Sprintf("%s %s %d", r.Method, r.URL.String(), len(b)))
	n := len(p.reqs)
	p.mu.Unlock()
	if !json.Valid(b) || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	if n == p.fail {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func TestPublish(t *testing.T) {
	px := &proxy{}
	srv := httptest.NewServer(px)
	defer srv.Close()
	pub, err := bitbucket.NewPublisher(srv.URL, bitbucket.API)
	if err != nil {
		t.Fatal(err)
	}
	anns := make([]cireport.Annotation, 230)
	for i := range anns {
		anns[i].ExternalID = fmt.Sprint("a", i)
	}
	rep := cireport.Report{ExternalID: "spangate-plan", Title: "spangate plan"}
	if err := pub.Publish(t.Context(), "acme/orders", "abc123", rep, anns); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"PUT http://api.bitbucket.org/2.0/repositories/acme/orders/commit/abc123/reports/spangate-plan",
		"POST http://api.bitbucket.org/2.0/repositories/acme/orders/commit/abc123/reports/spangate-plan/annotations",
		"POST http://api.bitbucket.org/2.0/repositories/acme/orders/commit/abc123/reports/spangate-plan/annotations",
		"POST http://api.bitbucket.org/2.0/repositories/acme/orders/commit/abc123/reports/spangate-plan/annotations",
	}
	if len(px.reqs) != len(want) {
		t.Fatalf("requests = %v", px.reqs)
	}
	for i, w := range want {
		if !strings.HasPrefix(px.reqs[i], w+" ") {
			t.Errorf("request %d = %q, want %q", i, px.reqs[i], w)
		}
	}

	// A refused request fails with Bitbucket's answer; no repository is
	// refused before anything is sent.
	px.reqs, px.fail = nil, 2
	if err := pub.Publish(t.Context(), "acme/orders", "abc123", rep, anns); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v, want the 500", err)
	}
	px.reqs = nil
	if err := pub.Publish(t.Context(), "", "abc123", rep, nil); err == nil || len(px.reqs) != 0 {
		t.Errorf("err = %v after %d requests", err, len(px.reqs))
	}
}
