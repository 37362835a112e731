package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/spangate/spangate/internal/emulator/emulatortest"
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
// clients, each updating its own row, each sending its next request as
// soon as the last one answered (a closed loop: the throughput at
// saturation). It reports the latency (p50_ms, p99_ms, mean_ms) and the
// throughput (ops/s) of each.
func BenchmarkExec(b *testing.B) {
	modes := execModes(b)
	for _, clients := range []int{1, 8} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("%s/clients=%d", m.name, clients), func(b *testing.B) {
				runClients(b, clients, 0, m.op)
			})
		}
	}
}

// BenchmarkExecPaced is BenchmarkExec with 8 clients that send at a fixed
// total rate, whatever the answers' pace (an open loop): 400 requests per
// second, which saturates no path, and 800, about what direct reaches with
// 8 clients in a closed loop: the latency a request sees at a given load.
// Latency counts from the time the request was due, so a slow answer that
// delays the next request is charged to it.
func BenchmarkExecPaced(b *testing.B) {
	const clients = 8
	modes := execModes(b)
	for _, rate := range []float64{400, 800} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("%s/clients=%d/rate=%.0f", m.name, clients, rate), func(b *testing.B) {
				runClients(b, clients, time.Duration(float64(clients)/rate*float64(time.Second)), m.op)
			})
		}
	}
}

type execMode struct {
	name string
	op   func(context.Context, int) error
}

// execModes sets up a stack with an Items table of 8 rows and returns the
// three ways to run UPDATE Items SET N = N + 1 WHERE Id = @id: directly,
// through the gateway's spannerdb.DB with audit (no HTTP, token or policy:
// what the audit itself costs), and through the gateway.
func execModes(b *testing.B) []execMode {
	return execModesVia(b, emulatortest.Host())
}

// execModesVia is execModes with every Spanner client connecting to the
// emulator at host (an emulatortest.Proxy in front of it, say).
func execModesVia(b *testing.B, host string) []execMode {
	st := newStackVia(b, host, "CREATE TABLE Items (Id INT64 NOT NULL, N INT64) PRIMARY KEY (Id)")
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
	// The gateway's own database handle, so that audited and gateway
	// share one process's view of the chain, as one replica would.
	served, err := st.served[len(st.served)-1].Open(context.Background(), testDB)
	if err != nil {
		b.Fatal(err)
	}
	db := served.(*adapterDB).DB
	audited := func(ctx context.Context, id int) error {
		_, _, err := db.ExecDML(ctx, sql, map[string]any{"id": int64(id)}, audit.Entry{Principal: "bench", Action: "write", Database: testDB})
		return err
	}
	return []execMode{{"direct", direct}, {"audited", audited}, {"gateway", viaGateway}}
}

// runClients runs b.N operations spread over n goroutines (see drive) and
// reports the latency (median, 99th percentile, mean) and the throughput.
func runClients(b *testing.B, n int, interval time.Duration, op func(context.Context, int) error) {
	ctx := context.Background()
	for id := range n { // warm up sessions and caches
		if err := op(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	lat, elapsed, err := drive(ctx, load{clients: n, ops: b.N, interval: interval}, op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	report(b, lat, elapsed)
}

// report reports the latency percentiles and mean of all and the
// throughput over elapsed.
func report(b *testing.B, all []time.Duration, elapsed time.Duration) {
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

// BenchmarkExecSideBySide measures direct, audited and gateway in turns on
// one stack: each round runs each mode for one second with the same
// clients (closed loop), in an order that alternates between rounds so
// that a drift of the machine's speed hits all modes alike. b.N is the
// number of rounds (run with -benchtime 5x). It reports, as medians over
// the rounds, the throughput of audited and gateway as a percentage of
// direct's in the same round (audited_pct, gateway_pct), the p50 latency
// each adds to direct's (audited_added_ms, gateway_added_ms), and direct's
// and the gateway's own throughput and p50.
func BenchmarkExecSideBySide(b *testing.B) {
	modes := execModes(b)
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { sideBySide(b, modes, clients) })
	}
}

// BenchmarkExecSideBySideRTT is BenchmarkExecSideBySide with a network
// between every Spanner client (direct's and the gateway's) and the
// emulator: a proxy holds each chunk 1 ms in each direction, a 2 ms round
// trip, about what an application in the same region as its Cloud
// Spanner instance sees. It shows what the gateway costs against a
// realistic Spanner latency instead of the emulator's sub-millisecond one.
func BenchmarkExecSideBySideRTT(b *testing.B) {
	modes := execModesVia(b, emulatortest.NewProxy(b, emulatortest.Host(), time.Millisecond).Addr())
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("rtt=2ms/clients=%d", clients), func(b *testing.B) { sideBySide(b, modes, clients) })
	}
}

// sideBySide runs b.N rounds of modes (see BenchmarkExecSideBySide).
func sideBySide(b *testing.B, modes []execMode, clients int) {
	ctx := context.Background()
	for _, m := range modes { // warm up sessions and caches
		for id := range clients {
			if err := m.op(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	type result struct{ ops, p50 float64 }
	var rounds [][]result // [round][mode]
	for r := range b.N {
		got := make([]result, len(modes))
		for k := range modes {
			i := k
			if r%2 == 1 {
				i = len(modes) - 1 - k
			}
			lat, elapsed, err := drive(ctx, load{clients: clients, d: time.Second}, modes[i].op)
			if err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			got[i] = result{float64(len(lat)) / elapsed.Seconds(), float64(lat[len(lat)/2].Microseconds()) / 1000}
		}
		rounds = append(rounds, got)
		b.Logf("round %d: direct %.0f ops/s p50 %.3f ms; audited %.1f%% +%.3f ms; gateway %.1f%% +%.3f ms", r+1,
			got[0].ops, got[0].p50, 100*got[1].ops/got[0].ops, got[1].p50-got[0].p50, 100*got[2].ops/got[0].ops, got[2].p50-got[0].p50)
	}
	median := func(f func([]result) float64) float64 {
		var xs []float64
		for _, r := range rounds {
			xs = append(xs, f(r))
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	// modes: 0 direct, 1 audited, 2 gateway
	b.ReportMetric(median(func(r []result) float64 { return 100 * r[1].ops / r[0].ops }), "audited_pct")
	b.ReportMetric(median(func(r []result) float64 { return 100 * r[2].ops / r[0].ops }), "gateway_pct")
	b.ReportMetric(median(func(r []result) float64 { return r[1].p50 - r[0].p50 }), "audited_added_ms")
	b.ReportMetric(median(func(r []result) float64 { return r[2].p50 - r[0].p50 }), "gateway_added_ms")
	b.ReportMetric(median(func(r []result) float64 { return r[0].ops }), "direct_ops/s")
	b.ReportMetric(median(func(r []result) float64 { return r[2].ops }), "gateway_ops/s")
	b.ReportMetric(median(func(r []result) float64 { return r[0].p50 }), "direct_p50_ms")
	b.ReportMetric(median(func(r []result) float64 { return r[2].p50 }), "gateway_p50_ms")
}

// load is how drive runs an operation: from clients goroutines, ops
// operations in all, or when ops is 0 for about d. With a zero interval
// each goroutine starts its next operation when the last one answered (a
// closed loop). Otherwise each starts one every interval, the goroutines'
// starts evenly staggered (an open loop), and latency counts from each
// operation's due time, so a slow answer that delays the next operation is
// charged to it.
type load struct {
	clients, ops int
	d, interval  time.Duration
}

// drive runs op as l says and returns every latency and the time taken.
func drive(ctx context.Context, l load, op func(context.Context, int) error) ([]time.Duration, time.Duration, error) {
	lat := make([][]time.Duration, l.clients)
	errs := make([]error, l.clients)
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(l.d)
	for c := range l.clients {
		ops := l.ops / l.clients
		if c < l.ops%l.clients {
			ops++
		}
		first := start.Add(l.interval * time.Duration(c) / time.Duration(l.clients))
		more := func(i int) bool {
			if l.ops > 0 {
				return i < ops
			}
			return time.Now().Before(stop)
		}
		wg.Go(func() {
			for i := 0; more(i); i++ {
				t0 := time.Now()
				if l.interval > 0 {
					t0 = first.Add(l.interval * time.Duration(i))
					time.Sleep(time.Until(t0))
				}
				if err := op(ctx, c); err != nil {
					errs[c] = err
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	return slices.Concat(lat...), time.Since(start), errors.Join(errs...)
}
