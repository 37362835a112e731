package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/gateway"
	"github.com/spangate/spangate/internal/identity"
	"github.com/spangate/spangate/internal/policy"
)

// interleaved measures two operations in alternating segments of about
// seg each, on one core (GOMAXPROCS 1, like go test -cpu 1), and returns
// the median CPU time per operation of each and the median of the rounds'
// ratios a/b. The process's CPU time (garbage collection included) is
// what is counted, not wall time, so the time other processes take the
// core from this one is not; alternating, and taking the ratio within
// each round, keeps what drift remains (frequency, caches) out of the
// ratio.
func interleaved(rounds int, seg time.Duration, a, b func() error) (aPer, bPer time.Duration, ratio float64, err error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	run := func(op func() error) (time.Duration, error) {
		runtime.GC()
		n, start := 0, cpuTime()
		for {
			if err := op(); err != nil {
				return 0, err
			}
			n++
			if el := cpuTime() - start; el >= seg {
				return el / time.Duration(n), nil
			}
		}
	}
	// One warm-up segment each: caches, keys, branch predictors.
	if _, err := run(a); err != nil {
		return 0, 0, 0, err
	}
	if _, err := run(b); err != nil {
		return 0, 0, 0, err
	}
	var as, bs []time.Duration
	var rs []float64
	for r := range rounds {
		first, second := a, b
		if r%2 == 1 {
			first, second = b, a
		}
		x, err := run(first)
		if err != nil {
			return 0, 0, 0, err
		}
		y, err := run(second)
		if err != nil {
			return 0, 0, 0, err
		}
		if r%2 == 1 {
			x, y = y, x
		}
		as, bs, rs = append(as, x), append(bs, y), append(rs, float64(x)/float64(y))
	}
	slices.Sort(as)
	slices.Sort(bs)
	slices.Sort(rs)
	return as[len(as)/2], bs[len(bs)/2], rs[len(rs)/2], nil
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err) // Linux and macOS have this clock
	}
	return time.Duration(ts.Nano())
}

// tokenBench is a dev OIDC issuer on loopback, a verifier with its keys
// fetched, and a GitHub Actions token (the largest claim set of the CI
// systems') that the verifier accepts.
type tokenBench struct {
	srv      *httptest.Server
	iss      *devoidc.Issuer
	verifier *identity.Verifier
	token    string
	pub      *rsa.PublicKey
}

func newTokenBench(ctx context.Context) (*tokenBench, error) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	iss, err := devoidc.New(srv.URL+"/dev/oidc", devoidc.Options{})
	if err != nil {
		srv.Close()
		return nil, err
	}
	mux.Handle(iss.MountPath(), iss.Handler())
	tb := &tokenBench{srv: srv, iss: iss}
	if tb.token, err = iss.Mint(spangate.ProviderGitHub, nil, "", 0); err != nil {
		tb.close()
		return nil, err
	}
	tb.verifier, err = identity.NewVerifier([]identity.IssuerConfig{{Name: "dev", URL: iss.URL(), Audiences: iss.Audiences()}}, identity.Options{})
	if err != nil {
		tb.close()
		return nil, err
	}
	if _, err := tb.verifier.Verify(ctx, tb.token); err != nil { // fetches the keys
		tb.close()
		return nil, err
	}
	if tb.pub, err = fetchKey(ctx, iss.URL()+"/keys"); err != nil {
		tb.close()
		return nil, err
	}
	return tb, nil
}

func (tb *tokenBench) close() { tb.srv.Close() }

// fetchKey reads the issuer's one RSA key from its key set.
func fetchKey(ctx context.Context, jwksURL string) (*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	if len(set.Keys) != 1 {
		return nil, fmt.Errorf("dev issuer has %d keys, want 1", len(set.Keys))
	}
	pub, ok := set.Keys[0].Key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("dev issuer key is %T, want RSA", set.Keys[0].Key)
	}
	return pub, nil
}

// verifyOp verifies the token completely: the figure measured.
func (tb *tokenBench) verifyOp(ctx context.Context) func() error {
	return func() error {
		_, err := tb.verifier.Verify(ctx, tb.token)
		return err
	}
}

// rawRSAOp is the anchor of verification: SHA-256 of the token's signing
// input and rsa.VerifyPKCS1v15 with the same key, nothing else.
func (tb *tokenBench) rawRSAOp() (func() error, error) {
	i := strings.LastIndexByte(tb.token, '.')
	input := tb.token[:i]
	sig, err := base64.RawURLEncoding.DecodeString(tb.token[i+1:])
	if err != nil {
		return nil, err
	}
	return func() error {
		sum := sha256.Sum256([]byte(input))
		return rsa.VerifyPKCS1v15(tb.pub, crypto.SHA256, sum[:], sig)
	}, nil
}

// exchangeOp is POST /v1/token on the gateway's handler in process:
// the form parsed, the token verified, the principal's rate limit, a
// session token signed, the JSON answer, metrics and the log line.
func (tb *tokenBench) exchangeOp(ctx context.Context) (func() error, error) {
	cfg := config.Default()
	cfg.Issuers = []config.Issuer{{Name: "dev", URL: tb.iss.URL(), Audiences: tb.iss.Audiences()}}
	cfg.Databases = map[string]string{"db": "projects/bench/instances/bench/databases/db"}
	cfg.Rules = []config.Rule{{Name: "dev", When: `claims.repository == "` + devoidc.GitHubRepository + `"`, Databases: []string{"db"}, Allow: spangate.Actions()}}
	cfg.SessionKeys = []config.SessionKey{{ID: "k1", Secret: base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}}
	cfg.Limits.RateLimit = 0 // one principal exchanges thousands of tokens a second here
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pol, err := policy.New(cfg)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.New(cfg, gateway.Deps{
		Verifier: tb.verifier, Policy: pol, Databases: noDatabases{},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: prometheus.NewRegistry(),
	})
	if err != nil {
		return nil, err
	}
	h := gw.Handler()
	form := url.Values{
		"grant_type":         {gateway.GrantTypeTokenExchange},
		"subject_token":      {tb.token},
		"subject_token_type": {gateway.TokenTypeIDToken},
	}.Encode()
	return func() error {
		// http.NewRequest, not httptest.NewRequest: the latter parses a
		// request line, which is not the gateway's work.
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/token", strings.NewReader(form))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return fmt.Errorf("token exchange: HTTP %d: %s", rec.Code, rec.Body)
		}
		return nil
	}, nil
}

// noDatabases is the gateway's Opener in the exchange benchmark: a token
// exchange opens no database, and if it ever did the benchmark fails.
type noDatabases struct{}

func (noDatabases) Open(context.Context, string) (gateway.Database, error) {
	return nil, spangate.Errorf(spangate.Internal, "the token exchange benchmark has no database")
}
