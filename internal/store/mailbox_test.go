package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

func TestActedAndOutcomes(t *testing.T) {
	t.Parallel()
	s := open(t, Options{})
	ctx := context.Background()
	b := bounce(3, "a@one.example", classify.BadAddress, classify.Hard, day(1))
	other := bounce(5, "b@one.example", classify.BadAddress, classify.Hard, day(1))
	other.Report.Kind = dsn.NotBounce
	other.Report.Recipients, other.Results = nil, nil
	damaged := bounce(9, "c@one.example", classify.BadAddress, classify.Hard, day(1))
	damaged.ParseErr = errors.New("truncated")
	cp := Checkpoint{Account: "acct", Mailbox: "INBOX", UIDValidity: 7, LastUID: 9, ActedUID: 0}
	if _, err := s.Save(ctx, Batch{Messages: []Message{b, other, damaged}, Checkpoint: &cp}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Checkpoint(ctx, "acct", "INBOX")
	if err != nil || got.LastUID != 9 || got.ActedUID != 0 {
		t.Fatalf("checkpoint %+v, %v; want last 9, acted 0", got, err)
	}
	out, err := s.Outcomes(ctx, "acct", "INBOX", 7, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{{5, dsn.NotBounce, "", 0}, {9, dsn.Bounce, "truncated", 1}}
	if len(out) != len(want) || out[0] != want[0] || out[1] != want[1] {
		t.Errorf("outcomes in (3, 9]: %+v, want %+v", out, want)
	}
	if out, _ := s.Outcomes(ctx, "acct", "INBOX", 8, 0, 9); len(out) != 0 {
		t.Errorf("outcomes under another UIDVALIDITY: %+v", out)
	}
	for _, step := range []struct {
		validity, uid, want uint32
	}{{7, 5, 5}, {7, 4, 5}, {8, 9, 5}, {7, 9, 9}} {
		if err := s.SaveActed(ctx, "acct", "INBOX", step.validity, step.uid); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Checkpoint(ctx, "acct", "INBOX"); got.ActedUID != step.want {
			t.Errorf("after SaveActed(%d, %d): acted %d, want %d", step.validity, step.uid, got.ActedUID, step.want)
		}
	}
	// A later batch saved with ActedUID 0 keeps it.
	cp = Checkpoint{Account: "acct", Mailbox: "INBOX", UIDValidity: 7, LastUID: 12}
	if _, err := s.Save(ctx, Batch{Checkpoint: &cp}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Checkpoint(ctx, "acct", "INBOX"); got.LastUID != 12 || got.ActedUID != 9 {
		t.Errorf("checkpoint %+v, want last 12 acted 9", got)
	}
}

func TestMailboxLock(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	other := openAt(t, url, Options{})
	ctx := context.Background()
	l, err := s.TryLockMailbox(ctx, "acct", "INBOX")
	if err != nil || l == nil {
		t.Fatalf("first lock: %v, %v", l, err)
	}
	if l2, err := other.TryLockMailbox(ctx, "acct", "INBOX"); err != nil || l2 != nil {
		t.Fatalf("second instance took a held lock: %v, %v", l2, err)
	}
	l3, err := other.TryLockMailbox(ctx, "acct", "Junk")
	if err != nil || l3 == nil {
		t.Fatalf("lock of another mailbox: %v, %v", l3, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := other.TryLockMailbox(ctx, "acct", "INBOX")
	if err != nil || l2 == nil {
		t.Fatalf("lock after release: %v, %v", l2, err)
	}
	// The holder's connection dies: the lock is lost on both sides.
	if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
		AND objid = (`+lockHash+` & 4294967295)::text::oid`, lockKey("acct", "INBOX")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l2.Lost():
	case <-time.After(4 * lockCheckEvery):
		t.Fatal("a lock whose connection was killed was not reported lost")
	}
	l4, err := s.TryLockMailbox(ctx, "acct", "INBOX")
	if err != nil || l4 == nil {
		t.Fatalf("lock after the holder died: %v, %v", l4, err)
	}
	l4.Release(ctx)
	l3.Release(ctx)
}
