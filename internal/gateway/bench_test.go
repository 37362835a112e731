package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/spangate/spangate/internal/audit"
)

// BenchmarkTokenExchange measures POST /v1/token in process with the
// issuer's keys cached: verify the RS256 CI token, sign a session token.
// Run with -cpu 1 for the one-core figure; exchanges/s is reported.
func BenchmarkTokenExchange(b *testing.B) {
	st := newStack(b)
	h := st.server(b, st.config(b, nil), nil).Handler()
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {st.iss.mint(b, repoAdmin, nil)},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
	}.Encode()
	do := func() int {
		req := httptest.NewRequest("POST", "/v1/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := do(); code != 200 { // fetches and caches the keys
		b.Fatalf("exchange: %d", code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if code := do(); code != 200 {
			b.Fatalf("exchange: %d", code)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exchanges/s")
}

// BenchmarkExec compares one UPDATE through the gateway (HTTP on loopback,
// session token, policy, audit entry and touched keys in the same
// transaction) with the same UPDATE run directly with the Spanner client in
// a read-write transaction, on the same emulator, with 1 and 8 concurrent
// clients, each updating its own row. It reports the median latency
// (p50_ms) and the throughput (ops/s) of each.
func BenchmarkExec(b *testing.B) {
	st := newStack(b, "CREATE TABLE Items (Id INT64 NOT NULL, N INT64) PRIMARY KEY (Id)")
	for id := range 8 {
		if _, err := st.direct.Client().Apply(context.Background(), []*spanner.Mutation{
			spanner.InsertOrUpdate("Items", []string{"Id", "N"}, []any{int64(id), int64(0)}),
		}); err != nil {
			b.Fatal(err)
		}
	}
	s := st.server(b, st.config(b, nil), nil)
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	token := login(b, s.Handler(), st.iss.mint(b, repoAdmin, nil)).token
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const sql = "UPDATE Items SET N = N + 1 WHERE Id = @id"

	viaGateway := func(ctx context.Context, id int) error {
		body, _ := json.Marshal(map[string]any{"sql": sql, "params": map[string]any{"id": id}})
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/databases/"+testDB+":exec", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("exec: %d %s", resp.StatusCode, out.String())
		}
		return nil
	}
	client := st.direct.Client()
	// The emulator reports contention as NotFound or FailedPrecondition,
	// which the client does not retry; retry them as spannerdb does, so
	// both sides survive 8 clients.
	direct := func(ctx context.Context, id int) error {
		for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
			_, err := client.ReadWriteTransaction(ctx, func(ctx context.Context, txn *spanner.ReadWriteTransaction) error {
				_, err := txn.Update(ctx, spanner.Statement{SQL: sql, Params: map[string]any{"id": int64(id)}})
				return err
			})
			if c := spanner.ErrCode(err); err == nil || c != codes.NotFound && c != codes.FailedPrecondition {
				return err
			}
			time.Sleep(wait)
		}
	}
	// The audited statement alone, without HTTP, token or policy: what
	// the audit itself costs.
	audited := func(ctx context.Context, id int) error {
		_, _, err := st.direct.ExecDML(ctx, sql, map[string]any{"id": int64(id)}, audit.Entry{Principal: "bench", Action: "write", Database: testDB})
		return err
	}
	if err := st.direct.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{1, 8} {
		for _, mode := range []struct {
			name string
			op   func(context.Context, int) error
		}{{"direct", direct}, {"audited", audited}, {"gateway", viaGateway}} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode.name, clients), func(b *testing.B) {
				runClients(b, clients, mode.op)
			})
		}
	}
}

// runClients runs b.N operations spread over n goroutines and reports the
// latency (median, 99th percentile, mean) and the throughput.
func runClients(b *testing.B, n int, op func(context.Context, int) error) {
	ctx := context.Background()
	for id := range n { // warm up sessions and caches
		if err := op(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range n {
		ops := b.N / n
		if c < b.N%n {
			ops++
		}
		wg.Go(func() {
			for range ops {
				t0 := time.Now()
				if err := op(ctx, c); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	b.ReportMetric(ms(all[len(all)/2]), "p50_ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99_ms")
	b.ReportMetric(ms(sum/time.Duration(len(all))), "mean_ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
}
