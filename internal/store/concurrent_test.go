package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bounced/bounced/internal/classify"
)

// Readers of two mailboxes that hold the same notices, in different
// orders, save at once without deadlocking, and keep one row per
// recipient; so do two readers of the same mailbox.
func TestSaveConcurrentOverlap(t *testing.T) {
	t.Parallel()
	s, url := openURL(t, Options{MaxConns: 8})
	const rounds, size = 10, 60
	batches := func(round int, mailbox string, reverse bool) []Message {
		var msgs []Message
		for i := range size {
			m := bounce(uint32(round*size+i+1), fmt.Sprintf("r%d@one.example", i), classify.BadAddress, classify.Hard,
				day(float64(round)).Add(time.Duration(i)*time.Minute))
			m.Mailbox = mailbox
			msgs = append(msgs, m)
		}
		if reverse {
			slices.Reverse(msgs)
		}
		return msgs
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*rounds)
	for _, w := range []struct {
		mailbox string
		reverse bool
	}{{"INBOX", false}, {"Copy", true}, {"INBOX", true}, {"Copy", false}} {
		wg.Go(func() {
			for round := range rounds {
				if _, err := s.Save(context.Background(), Batch{Messages: batches(round, w.mailbox, w.reverse)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := connect(t, url)
	if n := count(t, c, `SELECT count(*) FROM message`); n != 2*rounds*size {
		t.Errorf("%d messages, want %d", n, 2*rounds*size)
	}
	if n := count(t, c, `SELECT count(*) FROM bounce`); n != rounds*size {
		t.Errorf("%d bounce rows, want %d", n, rounds*size)
	}
	if n := count(t, c, `SELECT coalesce(sum(n), 0) FROM bounce_day`); n != rounds*size {
		t.Errorf("bounce_day counts %d, want %d", n, rounds*size)
	}
	if n := count(t, c, `SELECT count(*) FROM suppression WHERE bounce_count = $1`, rounds); n != size {
		t.Errorf("%d suppressions on %d bounces, want %d", n, rounds, size)
	}
}
