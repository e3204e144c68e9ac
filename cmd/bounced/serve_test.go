package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/pgtest"
	"github.com/bounced/bounced/internal/store"
)

// TestServe: `bounced serve`, the built binary, refuses a database whose
// schema is behind, serves the API and the dashboard over a migrated one
// to the tokens of the environment, only /healthz without one, and exits
// 0 on SIGTERM.
func TestServe(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	addr := freeAddr(t)
	cfg := writeConfig(t, "[log]\nlevel = \"info\"\n")
	serve := func() (*exec.Cmd, *syncBuffer) {
		var out syncBuffer
		cmd := exec.Command(bouncedBinary(t), "serve", "--config", cfg, "--db", url, "--listen", addr)
		cmd.Env = append(os.Environ(), tokensEnv+"=reader:read:serve-read-token-0123,boss:admin:serve-admin-token-012")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		return cmd, &out
	}

	// No tables yet: serve applies no migration, and says what to do.
	cmd, out := serve()
	if err := cmd.Wait(); err == nil || !strings.Contains(out.String(), "bounced migrate") {
		t.Fatalf("serve on an empty schema: %v, want an error saying to run bounced migrate\n%s", err, out.String())
	}

	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cmd, out = serve()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	base := "http://" + addr
	waitUntil(t, 15*time.Second, "/readyz", func() bool { code, _ := getWith(base+"/readyz", "serve-read-token-0123"); return code == 200 })
	if code, _ := getWith(base+"/healthz", ""); code != 200 {
		t.Errorf("/healthz without a token: %d", code)
	}
	for _, tc := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/api/v1/stats", "", http.StatusUnauthorized, `"code":"unauthorized"`},
		{"/api/v1/stats", "serve-read-token-wrong", http.StatusUnauthorized, `"code":"unauthorized"`},
		{"/api/v1/stats?by=cause", "serve-read-token-0123", 200, `"counts":[]`},
		{"/api/v1/suppressions/nobody@example.org", "serve-read-token-0123", 200, `"suppressed":false`},
		{"/api/v1/stats?by=week", "serve-read-token-0123", 400, `"code":"bad_parameter"`},
		{"/metrics", "serve-read-token-0123", 404, ""},
		{"/", "serve-admin-token-012", 200, "<svg"},
	} {
		if code, body := getWith(base+tc.path, tc.token); code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s (token %q): %d %.300s; want %d with %s", tc.path, tc.token, code, body, tc.code, tc.body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM\n%s", out.String())
	}
	if log := out.String(); strings.Contains(log, "serve-admin-token") || !strings.Contains(log, "bounced serve stopped") {
		t.Errorf("the log shows a token or lacks the stop:\n%s", log)
	}
}

// TestServeTLS: with http.tls_cert and http.tls_key, serve answers over
// HTTPS with that certificate.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf("[http]\nlisten = %q\ntls_cert = %q\ntls_key = %q\n", addr, certFile, keyFile))
	cmd := exec.Command(bouncedBinary(t), "serve", "--config", cfg, "--db", url)
	cmd.Env = append(os.Environ(), tokensEnv+"=reader:read:serve-read-token-0123")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	get := func(u string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer serve-read-token-0123")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUntil(t, 15*time.Second, "https /readyz", func() bool { code, _ := get("https://" + addr + "/readyz"); return code == 200 })
	if code, body := get("https://" + addr + "/api/v1/stats"); code != 200 || !strings.Contains(body, `"counts":[]`) {
		t.Errorf("the API over HTTPS: %d %.200s", code, body)
	}
	if code, _ := getWith("http://"+addr+"/healthz", ""); code == 200 {
		t.Error("plain HTTP answered on the HTTPS listener")
	}
	if !strings.Contains(out.String(), "url=https://"+addr+"/") {
		t.Errorf("the log does not give the https address:\n%s", out.String())
	}
}

// selfSigned makes a certificate for 127.0.0.1 and its key, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bounced test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
