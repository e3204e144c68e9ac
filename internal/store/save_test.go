package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// twoRecipients makes a notice with two failed recipients.
func twoRecipients(uid uint32, rcpt1, rcpt2 string) Message {
	m := bounce(uid, rcpt1, classify.BadAddress, classify.Hard, day(1))
	m.Raw = []byte("two " + rcpt1 + " " + rcpt2)
	m.Report.MessageID = "two-" + rcpt1 + "-" + rcpt2
	m.Report.Recipients = append(m.Report.Recipients,
		dsn.Recipient{Recipient: rcpt2, Action: dsn.Failed, Diagnostic: "552 full", ReplyCode: 552, LastAttempt: day(1)})
	m.Results = append(m.Results, classify.Result{Cause: classify.MailboxFull, Severity: classify.Soft, Rule: "test"})
	return m
}

func TestSaveTwice(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	c := connect(t, url)
	b := Batch{Messages: []Message{
		bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0)),
		bounce(2, "b@one.example", classify.Blocklisted, classify.Hard, day(0)),
		twoRecipients(3, "c@two.example", "d@two.example"),
	}}
	ctx := context.Background()
	got, err := s.Save(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Saved{Messages: 3, Bounces: 4, Suppressed: 2}); got != want {
		t.Errorf("first save %+v, want %+v", got, want)
	}
	got, err = s.Save(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Saved{Duplicates: 3}); got != want {
		t.Errorf("second save %+v, want %+v", got, want)
	}
	for table, want := range map[string]int{"message": 3, "bounce": 4, "message_raw": 3, "suppression": 2} {
		if n := count(t, c, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
	if n := count(t, c, `SELECT coalesce(sum(n), 0) FROM bounce_day`); n != 4 {
		t.Errorf("bounce_day counts %d, want 4", n)
	}
}

// The same notice read from two mailboxes (or twice under new UIDs) is
// kept as two messages and one set of recipient rows.
func TestSaveSameNoticeTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		together bool
	}{
		{"in two batches", false},
		{"in one batch", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, url := openURL(t, Options{})
			c := connect(t, url)
			first := twoRecipients(1, "a@one.example", "b@one.example")
			again := twoRecipients(9, "a@one.example", "b@one.example")
			again.Mailbox = "Archive"
			if tt.together {
				if got, want := save(t, s, first, again), (Saved{Messages: 2, Bounces: 2, Suppressed: 1}); got != want {
					t.Errorf("saved %+v, want %+v", got, want)
				}
			} else {
				if got, want := save(t, s, first), (Saved{Messages: 1, Bounces: 2, Suppressed: 1}); got != want {
					t.Errorf("first save %+v, want %+v", got, want)
				}
				if got, want := save(t, s, again), (Saved{Messages: 1}); got != want {
					t.Errorf("second save %+v, want %+v", got, want)
				}
			}
			if n := count(t, c, `SELECT count(*) FROM message`); n != 2 {
				t.Errorf("%d message rows, want 2", n)
			}
			if n := count(t, c, `SELECT count(*) FROM bounce`); n != 2 {
				t.Errorf("%d bounce rows, want 2", n)
			}
			if n := count(t, c, `SELECT count(DISTINCT recipient) FROM bounce`); n != 2 {
				t.Errorf("%d recipients, want 2", n)
			}
			if n := count(t, c, `SELECT coalesce(sum(n), 0) FROM bounce_day`); n != 2 {
				t.Errorf("bounce_day counts %d, want 2", n)
			}
		})
	}
}

func TestSaveImport(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	c := connect(t, url)
	imported := func(source, raw string) Message {
		m := bounce(0, "a@one.example", classify.BadAddress, classify.Hard, day(0))
		m.Account, m.Mailbox, m.UIDValidity, m.UID, m.Source = "", "import", 0, 0, source
		m.Raw = []byte(raw)
		m.Report.MessageID = "" // no Message-ID: only the digest tells copies apart
		return m
	}
	if got := save(t, s, imported("a.eml", "one")); got.Messages != 1 || got.Bounces != 1 {
		t.Errorf("first import %+v", got)
	}
	if got := save(t, s, imported("copy-of-a.eml", "one")); got != (Saved{Duplicates: 1}) {
		t.Errorf("same content again %+v, want one duplicate", got)
	}
	if got := save(t, s, imported("b.eml", "two"), imported("b2.eml", "two")); got.Messages != 1 || got.Duplicates != 1 {
		t.Errorf("other content twice in a batch %+v, want one new and one duplicate", got)
	}
	if n := count(t, c, `SELECT count(*) FROM message`); n != 2 {
		t.Errorf("%d message rows, want 2", n)
	}
	if n := count(t, c, `SELECT count(*) FROM message WHERE source = 'a.eml' AND uid = 0 AND mailbox = 'import'`); n != 1 {
		t.Errorf("the first import's row is not kept as it was")
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != 2 {
		t.Errorf("%d bounce rows, want 2", n)
	}
}

func TestSaveDuplicatesInBatch(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	c := connect(t, url)
	m1 := bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0))
	m2 := bounce(2, "b@one.example", classify.MailboxFull, classify.Soft, day(0))
	// The same UID read twice in one batch, the second time differently
	// (a retry after a partial fetch): the first one wins.
	m1b := m1
	m1b.Raw = []byte("truncated")
	got := save(t, s, m1, m2, m1, m1b)
	if want := (Saved{Messages: 2, Duplicates: 2, Bounces: 2, Suppressed: 1}); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	if n := count(t, c, `SELECT count(*) FROM message`); n != 2 {
		t.Errorf("%d message rows, want 2", n)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != 2 {
		t.Errorf("%d bounce rows, want 2", n)
	}
	raws, err := s.RawMessages(context.Background(), day(-1), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != 2 || string(raws[0].Raw) != string(m1.Raw) || string(raws[1].Raw) != string(m2.Raw) {
		t.Errorf("raw messages %+v, want the first copy of each", raws)
	}
}

func TestCheckpoint(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	if _, err := s.Checkpoint(ctx, "acct", "INBOX"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("checkpoint of an unread mailbox: %v, want ErrNotFound", err)
	}
	steps := []struct {
		name      string
		save      Checkpoint
		wantValid uint32
		wantLast  uint32
	}{
		{"first", Checkpoint{"acct", "INBOX", 7, 10, 0}, 7, 10},
		{"forward", Checkpoint{"acct", "INBOX", 7, 12, 0}, 7, 12},
		{"never backwards", Checkpoint{"acct", "INBOX", 7, 5, 0}, 7, 12},
		{"same", Checkpoint{"acct", "INBOX", 7, 12, 0}, 7, 12},
		{"new UIDVALIDITY resets", Checkpoint{"acct", "INBOX", 8, 3, 0}, 8, 3},
		{"then forward again", Checkpoint{"acct", "INBOX", 8, 4, 0}, 8, 4},
	}
	for i, st := range steps {
		m := bounce(uint32(100+i), "a@one.example", classify.Blocklisted, classify.Hard, day(float64(i)))
		if _, err := s.Save(ctx, Batch{Messages: []Message{m}, Checkpoint: &st.save}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Checkpoint(ctx, "acct", "INBOX")
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if want := (Checkpoint{"acct", "INBOX", st.wantValid, st.wantLast, 0}); got != want {
			t.Errorf("%s: checkpoint %+v, want %+v", st.name, got, want)
		}
	}
	// A checkpoint alone, for another mailbox of the account.
	if _, err := s.Save(ctx, Batch{Checkpoint: &Checkpoint{"acct", "Junk", 3, 40, 0}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checkpoint(ctx, "acct", "Junk"); err != nil || got != (Checkpoint{"acct", "Junk", 3, 40, 0}) {
		t.Errorf("Junk checkpoint %+v, %v", got, err)
	}
	if _, err := s.Checkpoint(ctx, "other", "INBOX"); !errors.Is(err, ErrNotFound) {
		t.Errorf("checkpoint of another account: %v, want ErrNotFound", err)
	}
	// The checkpoint is saved with its batch or not at all.
	bad := bounce(200, "a@one.example", classify.Blocklisted, classify.Hard, day(20))
	bad.Mailbox = ""
	if _, err := s.Save(ctx, Batch{Messages: []Message{bad}, Checkpoint: &Checkpoint{"acct", "INBOX", 8, 99, 0}}); err == nil {
		t.Fatal("a batch with a message without mailbox was saved")
	}
	if got, err := s.Checkpoint(ctx, "acct", "INBOX"); err != nil || got.LastUID != 4 {
		t.Errorf("after a failed batch the checkpoint is %+v, %v; want last UID 4", got, err)
	}
}

// A prepared batch can be saved again (a retry after an error), and one
// part of which is stored already writes only the rest, with the raw
// source and the recipient rows of the right messages.
func TestSavePrepared(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	c := connect(t, url)
	ctx := context.Background()
	m1 := bounce(1, "a@one.example", classify.BadAddress, classify.Hard, day(0))
	m2 := twoRecipients(2, "b@two.example", "c@two.example")
	m3 := bounce(3, "d@three.example", classify.Blocklisted, classify.Hard, day(0))
	if got := save(t, s, m2); got.Messages != 1 {
		t.Fatalf("saving the middle message first: %+v", got)
	}
	p, err := s.Prepare(Batch{Messages: []Message{m1, m2, m3}, Checkpoint: &Checkpoint{Account: "acct", Mailbox: "INBOX", UIDValidity: 7, LastUID: 3}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SavePrepared(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Saved{Messages: 2, Duplicates: 1, Bounces: 2, Suppressed: 1}); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	if got, err = s.SavePrepared(ctx, p); err != nil || got != (Saved{Duplicates: 3}) {
		t.Errorf("saved again: %+v, %v; want all duplicates", got, err)
	}
	// Every recipient row and raw source belongs to the message it came
	// from.
	rows, err := c.Query(ctx, `SELECT m.uid, b.recipient FROM bounce b JOIN message m ON m.id = b.message ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for rows.Next() {
		var uid int64
		var r string
		if err := rows.Scan(&uid, &r); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, fmt.Sprintf("%d:%s", uid, r))
	}
	if want := []string{"1:a@one.example", "2:b@two.example", "2:c@two.example", "3:d@three.example"}; !slices.Equal(pairs, want) {
		t.Errorf("rows %v, want %v", pairs, want)
	}
	raws, err := s.RawMessages(ctx, day(-1), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raws {
		var uid int64
		if err := c.QueryRow(ctx, `SELECT uid FROM message WHERE id = $1`, r.ID).Scan(&uid); err != nil {
			t.Fatal(err)
		}
		if want := []Message{m1, m2, m3}[uid-1].Raw; string(r.Raw) != string(want) {
			t.Errorf("raw of UID %d is %q, want %q", uid, r.Raw, want)
		}
	}
	if len(raws) != 3 {
		t.Errorf("%d raw messages, want 3", len(raws))
	}
	cp, err := s.Checkpoint(ctx, "acct", "INBOX")
	if err != nil || cp.LastUID != 3 {
		t.Errorf("checkpoint %+v, %v; want last UID 3", cp, err)
	}
}
