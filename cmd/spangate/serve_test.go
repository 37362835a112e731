package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/devoidc"
	"github.com/spangate/spangate/internal/emulator/emulatortest"
	"github.com/spangate/spangate/internal/gateway"
)

// TestServe runs `spangate serve` on the emulator, over plain HTTP and
// over TLS: it answers /readyz, exchanges a dev token, runs a statement,
// and stops cleanly when its context is cancelled (as on SIGTERM).
func TestServe(t *testing.T) {
	host := emulatortest.StartDedicated(t)
	db := emulatortest.NewDatabaseOn(t, host, "CREATE TABLE T (Id INT64 NOT NULL) PRIMARY KEY (Id)")
	mux := http.NewServeMux()
	oidc := httptest.NewServer(mux)
	t.Cleanup(oidc.Close)
	iss, err := devoidc.New(oidc.URL+"/dev/oidc", devoidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(iss.MountPath(), iss.Handler())

	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			dir := t.TempDir()
			cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
issuers:
  - name: dev
    url: %s
    audiences: [%q]
databases:
  app: %s
rules:
  - name: all
    when: issuer == "dev"
    databases: [app]
    allow: [read, write]
session_keys:
  - id: k1
    secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
`, iss.URL(), iss.DefaultAudience(spangate.ProviderGitHub), db)
			hc := http.DefaultClient
			scheme := "http"
			if useTLS {
				cert, key, pool := selfSigned(t, dir)
				cfg += fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n", cert, key)
				hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				scheme = "https"
			}
			path := filepath.Join(dir, "spangate.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}

			logs := &lockedBuffer{}
			env := map[string]string{envEmulatorHost: host, envConfig: path}
			a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), io.Discard, io.Discard)
			a.logger = slog.New(slog.NewJSONHandler(logs, nil))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			cmd := a.serveCommand()
			cmd.SetArgs(nil)
			go func() { done <- cmd.ExecuteContext(ctx) }()

			addr := waitListening(t, logs, done)
			base := scheme + "://" + addr
			// /readyz and /metrics are served on the admin listener only.
			resp, err := http.Get("http://" + logged(t, logs, "admin listener (metrics, readiness)") + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("readyz: %d", resp.StatusCode)
			}
			for _, p := range []string{"/readyz", "/metrics"} {
				resp, err = hc.Get(base + p)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 404 {
					t.Errorf("public %s: %d, want 404", p, resp.StatusCode)
				}
			}
			tok, err := iss.Mint(spangate.ProviderGitHub, nil, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			resp, err = hc.PostForm(base+"/v1/token", url.Values{
				"grant_type": {gateway.GrantTypeTokenExchange}, "subject_token": {tok}, "subject_token_type": {gateway.TokenTypeIDToken},
			})
			if err != nil {
				t.Fatal(err)
			}
			var tr gateway.TokenResponse
			json.NewDecoder(resp.Body).Decode(&tr)
			resp.Body.Close()
			req, _ := http.NewRequest("POST", base+"/v1/databases/app:exec", strings.NewReader(`{"sql":"INSERT INTO T (Id) VALUES (@id)","params":{"id":1}}`))
			req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
			resp, err = hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("exec: %d %s", resp.StatusCode, body)
			}
			if _, err := deleteRow(t, hc, base, tr.AccessToken); err != nil {
				t.Fatal(err)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop")
			}
			if !strings.Contains(logs.String(), "gateway stopped") {
				t.Errorf("logs:\n%s", logs)
			}
		})
	}
}

// deleteRow removes the row the test inserted, so the next
// subtest can insert it again.
func deleteRow(t *testing.T, hc *http.Client, base, token string) (int, error) {
	req, _ := http.NewRequest("POST", base+"/v1/databases/app:exec", strings.NewReader(`{"sql":"DELETE FROM T WHERE Id = 1"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, fmt.Errorf("delete: %d", resp.StatusCode)
	}
	return 200, nil
}

// waitListening returns the address the gateway logged it listens on.
func waitListening(t *testing.T, logs *lockedBuffer, done chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "gateway listening" {
				return m["addr"].(string)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", logs)
	return ""
}

// logged returns the addr of the first log line with message msg.
func logged(t *testing.T, logs *lockedBuffer, msg string) string {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m["addr"].(string)
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spangate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeNeedsConfig(t *testing.T) {
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), io.Discard, io.Discard)
	cmd := a.serveCommand()
	cmd.SetArgs(nil)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(t.Context())
	if exitCode(err) != exitInvalid {
		t.Fatalf("serve without a config: %v (exit %d)", err, exitCode(err))
	}
}
