package gateway

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/spangate/spangate"
)

// HealthResponse is the answer of /healthz and /readyz.
type HealthResponse struct {
	Status string `json:"status"`
	// Databases maps each database to "ok" or why it cannot be reached
	// (readyz only).
	Databases map[string]string `json:"databases,omitempty"`
}

// healthz says the process is up.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
	return nil
}

// readyProbeTimeout bounds a readiness probe: a load balancer asks often,
// and a Spanner that does not answer a point read in this time is not
// ready for writes either.
const readyProbeTimeout = 3 * time.Second

// readyz says whether an audited write to every configured database would
// find what it needs: each database is probed in parallel with a real read
// of spangate's tables (Database.Ping), within a short deadline. It fails
// while shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, HealthResponse{Status: "shutting down"})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(s.cfg.Limits.SpannerTimeout, readyProbeTimeout))
	defer cancel()
	names := slices.Sorted(maps.Keys(s.cfg.Databases))
	results := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			db, err := s.dbs.Open(ctx, name)
			if err == nil {
				err = db.Ping(ctx)
			}
			if err != nil {
				results[i] = spangate.KindOf(err).String() + ": " + err.Error()
				return
			}
			results[i] = "ok"
		})
	}
	wg.Wait()
	resp := HealthResponse{Status: "ok", Databases: map[string]string{}}
	status := http.StatusOK
	for i, name := range names {
		resp.Databases[name] = results[i]
		if results[i] != "ok" {
			resp.Status, status = "unavailable", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, resp)
	return nil
}
