package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/pgserver"
	"github.com/bounced/bounced/internal/pgtest"
)

// checkDemo checks the demo's report against expect.jsonl: every bounce in
// Processed, the other notices in Other, the rest left in INBOX.
func checkDemo(t *testing.T, out string, kinds map[string]int) {
	t.Helper()
	total, other := 0, 0
	for k, n := range kinds {
		total += n
		if k != "bounce" && k != "not_bounce" {
			other += n
		}
	}
	for _, want := range []string{
		fmt.Sprintf("%d sample notices in INBOX", total),
		fmt.Sprintf("read %d messages", total),
		fmt.Sprintf("the mailbox now: INBOX %d Processed %d Other %d Unparseable 0", kinds["not_bounce"], kinds["bounce"], other),
		"failed recipients by cause:",
		"bounced suppressions --db",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's report lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`\((\d+) addresses in all\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no suppression count in:\n%s", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Errorf("%d suppressions, want the sample notices' bad addresses", n)
	}
}

func TestDemo(t *testing.T) {
	url := pgtest.URL(t)
	notices, _ := filepath.Abs(filepath.Join(noticesDir, "notices"))
	out, errOut, code := runCmd(t, "", "demo", "--db", url, "--notices", notices)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	_, kinds := expectations(t)
	checkDemo(t, out, kinds)
	// The tables are in schema bounced_demo of the database named.
	u, err := withSearchPath(url, "bounced_demo")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM bounced_demo.message").Scan(&n); err != nil || n == 0 {
		t.Errorf("bounced_demo.message holds %d rows, %v", n, err)
	}
	// A second run starts from an empty schema.
	out, _, code = runCmd(t, "", "demo", "--db", url, "--notices", notices)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	checkDemo(t, out, kinds)
}

// TestDemoThrowaway: with no database named and none on the usual port,
// the demo starts a throwaway cluster in .demo/.
func TestDemoThrowaway(t *testing.T) {
	if _, err := pgserver.BinDir(); err != nil {
		t.Skipf("the demo's throwaway cluster needs the PostgreSQL server binaries: %v", err)
	}
	t.Setenv("DATABASE_URL", "")
	t.Setenv("BOUNCED_DATABASE_URL", "")
	old := demoLocalURL
	demoLocalURL = "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1"
	t.Cleanup(func() { demoLocalURL = old })
	notices, _ := filepath.Abs(filepath.Join(noticesDir, "notices"))
	_, kinds := expectations(t)
	dir, err := os.MkdirTemp("", "bounced-demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the cluster's owner (postgres, when root) must reach it
	t.Chdir(dir)
	out, errOut, code := runCmd(t, "", "demo", "--notices", notices)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "starting a throwaway cluster in .demo/postgres") {
		t.Errorf("the demo did not say it started a cluster:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".demo", "postgres", "data", "PG_VERSION")); err != nil {
		t.Errorf("no cluster in .demo/postgres: %v\n%s", err, out)
	}
	checkDemo(t, out, kinds)
}

func TestCheckConfig(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw-Kx93q\n"), 0o600)
	path := writeConfig(t, `
[[account]]
name = "main"
address = "imap.example.org:993"
username = "bounces@example.org"
password_file = "`+pw+`"
mailboxes = ["INBOX", "Junk"]

[[account]]
name = "other"
address = "imap.example.net:143"
security = "starttls"
username = "b"

[[http.token]]
name = "ops"
role = "admin"
token = "tok-Zm31-0123456789"
`)
	t.Setenv("BOUNCED_ACCOUNT_OTHER_PASSWORD", "")
	t.Setenv(tokensEnv, "cron:read:cron-secret-0123456789")
	out, errOut, code := runCmd(t, "", "check-config", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"mailbox main/INBOX at imap.example.org:993 (tls, login login as bounces@example.org, password)",
		"mailbox main/Junk",
		"mailbox other/INBOX at imap.example.net:143 (starttls, login login as b, NO password (set BOUNCED_ACCOUNT_OTHER_PASSWORD or password_file))",
		"actions: bounce seen, other none, not_bounce none, unparseable none",
		"http: http://127.0.0.1:9108, tokens: ops (admin), cron (read)",
		"2 account(s), 3 mailbox(es)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"pw-Kx93q", "tok-Zm31", "cron-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("check-config shows a secret (%s):\n%s", secret, out)
		}
	}

	bad := writeConfig(t, "[[account]]\nname = \"a\"\naddress = \"h:1\"\nusername = \"u\"\nsecurity = \"plain\"\n")
	_, errOut, code = runCmd(t, "", "check-config", "--config", bad)
	if code != exitUsage || !strings.Contains(errOut, "allow_plaintext") {
		t.Errorf("a bad config: exit %d, %q", code, errOut)
	}
	missing := writeConfig(t, "[[account]]\nname = \"a\"\naddress = \"h:1\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n")
	_, errOut, code = runCmd(t, "", "check-config", "--config", missing)
	if code != exitUsage || !strings.Contains(errOut, "password_file") {
		t.Errorf("a missing password file: exit %d, %q", code, errOut)
	}
}

// TestDemoServe: `bounced demo --serve ADDR` serves the dashboard and the
// API over what it stored, with the token it prints, until interrupted.
func TestDemoServe(t *testing.T) {
	url := pgtest.URL(t)
	notices, _ := filepath.Abs(filepath.Join(noticesDir, "notices"))
	addr := freeAddr(t)
	var out syncBuffer
	cmd := exec.Command(bouncedBinary(t), "demo", "--db", url, "--notices", notices, "--serve", addr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	var token string
	re := regexp.MustCompile(`the dashboard: http://` + regexp.QuoteMeta(addr) + `/ \(log in with the token (\S+)\)`)
	waitUntil(t, 60*time.Second, "the dashboard's address and token", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			token = m[1]
		}
		return token != ""
	})
	base := "http://" + addr
	if code, body := getWith(base+"/api/v1/bounces?limit=3", token); code != 200 || strings.Count(body, `"recipient":`) != 3 {
		t.Errorf("the API with the demo's token: %d %.300s", code, body)
	}
	if code, body := getWith(base+"/", token); code != 200 || !strings.Contains(body, `id="daily"`) {
		t.Errorf("the dashboard with the demo's token: %d %.300s", code, body)
	}
	if code, _ := getWith(base+"/api/v1/bounces", ""); code != http.StatusUnauthorized {
		t.Errorf("the API without a token: %d, want 401", code)
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after an interrupt: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after an interrupt\n%s", out.String())
	}
}
