package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/pgtest"
	"github.com/bounced/bounced/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The tokens of the test servers.
const (
	readSecret  = "read-secret-0123456789"
	adminSecret = "admin-secret-0123456789"
)

// testNow is the test servers' clock: the seeded bounces lie in the 90
// days before it.
var testNow = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

// fixture is a test server over a seeded store of its own.
type fixture struct {
	store *store.Store
	srv   *Server
	http  *httptest.Server
	seed  []seedRow
	log   *strings.Builder
}

// newFixture starts a server over a migrated store in a schema of the
// test's own, seeded with seedRows (when seed is set).
func newFixture(t *testing.T, seed bool) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.URL(t), store.Options{KeepRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, log: &strings.Builder{}}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: f.log}, nil))
	f.srv, err = New(st, Config{
		Tokens: []Token{{Name: "reader", Role: Read, Secret: readSecret}, {Name: "boss", Role: Admin, Secret: adminSecret}},
		Now:    func() time.Time { return testNow },
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)
	if seed {
		f.seed = seedRows()
		var msgs []store.Message
		for i, r := range f.seed {
			msgs = append(msgs, r.message(uint32(i+1)))
		}
		if _, err := st.Save(ctx, store.Batch{Messages: msgs}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// lockedWriter lets the server's goroutines log to one builder.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// get sends a GET with the bearer token secret ("" for none).
func (f *fixture) get(t *testing.T, path, secret string) *http.Response {
	t.Helper()
	return f.do(t, http.MethodGet, path, secret, "", nil)
}

// do sends a request with the bearer token secret ("" for none) and a
// body of contentType.
func (f *fixture) do(t *testing.T, method, path, secret, contentType string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// seedRow is one seeded notice about one recipient: days before testNow,
// its kind, and for a bounce or delay its classification.
type seedRow struct {
	days     int
	rcpt     string
	kind     dsn.Kind
	cause    classify.Cause
	severity classify.Severity
	status   string
}

// at is when the row bounced.
func (r seedRow) at() time.Time {
	return testNow.Add(-time.Duration(r.days)*24*time.Hour - 3*time.Hour)
}

// domain is the recipient's domain.
func (r seedRow) domain() string { return r.rcpt[strings.LastIndexByte(r.rcpt, '@')+1:] }

// message makes the notice of r, with uid in mailbox acct/INBOX.
func (r seedRow) message(uid uint32) store.Message {
	at := r.at()
	orig := dsn.Original{MessageID: fmt.Sprintf("<campaign-%d@lists.example.org>", uid), From: "news@lists.example.org",
		To: r.rcpt, Subject: "November news", Headers: map[string]string{"X-Campaign-Id": fmt.Sprintf("c%d", uid%3)}}
	m := store.Message{
		Account: "acct", Mailbox: "INBOX", UIDValidity: 7, UID: uid, ReceivedAt: at,
		Raw: []byte(fmt.Sprintf("From: MAILER-DAEMON@mx.example\r\nSubject: failure %d\r\n\r\nabout %s\r\n", uid, r.rcpt)),
	}
	rep := &dsn.Report{Kind: r.kind, Format: "rfc3464", MessageID: fmt.Sprintf("<notice-%d@mx.example>", uid),
		Subject: fmt.Sprintf("failure %d", uid), Original: orig}
	switch r.kind {
	case dsn.Complaint:
		rep.Format = "arf"
		rep.Feedback = &dsn.Feedback{Type: "abuse", OriginalRcptTo: []string{r.rcpt}, ArrivalDate: at}
	default:
		st, _ := dsn.ParseStatus(r.status)
		action := dsn.Failed
		if r.kind == dsn.Delay {
			action = dsn.Delayed
		}
		rep.Recipients = []dsn.Recipient{{Recipient: r.rcpt, Action: action, Status: st, ReplyCode: 550,
			Diagnostic: "550 " + r.status + " " + string(r.cause) + " said the server", RemoteMTA: "mx." + r.domain(),
			LastAttempt: at}}
		m.Results = []classify.Result{{Cause: r.cause, Severity: r.severity, Scope: r.cause.Scope(), Rule: "test:" + string(r.cause)}}
	}
	m.Report = rep
	return m
}

// seedRows is the seeded data: bounces of every scope spread over the 90
// days before testNow, on a few domains, with complaints and delays.
func seedRows() []seedRow {
	var rows []seedRow
	add := func(days int, rcpt string, kind dsn.Kind, cause classify.Cause, sev classify.Severity, status string) {
		rows = append(rows, seedRow{days, rcpt, kind, cause, sev, status})
	}
	for i := range 12 {
		add(i*7, fmt.Sprintf("gone%d@alpha.example", i), dsn.Bounce, classify.BadAddress, classify.Hard, "5.1.1")
	}
	for i := range 5 {
		add(i*3+1, fmt.Sprintf("user%d@beta.example", i), dsn.Bounce, classify.BadAddress, classify.Hard, "5.1.1")
	}
	for i := range 3 {
		add(2+i*9, "full@beta.example", dsn.Bounce, classify.MailboxFull, classify.Soft, "4.2.2")
	}
	add(4, "nodomain@gamma.example", dsn.Bounce, classify.BadDomain, classify.Hard, "5.1.2")
	add(40, "closed@gamma.example", dsn.Bounce, classify.MailboxDisabled, classify.Hard, "5.2.1")
	for i := range 6 {
		add(i*12, fmt.Sprintf("fine%d@delta.example", i), dsn.Bounce, classify.Blocklisted, classify.Hard, "5.7.1")
	}
	for i := range 4 {
		add(i*20+5, fmt.Sprintf("fine%d@delta.example", i), dsn.Bounce, classify.AuthFailure, classify.Hard, "5.7.26")
	}
	for i := range 5 {
		add(i*15+3, fmt.Sprintf("busy%d@epsilon.example", i), dsn.Bounce, classify.RateLimited, classify.Soft, "4.7.0")
	}
	add(6, "big@alpha.example", dsn.Bounce, classify.Oversize, classify.Hard, "5.3.4")
	add(8, "later@beta.example", dsn.Delay, classify.MailboxFull, classify.Soft, "4.2.2")
	add(10, "angry@gamma.example", dsn.Complaint, "", "", "")
	add(95, "old@alpha.example", dsn.Bounce, classify.BadAddress, classify.Hard, "5.1.1") // before the 90 days
	return rows
}
