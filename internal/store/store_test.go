package store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open gives a migrated store in a schema of the test's own.
func open(t *testing.T, opt Options) *Store {
	t.Helper()
	s, _ := openURL(t, opt)
	return s
}

// openURL is open that also gives the database URL of the test's schema,
// for a second store or a plain connection on the same tables.
func openURL(t *testing.T, opt Options) (*Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	return openAt(t, url, opt), url
}

// openAt opens a migrated store on url, closed when the test ends.
func openAt(t *testing.T, url string, opt Options) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// connect gives a plain connection to url, closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// count runs a query that gives one number.
func count(t *testing.T, c *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// save saves msgs in one batch and fails the test on error.
func save(t *testing.T, s *Store, msgs ...Message) Saved {
	t.Helper()
	got, err := s.Save(context.Background(), Batch{Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// list gives the suppressions f selects.
func list(t *testing.T, s *Store, f SuppressionFilter) []Suppression {
	t.Helper()
	out := []Suppression{}
	err := s.Suppressions(context.Background(), f, func(x Suppression) error { out = append(out, x); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// addresses gives the addresses of a list of suppressions.
func addresses(xs []Suppression) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, x.Address)
	}
	return out
}

// suppression gives the suppression of addr, nil when there is none.
func suppression(t *testing.T, s *Store, addr string) *Suppression {
	t.Helper()
	h, err := s.History(context.Background(), addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h.Suppression
}

var base = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// day is base plus n days.
func day(n float64) time.Time { return base.Add(time.Duration(n * float64(24*time.Hour))) }

// bounce makes a message with one failed recipient, classified as cause.
func bounce(uid uint32, rcpt string, cause classify.Cause, sev classify.Severity, at time.Time) Message {
	return Message{
		Account: "acct", Mailbox: "INBOX", UIDValidity: 7, UID: uid,
		ReceivedAt: at,
		Raw:        []byte("raw " + rcpt + at.String()),
		Report: &dsn.Report{
			Kind: dsn.Bounce, Format: "rfc3464", MessageID: "notice-" + at.Format(time.RFC3339Nano) + "-" + rcpt,
			Recipients: []dsn.Recipient{{Recipient: rcpt, Action: dsn.Failed, Diagnostic: "550 no", ReplyCode: 550, LastAttempt: at}},
		},
		Results: []classify.Result{{Cause: cause, Severity: sev, Scope: cause.Scope(), Rule: "test"}},
	}
}

// delay makes a delay warning for one recipient, classified as cause.
func delay(uid uint32, rcpt string, cause classify.Cause, sev classify.Severity, at time.Time) Message {
	m := bounce(uid, rcpt, cause, sev, at)
	m.Raw = append(m.Raw, " delay"...)
	m.Report.Kind = dsn.Delay
	m.Report.MessageID = "delay-" + m.Report.MessageID
	m.Report.Recipients[0].Action = dsn.Delayed
	return m
}

// complaint makes a feedback report about rcpts.
func complaint(uid uint32, at time.Time, rcpts ...string) Message {
	return Message{
		Account: "acct", Mailbox: "INBOX", UIDValidity: 7, UID: uid,
		ReceivedAt: at,
		Raw:        []byte("complaint " + at.String()),
		Report: &dsn.Report{
			Kind: dsn.Complaint, Format: "arf", MessageID: "complaint-" + at.Format(time.RFC3339Nano),
			Feedback: &dsn.Feedback{Type: "abuse", OriginalRcptTo: rcpts, ArrivalDate: at},
		},
	}
}

func TestSmoke(t *testing.T) {
	t.Parallel()
	s := open(t, Options{KeepRaw: true})
	ctx := context.Background()
	b := Batch{Messages: []Message{
		bounce(1, "a@x.example", classify.BadAddress, classify.Hard, base),
		bounce(2, "b@x.example", classify.Blocklisted, classify.Hard, base),
	}}
	got, err := s.Save(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Saved{Messages: 2, Bounces: 2, Suppressed: 1}) {
		t.Errorf("first save %+v", got)
	}
	got, err = s.Save(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got != (Saved{Duplicates: 2}) {
		t.Errorf("second save %+v", got)
	}
	var list []Suppression
	if err := s.Suppressions(ctx, SuppressionFilter{}, func(x Suppression) error { list = append(list, x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Address != "a@x.example" || list[0].Reason != "bad_address" {
		t.Errorf("suppressions %+v", list)
	}
	h, err := s.History(ctx, "b@x.example", 0)
	if err != nil || len(h.Events) != 1 || h.Events[0].Cause != "blocklisted" || h.Suppression != nil {
		t.Errorf("history %+v %v", h, err)
	}
	st, err := s.Stats(ctx, ByCause, time.Time{}, time.Time{}, 0)
	if err != nil || len(st) != 2 {
		t.Errorf("stats %+v %v", st, err)
	}
	raws, err := s.RawMessages(ctx, time.Time{}, 0, 10)
	if err != nil || len(raws) != 2 || string(raws[0].Raw) != string(b.Messages[0].Raw) {
		t.Errorf("raw %v %v", len(raws), err)
	}
	c, err := s.Cleanup(ctx, Retention{RowsBefore: base.Add(time.Hour)})
	if err != nil || c.Messages != 2 || c.Bounces != 2 || c.Raw != 2 {
		t.Errorf("cleanup %+v %v", c, err)
	}
}
