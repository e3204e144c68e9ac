package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
	"github.com/bounced/bounced/internal/pgtest"
	"github.com/bounced/bounced/internal/policy"
)

// A constraint violation says which column and which constraint.
func TestDBErrorConstraints(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	save(t, s, bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)))
	c := connect(t, url)
	id := count(t, c, `SELECT id FROM message`)
	ctx := context.Background()

	tests := []struct {
		name string
		// the values of position, kind, recipient, cause, severity, status
		pos                int
		kind               string
		rcpt               *string
		cause, sev, status *string
		want               []string
		wantNot            string
	}{
		{"cause", 5, "bounce", str("x@y"), str("nonsense"), str("hard"), nil,
			[]string{"inserting a bounce: ", "column cause", "constraint bounce_cause_check", "table bounce"}, ""},
		{"severity", 5, "bounce", str("x@y"), str("bad_address"), str("medium"), nil,
			[]string{"column severity", "constraint bounce_severity_check"}, ""},
		{"status", 5, "bounce", str("x@y"), str("bad_address"), str("hard"), str("5.1"),
			[]string{"column status", "constraint bounce_status_check"}, ""},
		{"kind", 5, "bounced", str("x@y"), str("bad_address"), str("hard"), nil,
			[]string{"column kind", "constraint bounce_kind_check"}, ""},
		{"rule across columns", 5, "complaint", str("x@y"), str("bad_address"), str("hard"), nil,
			[]string{"constraint bounce_complaint_has_no_cause", "table bounce"}, "column"},
		{"not null", 5, "bounce", nil, str("bad_address"), str("hard"), nil,
			[]string{"column recipient of table bounce needs a value"}, ""},
		{"unique", 0, "bounce", str("x@y"), str("bad_address"), str("hard"), nil,
			[]string{"already stored", "bounce_pkey"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Exec(ctx, `INSERT INTO bounce (message, position, kind, recipient, domain, action, cause, severity,
				status, scope, rule, bounced_at) VALUES ($1, $2, $3, $4, 'y', 'failed', $5, $6, $7, 'recipient', 'r', now())`,
				id, tt.pos, tt.kind, tt.rcpt, tt.cause, tt.sev, tt.status)
			if err == nil {
				t.Fatal("the insert succeeded")
			}
			err = dbError("inserting a bounce", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tt.wantNot != "" && strings.Contains(err.Error(), tt.wantNot) {
				t.Errorf("error %q says %q", err, tt.wantNot)
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				t.Errorf("error %q does not wrap the driver's", err)
			}
		})
	}

	if err := dbError("reading", nil); err != nil {
		t.Errorf("dbError(nil) = %v", err)
	}
	_, err := c.Exec(ctx, `SELECT * FROM no_such_table`)
	if err = dbError("reading", err); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "bounced migrate") {
		t.Errorf("a missing table gives %v, want ErrSchema", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Checkpoint(cctx, "acct", "INBOX"); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("a cancelled read gives %v", err)
	}
}

func str(s string) *string { return &s }

func TestSaveWithoutMailbox(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	good := bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0))
	bad := bounce(2, "b@one.example", classify.BadAddress, classify.Hard, day(0))
	bad.Mailbox = ""
	_, err := s.Save(context.Background(), Batch{Messages: []Message{good, bad}})
	if err == nil || !strings.Contains(err.Error(), "message 1 has no mailbox") {
		t.Errorf("saving a message without mailbox: %v", err)
	}
	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM message`); n != 0 {
		t.Errorf("%d messages of a failed batch saved", n)
	}
}

// Text from the message is stored without the bytes PostgreSQL refuses:
// NUL and invalid UTF-8.
func TestSaveCleansText(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	m := bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0))
	m.Report.Subject = "Undeliver\x00able: \xc3("
	m.Report.From = "MAILER-DAEMON\x00@mx.example"
	m.Report.MessageID = "notice\x00-1@mx.example"
	rc := &m.Report.Recipients[0]
	rc.Diagnostic = "550 user\x00 unknown \xff\xfe"
	rc.RemoteMTA = "mx\xff.one.example"
	rc.Command = "RCPT\x00"
	m.Report.Original = dsn.Original{
		MessageID: "orig\x00@list.example", Subject: "News \xff", To: "a@one.example",
		Headers: map[string]string{"X-Campaign-ID": "spring\x00", "X-Bad\x00Key": "v"},
	}
	m.ParseErr = errors.New("broken\x00 part \xff")
	cp := complaint(2, day(0), "b@one.example")
	cp.Report.Feedback.Type = "Abuse\x00\xff"
	if got := save(t, s, m, cp); got.Messages != 2 || got.Bounces != 2 {
		t.Fatalf("saved %+v", got)
	}
	h, err := s.History(context.Background(), "a@one.example", 0)
	if err != nil || len(h.Events) != 1 {
		t.Fatalf("history %+v, %v", h, err)
	}
	e := h.Events[0]
	if e.Diagnostic != "550 user unknown \uFFFD" || e.RemoteMTA != "mx\uFFFD.one.example" || e.NoticeID != "notice-1@mx.example" ||
		e.OriginalMessageID != "orig@list.example" || e.Original["subject"] != "News \uFFFD" {
		t.Errorf("event %+v", e)
	}
	if hs, _ := e.Original["headers"].(map[string]any); hs["X-Campaign-ID"] != "spring" || hs["X-BadKey"] != "v" {
		t.Errorf("headers %#v", e.Original["headers"])
	}
	c := connect(t, url)
	var subject, sender, parseErr, command, feedback string
	if err := c.QueryRow(context.Background(), `SELECT m.subject, m.sender, m.parse_error, b.command
		FROM message m JOIN bounce b ON b.message = m.id WHERE m.uid = 1`).Scan(&subject, &sender, &parseErr, &command); err != nil {
		t.Fatal(err)
	}
	if subject != "Undeliverable: \uFFFD(" || sender != "MAILER-DAEMON@mx.example" || parseErr != "broken part \uFFFD" || command != "RCPT" {
		t.Errorf("stored subject %q, sender %q, parse error %q, command %q", subject, sender, parseErr, command)
	}
	if err := c.QueryRow(context.Background(), `SELECT feedback_type FROM bounce WHERE kind = 'complaint'`).Scan(&feedback); err != nil {
		t.Fatal(err)
	}
	if feedback != "abuse\uFFFD" {
		t.Errorf("feedback type %q", feedback)
	}
}

// What the notice does not give is NULL, not a zero value; and values the
// columns cannot hold are dropped rather than failing the batch.
func TestSaveNulls(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	none := bounce(1, "none@one.example", classify.BadAddress, classify.Hard, day(0))
	none.Report.Recipients[0].ReplyCode = 0
	none.Report.Recipients[0].Diagnostic = ""
	full := bounce(2, "full@one.example", classify.BadAddress, classify.Hard, day(0))
	rc := &full.Report.Recipients[0]
	rc.Status, rc.OriginalRecipient, rc.RemoteMTA, rc.Command = dsn.Status{Class: 5, Subject: 1, Detail: 1}, "rfc822;full@one.example", "mx.one.example", "RCPT"
	odd := bounce(3, "odd@one.example", classify.BadAddress, classify.Hard, day(0))
	odd.Report.Recipients[0].Status = dsn.Status{Class: 3, Subject: 1000, Detail: 1}
	odd.Report.Recipients[0].ReplyCode = 999
	if got := save(t, s, none, full, odd); got.Bounces != 3 {
		t.Fatalf("saved %+v", got)
	}
	c := connect(t, url)
	tests := []struct {
		rcpt, query string
	}{
		{"none@one.example", `status IS NULL AND reply_code IS NULL AND diagnostic = '' AND original_recipient IS NULL
			AND remote_mta IS NULL AND command IS NULL AND feedback_type IS NULL`},
		{"full@one.example", `status = '5.1.1' AND reply_code = 550 AND original_recipient = 'rfc822;full@one.example'
			AND remote_mta = 'mx.one.example' AND command = 'RCPT'`},
		{"odd@one.example", `status IS NULL AND reply_code IS NULL`},
	}
	for _, tt := range tests {
		if n := count(t, c, `SELECT count(*) FROM bounce WHERE recipient = $1 AND `+tt.query, tt.rcpt); n != 1 {
			t.Errorf("%s: the row does not match %s", tt.rcpt, tt.query)
		}
	}
	if n := count(t, c, `SELECT count(*) FROM message WHERE source IS NULL AND parse_error IS NULL
		AND original_message_id IS NULL AND original = '{}'`); n != 3 {
		t.Errorf("%d messages with NULL source, parse error and original id, want 3", n)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	tests := []struct {
		name string
		url  string
		opt  Options
		want string
	}{
		{"bad url", "postgres://%zz", Options{}, "database url"},
		{"nothing listening", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", Options{}, "the database is unreachable"},
		{"sender cause in the policy", url, Options{Policy: policy.Policy{policy.Reason(classify.Blocklisted): {Count: 1}}},
			"suppression policy: blocklisted: a cause of sender scope never suppresses an address"},
		{"span without count", url, Options{Policy: policy.Policy{policy.Reason(classify.MailboxFull): {Count: 1, Span: time.Hour}}},
			"suppression policy: mailbox_full: a span needs a count of at least 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, tt.opt)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
