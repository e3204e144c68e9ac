package fetch

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// fiveMessages adds five messages of different sizes to INBOX.
func fiveMessages(t *testing.T, ts *testServer) [][]byte {
	t.Helper()
	var bodies [][]byte
	for i := 1; i <= 5; i++ {
		bodies = append(bodies, message(i, strings.Repeat("x", i*100)+"\r\n"))
	}
	ts.add(t, "INBOX", nil, bodies...)
	return bodies
}

func TestSelect(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	fiveMessages(t, ts)
	c := mustDial(t, ts.account())
	ctx := context.Background()

	mbox, err := c.Select(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	status, err := ts.user.Status("INBOX", &imap.StatusOptions{UIDValidity: true})
	if err != nil {
		t.Fatal(err)
	}
	want := Mailbox{Name: "INBOX", UIDValidity: status.UIDValidity, UIDNext: 6, Messages: 5}
	if mbox != want || mbox.UIDValidity == 0 {
		t.Errorf("Select = %+v, want %+v", mbox, want)
	}

	_, err = c.Select(ctx, "Nonexistent")
	if err == nil || !strings.Contains(err.Error(), `imap account "test": selecting "Nonexistent"`) {
		t.Errorf("Select(Nonexistent) = %v, want an error naming account and mailbox", err)
	}
	if isClosed(err) {
		t.Errorf("a refused SELECT killed the client: %v", err)
	}
	if _, err := c.List(ctx, 0, 0); err == nil || !strings.Contains(err.Error(), "no mailbox selected") {
		t.Errorf("List after a failed SELECT = %v, want no mailbox selected", err)
	}
	if _, err := c.Select(ctx, "INBOX"); err != nil {
		t.Errorf("Select after a refusal: %v", err)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	bodies := fiveMessages(t, ts)
	c := dialInbox(t, ts)
	ctx := context.Background()

	all := make([]Info, len(bodies))
	for i, b := range bodies {
		all[i] = Info{UID: uint32(i + 1), Size: int64(len(b))}
	}
	tests := []struct {
		name  string
		after uint32
		limit int
		want  []Info
	}{
		{"all", 0, 0, all},
		{"after 3", 3, 0, all[3:]},
		{"limit 2", 0, 2, all[:2]},
		{"after 1 limit 2", 1, 2, all[1:3]},
		{"negative limit", 0, -1, all},
		// UID FETCH 6:* makes the server answer with its last message, UID 5.
		{"after last", 5, 0, nil},
		{"far after last", 1000, 0, nil},
		{"after max", math.MaxUint32, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.List(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List(%d, %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
			}
		})
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	bodies := fiveMessages(t, ts)
	c := dialInbox(t, ts)
	ctx := context.Background()

	var got []Message
	collect := func(m Message) error {
		got = append(got, m)
		return nil
	}
	// 42 does not exist; 0 would mean "*" and must be ignored.
	if err := c.Fetch(ctx, []uint32{5, 1, 3, 42, 0}, 0, collect); err != nil {
		t.Fatal(err)
	}
	var want []Message
	for _, uid := range []uint32{1, 3, 5} {
		b := bodies[uid-1]
		want = append(want, Message{UID: uid, Size: int64(len(b)), Body: b})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fetch got\n%+v\nwant\n%+v", got, want)
	}

	// BODY.PEEK: nothing became \Seen.
	for uid, m := range ts.messages(t, "INBOX") {
		if m.has(imap.FlagSeen) {
			t.Errorf("UID %d is \\Seen after Fetch", uid)
		}
	}

	if err := c.Fetch(ctx, nil, 0, collect); err != nil {
		t.Errorf("Fetch(nil) = %v", err)
	}
}

func TestFetchMaxSize(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	small := message(1, "")
	large := message(2, strings.Repeat("0123456789abcdef\r\n", 2000))
	ts.add(t, "INBOX", nil, small, large)
	c := dialInbox(t, ts)

	const maxSize = 1000
	var got []Message
	err := c.Fetch(context.Background(), []uint32{1, 2}, maxSize, func(m Message) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	if m := got[0]; m.Oversized || !bytes.Equal(m.Body, small) || m.Size != int64(len(small)) {
		t.Errorf("small message: Oversized %v, Size %d, body %q", m.Oversized, m.Size, m.Body)
	}
	m := got[1]
	if !m.Oversized || len(m.Body) != maxSize || !bytes.Equal(m.Body, large[:maxSize]) || m.Size != int64(len(large)) {
		t.Errorf("large message: Oversized %v, Size %d (want %d), %d bytes of body (want %d, its start)",
			m.Oversized, m.Size, len(large), len(m.Body), maxSize)
	}
	// The rest of the large body was read: the connection is in step.
	infos, err := c.List(context.Background(), 0, 0)
	if err != nil || len(infos) != 2 {
		t.Errorf("List after an oversized message = %v, %v", infos, err)
	}
}

func TestFetchStop(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	fiveMessages(t, ts)
	c := dialInbox(t, ts)
	ctx := context.Background()

	errStop := errors.New("stop")
	calls := 0
	err := c.Fetch(ctx, []uint32{1, 2, 3, 4, 5}, 0, func(m Message) error {
		calls++
		if m.UID == 2 {
			return errStop
		}
		return nil
	})
	if err != errStop {
		t.Errorf("Fetch = %v, want fn's error as it is", err)
	}
	if calls != 2 {
		t.Errorf("fn called %d times, want 2", calls)
	}
	// The rest of the answer was drained: the next command works.
	var uids []uint32
	err = c.Fetch(ctx, []uint32{4}, 0, func(m Message) error {
		uids = append(uids, m.UID)
		return nil
	})
	if err != nil || !reflect.DeepEqual(uids, []uint32{4}) {
		t.Errorf("Fetch after a stop: %v, %v", uids, err)
	}
}

// Close from within fn (or from another goroutine while fn runs) aborts the
// fetch without waiting for it.
func TestFetchCloseInFn(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	fiveMessages(t, ts)
	c := dialInbox(t, ts)
	done := make(chan error, 1)
	calls := 0
	go func() {
		done <- c.Fetch(context.Background(), []uint32{1, 2, 3, 4, 5}, 0, func(Message) error {
			calls++
			return c.Close()
		})
	}()
	select {
	case err := <-done:
		if !isClosed(err) || calls != 1 {
			t.Errorf("Fetch = %v after %d calls, want ErrClosed after 1", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch hung after Close")
	}
}
