package store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open gives a migrated store in a schema of the test's own.
func open(t *testing.T, opt Options) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

var base = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

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
