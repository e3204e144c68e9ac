package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
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
