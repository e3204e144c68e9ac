package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
)

// tenDays saves one message a day for ten days, from day 0: a bad_address
// for the even days, a blocklisted for the odd ones.
func tenDays(t *testing.T, s *Store) {
	t.Helper()
	var msgs []Message
	for i := range 10 {
		cause := classify.BadAddress
		if i%2 == 1 {
			cause = classify.Blocklisted
		}
		msgs = append(msgs, bounce(uint32(i+1), fmt.Sprintf("r%d@one.example", i), cause, classify.Hard, day(float64(i))))
	}
	save(t, s, msgs...)
}

func statsBy(t *testing.T, s *Store, by StatsBy) []Count {
	t.Helper()
	st, err := s.Stats(context.Background(), by, time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCleanupRaw(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	tenDays(t, s)
	ctx := context.Background()
	got, err := s.Cleanup(ctx, Retention{RawBefore: day(5), BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got.Raw != 5 || got.Messages != 0 || got.Bounces != 0 {
		t.Errorf("cleaned %+v, want 5 raw", got)
	}
	c := connect(t, url)
	for table, want := range map[string]int{"message": 10, "bounce": 10, "message_raw": 5, "suppression": 5} {
		if n := count(t, c, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
	raws, err := s.RawMessages(ctx, time.Time{}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != 5 || !raws[0].ReceivedAt.Equal(day(5)) {
		t.Errorf("%d raw messages left, the first received %v; want 5 from day 5", len(raws), raws[0].ReceivedAt)
	}
	// Again: nothing left to do.
	if got, err := s.Cleanup(ctx, Retention{RawBefore: day(5)}); err != nil || got.Raw != 0 {
		t.Errorf("second cleanup %+v, %v", got, err)
	}
}

func TestCleanupRows(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true})
	tenDays(t, s)
	ctx := context.Background()
	c := connect(t, url)
	suppressed := list(t, s, SuppressionFilter{})
	byDay, byCause := statsBy(t, s, ByDay), statsBy(t, s, ByCause)
	if len(suppressed) != 5 || len(byDay) != 10 || len(byCause) != 2 {
		t.Fatalf("before cleanup: %d suppressions, %d days, %d causes", len(suppressed), len(byDay), len(byCause))
	}

	// Dry: counts, deletes nothing.
	dry, err := s.Cleanup(ctx, Retention{RowsBefore: day(4), RawBefore: day(6), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Messages != 4 || dry.Bounces != 4 || dry.Raw != 6 {
		t.Errorf("dry run %+v, want 4 messages, 4 bounces, 6 raw", dry)
	}
	for table, want := range map[string]int{"message": 10, "bounce": 10, "message_raw": 10} {
		if n := count(t, c, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("after a dry run, %d rows in %s, want %d", n, table, want)
		}
	}

	got, err := s.Cleanup(ctx, Retention{RowsBefore: day(4), BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got.Messages != 4 || got.Bounces != 4 || got.Raw != 4 || got.Batches < 2 {
		t.Errorf("cleaned %+v, want 4 messages, bounces and raw in at least 2 batches", got)
	}
	for table, want := range map[string]int{"message": 6, "bounce": 6, "message_raw": 6} {
		if n := count(t, c, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
	if n := count(t, c, `SELECT count(*) FROM message WHERE received_at < $1`, day(4)); n != 0 {
		t.Errorf("%d old messages left", n)
	}
	if after := list(t, s, SuppressionFilter{}); !reflect.DeepEqual(addresses(after), addresses(suppressed)) {
		t.Errorf("suppressions after cleanup %q, want %q", addresses(after), addresses(suppressed))
	}
	if after := statsBy(t, s, ByDay); !reflect.DeepEqual(after, byDay) {
		t.Errorf("stats by day after cleanup\n%+v, want\n%+v", after, byDay)
	}
	if after := statsBy(t, s, ByCause); !reflect.DeepEqual(after, byCause) {
		t.Errorf("stats by cause after cleanup\n%+v, want\n%+v", after, byCause)
	}
	// A rebuild keeps the suppressions whose bounces retention deleted.
	if err := s.RebuildSuppressions(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if after := list(t, s, SuppressionFilter{}); !reflect.DeepEqual(addresses(after), addresses(suppressed)) {
		t.Errorf("suppressions after cleanup and rebuild %q, want %q", addresses(after), addresses(suppressed))
	}
}

// A suppression resting on several bounces, some deleted by retention,
// survives a rebuild for a change of policy elsewhere.
func TestCleanupPartialEvidence(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{})
	ctx := context.Background()
	addr := "full@one.example"
	for i, d := range []float64{0, 4, 8} {
		save(t, s, bounce(uint32(i+1), addr, classify.MailboxFull, classify.Soft, day(d)))
	}
	if _, err := s.ApplyPolicy(ctx); err != nil {
		t.Fatal(err)
	}
	if suppression(t, s, addr) == nil {
		t.Fatal("not suppressed")
	}
	if got, err := s.Cleanup(ctx, Retention{RowsBefore: day(5)}); err != nil || got.Messages != 2 {
		t.Fatalf("cleanup %+v, %v", got, err)
	}
	p := policy.Default()
	p[policy.Complaint] = policy.Rule{Count: 2}
	s2 := openAt(t, url, Options{Policy: p})
	if rebuilt, err := s2.ApplyPolicy(ctx); err != nil || !rebuilt {
		t.Fatalf("ApplyPolicy %v, %v", rebuilt, err)
	}
	if x := suppression(t, s2, addr); x == nil || x.Reason != "mailbox_full" || !x.SuppressedAt.Equal(day(8)) {
		t.Errorf("after cleanup and a rebuild: %+v, want still suppressed since day 8", x)
	}
}

// Cleanup deletes old messages in small transactions while new batches
// keep arriving: every new message stays, once, and every old one goes.
func TestCleanupConcurrentWrites(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{KeepRaw: true, MaxConns: 8})
	ctx := context.Background()
	const old, batch = 3000, 250
	for i := 0; i < old; i += batch {
		var msgs []Message
		for j := i; j < i+batch; j++ {
			msgs = append(msgs, bounce(uint32(j+1), fmt.Sprintf("r%d@old.example", j%400), classify.BadAddress, classify.Hard,
				day(-100).Add(time.Duration(j)*time.Minute)))
		}
		save(t, s, msgs...)
	}

	var (
		wg      sync.WaitGroup
		done    = make(chan struct{})
		saveErr error
		newUIDs int
	)
	wg.Go(func() {
		uid := uint32(100000)
		for n := 0; ; n++ {
			select {
			case <-done:
				if n >= 5 {
					return
				}
			default:
			}
			var msgs []Message
			for j := range 20 {
				uid++
				// Some of the same addresses as the old rows, so that the
				// suppression upkeep reads rows being deleted.
				addr := fmt.Sprintf("r%d@old.example", (n*20+j)%400)
				msgs = append(msgs, bounce(uid, addr, classify.BadAddress, classify.Hard, day(0).Add(time.Duration(uid)*time.Second)))
			}
			got, err := s.Save(ctx, Batch{Messages: msgs, Checkpoint: &Checkpoint{"acct", "INBOX", 7, uid, 0}})
			if err == nil && got.Messages != len(msgs) {
				err = fmt.Errorf("saved %+v of %d new messages", got, len(msgs))
			}
			if err != nil {
				saveErr = err
				return
			}
			newUIDs += len(msgs)
		}
	})
	got, err := s.Cleanup(ctx, Retention{RowsBefore: day(-50), BatchSize: 50})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if saveErr != nil {
		t.Fatalf("saving beside cleanup: %v", saveErr)
	}
	if got.Messages != old || got.Bounces != old || got.Raw != old || got.Batches < old/50 {
		t.Errorf("cleaned %+v, want %d messages, bounces and raw in at least %d batches", got, old, old/50)
	}
	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM message WHERE received_at < $1`, day(-50)); n != 0 {
		t.Errorf("%d old messages left", n)
	}
	if n := count(t, c, `SELECT count(*) FROM message WHERE uid > 100000`); n != newUIDs {
		t.Errorf("%d new messages stored, want %d", n, newUIDs)
	}
	if n := count(t, c, `SELECT count(DISTINCT uid) FROM message`); n != newUIDs {
		t.Errorf("%d distinct new messages, want %d", n, newUIDs)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != newUIDs {
		t.Errorf("%d bounce rows, want %d", n, newUIDs)
	}
	if n := count(t, c, `SELECT count(*) FROM message_raw`); n != newUIDs {
		t.Errorf("%d raw messages, want %d", n, newUIDs)
	}
	if n := count(t, c, `SELECT coalesce(sum(n), 0) FROM bounce_day`); n != old+newUIDs {
		t.Errorf("bounce_day counts %d, want %d", n, old+newUIDs)
	}
	if n := count(t, c, `SELECT count(*) FROM suppression`); n != 400 {
		t.Errorf("%d suppressions, want 400", n)
	}
}
