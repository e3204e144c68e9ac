package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bounced/bounced/internal/dovecot"
	"github.com/bounced/bounced/internal/pgtest"
)

// These tests run the bounced binary as a service against a real Dovecot
// and kill it in the ways a machine does.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// bouncedBinary builds the command once per test run.
func bouncedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bounced-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "bounced")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// service is a database schema, a Dovecot user and a configuration for
// bounced run.
type service struct {
	t      *testing.T
	dc     *dovecot.Server
	user   string
	url    string
	db     *pgxpool.Pool
	config string
}

// newService configures an account for user; imapKeys go to the [imap]
// table; listen is http.listen ("" for none: tests run side by side).
func newService(t *testing.T, dc *dovecot.Server, user, imapKeys, listen string) *service {
	t.Helper()
	s := &service{t: t, dc: dc, user: user, url: pgtest.URL(t)}
	var err error
	if s.db, err = pgxpool.New(context.Background(), s.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.db.Close)
	s.config = writeConfig(t, fmt.Sprintf(`
[[account]]
name = %q
address = %q
security = "plain"
allow_plaintext = true
username = %q
password = %q

[imap]
reconnect_min = "50ms"
reconnect_max = "500ms"
lock_retry = "200ms"
%s

[actions]
bounce = "move:Processed"
other = "move:Other"
not_bounce = "move:Junk"
unparseable = "move:Bad"

[log]
level = "info"

[http]
listen = %q

[[http.token]]
name = "ops"
role = "admin"
token = %q
`, user, dc.Addr, user, dc.Password, imapKeys, listen, serviceToken))
	return s
}

// serviceToken is the bearer token of the services the tests start.
const serviceToken = "service-test-token-0123"

// start starts bounced run with args; its output goes to out.
func (s *service) start(out io.Writer, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(bouncedBinary(s.t), append([]string{"run", "--config", s.config, "--db", s.url}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	return cmd
}

func (s *service) count(sql string) int {
	s.t.Helper()
	var n int
	if err := s.db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return 0 // not migrated yet
		}
		s.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (s *service) folders() (inbox, moved int) {
	s.t.Helper()
	for _, f := range []string{"INBOX", "Processed", "Other", "Junk", "Bad"} {
		c, err := s.dc.Count(s.user, f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // a folder not yet made counts 0
			s.t.Fatal(err)
		}
		if f == "INBOX" {
			inbox = c.All
		} else {
			moved += c.All
		}
	}
	return inbox, moved
}

// uniqueNotices gives n sample notices, each made unique by a header.
func uniqueNotices(t *testing.T, n int) [][]byte {
	t.Helper()
	dir := filepath.Join(noticesDir, "notices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = append([]byte(fmt.Sprintf("X-Test-Seq: %d\r\n", i)), all[i%len(all)]...)
	}
	return out
}

// TestServiceKill kills bounced (SIGKILL) at random points while it drains
// a mailbox, and starts it again, until it finishes: every message is then
// stored exactly once, and at every point no message had left the mailbox
// without its rows.
func TestServiceKill(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	s := newService(t, dc, "kill", "batch_size = 20", "")
	const total = 2000
	if err := dc.Deliver(s.user, "INBOX", uniqueNotices(t, total)...); err != nil {
		t.Fatal(err)
	}
	var kills int
	for run := 0; ; run++ {
		if run == 100 {
			t.Fatalf("not drained after %d runs", run)
		}
		var out bytes.Buffer
		cmd := s.start(&out, "--drain")
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		killed := false
		select {
		case err = <-exited:
		// A random point of the run, later as runs go on, so that the
		// drain finishes however slow the start is on this machine (the
		// first kills often fall before the migrations are committed).
		case <-time.After(time.Duration(50+rand.IntN(400)+20*run) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-exited
			killed = true
			kills++
		}
		s.checkNoneLost(run, total, out.String())
		if !killed {
			if err != nil {
				t.Fatalf("run %d: %v\n%s", run, err, out.String())
			}
			break
		}
	}
	t.Logf("killed %d times", kills)
	if kills < 2 {
		t.Errorf("killed %d times only: the test proves little", kills)
	}
	if n := s.count(`SELECT count(*) FROM message`); n != total {
		t.Errorf("%d messages stored, want %d", n, total)
	}
	if n := s.count(`SELECT count(DISTINCT digest) FROM message`); n != total {
		t.Errorf("%d distinct messages stored, want %d", n, total)
	}
	if inbox, moved := s.folders(); inbox != 0 || moved < total {
		t.Errorf("INBOX %d, moved %d; want 0 and %d", inbox, moved, total)
	} else if moved > total {
		// A MOVE cut short by the kill may have copied messages that it
		// did not yet expunge; the next run moved them again.
		t.Logf("the folders hold %d copies of %d messages", moved, total)
	}
}

// checkNoneLost checks that every message is still in INBOX or was moved
// out after its row was committed: every file outside INBOX is a stored
// message (by digest), and every message sent is somewhere.
func (s *service) checkNoneLost(run, total int, out string) {
	s.t.Helper()
	for try := 0; ; try++ {
		n := s.checkMoved(run, out)
		if n == total {
			return
		}
		if try == 50 {
			s.t.Fatalf("after run %d: %d distinct messages in the mailbox, want %d\n%s", run, n, total, out)
		}
		s.t.Logf("after run %d: %d distinct messages in the mailbox, want %d: looking again", run, n, total)
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMoved checks that every message outside INBOX was stored, and
// counts the distinct messages found.
func (s *service) checkMoved(run int, out string) int {
	s.t.Helper()
	stored := map[[32]byte]bool{}
	rows, err := s.db.Query(context.Background(), `SELECT digest FROM message`)
	if err == nil {
		for rows.Next() {
			var d []byte
			if err := rows.Scan(&d); err != nil {
				s.t.Fatal(err)
			}
			stored[[32]byte(d)] = true
		}
		err = rows.Err()
	}
	if err != nil && !strings.Contains(err.Error(), "does not exist") {
		s.t.Fatal(err)
	}
	where := map[string]bool{}
	for _, f := range []string{"INBOX", "Processed", "Other", "Junk", "Bad"} {
		msgs, err := s.dc.Messages(s.user, f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.t.Fatal(err)
		}
		for _, m := range msgs {
			seq, _, _ := strings.Cut(string(m), "\r\n")
			where[seq] = true
			// Dovecot keeps a message as delivered and serves it with CRLF
			// line ends.
			crlf := bytes.ReplaceAll(bytes.ReplaceAll(m, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
			if f != "INBOX" && !stored[sha256.Sum256(m)] && !stored[sha256.Sum256(crlf)] {
				s.t.Fatalf("after run %d: a message (%s) was moved to %s without its row\n%s", run, seq, f, out)
			}
		}
	}
	return len(where)
}

// freeAddr gives a loopback address with a free port.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string) {
	return getWith(url, serviceToken)
}

// getWith is get with a bearer token ("" for none).
func getWith(url, token string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServiceSignalsAndHTTP: the service serves its metrics and health
// checks, and exits 0 on SIGTERM; its log never shows the password.
func TestServiceSignalsAndHTTP(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{Password: "pw-Zq81"})
	addr := freeAddr(t)
	s := newService(t, dc, "signals", "", addr)
	if err := dc.Deliver(s.user, "INBOX", uniqueNotices(t, 40)...); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := s.start(&out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitUntil(t, 30*time.Second, "the messages", func() bool { return s.count(`SELECT count(*) FROM message`) == 40 })
	if code, body := get("http://" + addr + "/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	waitUntil(t, 10*time.Second, "/readyz", func() bool { code, _ := get("http://" + addr + "/readyz"); return code == 200 })
	code, body := get("http://" + addr + "/metrics")
	if code != 200 || !strings.Contains(body, `bounced_messages_fetched_total{account="signals",mailbox="INBOX"} 40`) ||
		!strings.Contains(body, `bounced_mailbox_active{account="signals",mailbox="INBOX"} 1`) ||
		!strings.Contains(body, "bounced_batch_duration_seconds_count") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	// Only /healthz is open; the rest needs the token.
	for _, path := range []string{"/metrics", "/readyz", "/api/v1/stats"} {
		if code, body := getWith("http://"+addr+path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %.200s, want 401", path, code, body)
		}
	}
	if code, body := getWith("http://"+addr+"/", ""); code != 200 || !strings.Contains(body, "Log in") {
		t.Errorf("the dashboard without a token: %d %.200s, want the login page", code, body)
	}
	if code, _ := getWith("http://"+addr+"/metrics", "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d, want 401", code)
	}
	// The API and the dashboard over what the service stored: the mailbox
	// status it reports every few seconds, and the bounces.
	waitUntil(t, 15*time.Second, "the mailbox status", func() bool {
		_, body := get("http://" + addr + "/api/v1/mailboxes")
		return strings.Contains(body, `"processed":40`) && strings.Contains(body, `"active":true`)
	})
	if code, body := get("http://" + addr + "/api/v1/bounces?since=3650d&limit=5"); code != 200 || strings.Count(body, `"recipient":`) != 5 {
		t.Errorf("/api/v1/bounces: %d %.300s", code, body)
	}
	if code, body := get("http://" + addr + "/"); code != 200 || !strings.Contains(body, "<svg") {
		t.Errorf("the dashboard: %d %.300s", code, body)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 20s after SIGTERM\n%s", out.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	log := out.String()
	if strings.Contains(log, "pw-Zq81") {
		t.Errorf("the log shows the password:\n%s", log)
	}
	if !strings.Contains(log, "batch saved") || !strings.Contains(log, "bounced stopped") {
		t.Errorf("the log lacks the batch and stop lines:\n%s", log)
	}
}

// TestServiceTakeover: of two instances on one mailbox, one works it; when
// it is killed, the other takes over within seconds.
func TestServiceTakeover(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	addrs := []string{freeAddr(t), freeAddr(t)}
	s := newService(t, dc, "takeover", "", "")
	msgs := uniqueNotices(t, 21)
	if err := dc.Deliver(s.user, "INBOX", msgs[:20]...); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, 2)
	outs := make([]*syncBuffer, 2)
	for i := range cmds {
		outs[i] = new(syncBuffer)
		cfg := *s
		cfg.config = writeConfig(t, strings.Replace(mustRead(t, s.config), `listen = ""`, fmt.Sprintf("listen = %q", addrs[i]), 1))
		cmds[i] = cfg.start(outs[i])
		defer cmds[i].Process.Kill()
	}
	waitUntil(t, 30*time.Second, "the messages", func() bool { return s.count(`SELECT count(*) FROM message`) == 20 })
	active := -1
	waitUntil(t, 10*time.Second, "an active instance", func() bool {
		for i, a := range addrs {
			if _, body := get("http://" + a + "/metrics"); strings.Contains(body, `bounced_mailbox_active{account="takeover",mailbox="INBOX"} 1`) {
				active = i
				return true
			}
		}
		return false
	})
	other := 1 - active
	if _, body := get("http://" + addrs[other] + "/metrics"); !strings.Contains(body, `bounced_mailbox_active{account="takeover",mailbox="INBOX"} 0`) {
		t.Errorf("the other instance is not on standby:\n%s", body)
	}
	cmds[active].Process.Signal(syscall.SIGKILL)
	cmds[active].Wait()
	killed := time.Now()
	if err := dc.Deliver(s.user, "INBOX", msgs[20]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the standby instance to store the new message", func() bool {
		return s.count(`SELECT count(*) FROM message`) == 21
	})
	t.Logf("the standby stored the new message %v after the active one was killed", time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(outs[other].String(), "took the mailbox over") {
		t.Errorf("the standby's log does not say it took over:\n%s", outs[other].String())
	}
	cmds[other].Process.Signal(syscall.SIGTERM)
	cmds[other].Wait()
}

func mustRead(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServiceSecondSignal: SIGTERM waits for the batch in flight, which
// here is stuck on an IMAP server that stopped answering; a second SIGTERM
// exits at once. The next run stores everything, each message once.
func TestServiceSecondSignal(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	p := newStaller(t, dc.Addr)
	s := newService(t, dc, "twice", "batch_size = 20\nstop_timeout = \"60s\"\ntimeout = \"60s\"", "")
	const total = 300
	if err := dc.Deliver(s.user, "INBOX", uniqueNotices(t, total)...); err != nil {
		t.Fatal(err)
	}
	stalled := *s
	stalled.config = writeConfig(t, strings.Replace(mustRead(t, s.config), dc.Addr, p.addr, 1))
	var out syncBuffer
	cmd := stalled.start(&out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitUntil(t, 30*time.Second, "a first batch", func() bool { return s.count(`SELECT count(*) FROM message`) > 0 })
	p.stall()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		t.Fatalf("exited (%v) on the first signal with a batch stuck in flight\n%s", err, out.String())
	case <-time.After(time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != -1 {
			t.Errorf("exit after the second signal: %v, want killed by the signal", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 5s after the second signal\n%s", out.String())
	}
	s.checkNoneLost(0, total, out.String())
	var rest bytes.Buffer
	if err := s.start(&rest, "--drain").Wait(); err != nil {
		t.Fatalf("the next run: %v\n%s", err, rest.String())
	}
	s.checkNoneLost(1, total, rest.String())
	if n := s.count(`SELECT count(*) FROM message`); n != total {
		t.Errorf("%d stored, want %d", n, total)
	}
}

// staller is a TCP proxy whose server side can be made to stop answering.
type staller struct {
	addr    string
	mu      sync.Mutex
	stalled bool
}

func newStaller(t *testing.T, target string) *staller {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &staller{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				conn.Close()
				continue
			}
			go func() { io.Copy(up, conn); up.Close() }()
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				for {
					n, err := up.Read(buf)
					for p.isStalled() {
						time.Sleep(10 * time.Millisecond)
					}
					if n > 0 {
						conn.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *staller) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

func (p *staller) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// TestServiceStopTimeout: with a batch stuck on a silent IMAP server,
// SIGTERM still ends the process, with status 0, once imap.stop_timeout
// has passed.
func TestServiceStopTimeout(t *testing.T) {
	t.Parallel()
	dc := dovecot.ForTest(t, dovecot.Options{})
	p := newStaller(t, dc.Addr)
	s := newService(t, dc, "stoptimeout", "batch_size = 20\nstop_timeout = \"1s\"", "")
	if err := dc.Deliver(s.user, "INBOX", uniqueNotices(t, 300)...); err != nil {
		t.Fatal(err)
	}
	s.config = writeConfig(t, strings.Replace(mustRead(t, s.config), dc.Addr, p.addr, 1))
	var out syncBuffer
	cmd := s.start(&out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitUntil(t, 30*time.Second, "a first batch", func() bool { return s.count(`SELECT count(*) FROM message`) > 0 })
	p.stall()
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v, want status 0\n%s", err, out.String())
		}
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("exited %v after SIGTERM, before the stop timeout, with a batch stuck", took)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 15s after SIGTERM with stop_timeout 1s\n%s", out.String())
	}
}

// TestServiceDatabaseDownAtStart: with no database yet, the service waits
// for it, answers /healthz and says why it is not ready, and stops on
// SIGTERM.
func TestServiceDatabaseDownAtStart(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	config := writeConfig(t, fmt.Sprintf(`
[[account]]
name = "a"
address = "127.0.0.1:1"
username = "u"
password = "p"

[imap]
reconnect_min = "50ms"
reconnect_max = "200ms"

[http]
listen = %q
`, addr))
	var out syncBuffer
	cmd := exec.Command(bouncedBinary(t), "run", "--config", config, "--db", "postgres://postgres@127.0.0.1:1/none?connect_timeout=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitUntil(t, 10*time.Second, "/healthz", func() bool { code, _ := get("http://" + addr + "/healthz"); return code == 200 })
	if code, body := get("http://" + addr + "/readyz"); code != 503 || !strings.Contains(body, "waiting for the database") {
		t.Errorf("/readyz: %d %q, want 503 saying it waits for the database", code, body)
	}
	waitUntil(t, 10*time.Second, "a retry in the log", func() bool {
		return strings.Count(out.String(), "database unavailable: will try again") >= 2
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running after SIGTERM\n%s", out.String())
	}
}
