package fetch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idling reports whether the n-th IDLE has been sent.
func idling(ts *testServer, n int) func() bool {
	return func() bool { return len(ts.commands("IDLE")) >= n }
}

func TestWaitIdleNewMail(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	ts.add(t, "INBOX", nil, message(1, ""))
	c := dialInbox(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() { done <- c.Wait(ctx, 0) }() // no poll: only the news can end it
	waitFor(t, "IDLE", idling(ts, 1))
	uid := ts.appendOverIMAP(t, "INBOX", message(2, ""))
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil on new mail", err)
	}
	if got := ts.dones(); got != 1 {
		t.Errorf("DONE sent %d times, want once", got)
	}
	if got := len(ts.commands("NOOP")); got != 1 {
		t.Errorf("NOOP sent %d times after IDLE, want once", got)
	}
	infos, err := c.List(ctx, 1, 0)
	if err != nil || len(infos) != 1 || infos[0].UID != uid {
		t.Errorf("List after Wait = %v, %v; want UID %d", infos, err, uid)
	}
}

func TestWaitIdleCancel(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := dialInbox(t, ts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Wait(ctx, 0) }()
	waitFor(t, "IDLE", idling(ts, 1))
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Wait = %v, want context.Canceled as it is", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not end with its context")
	}
	// IDLE was ended cleanly: the client still works.
	if got := ts.dones(); got != 1 {
		t.Errorf("DONE sent %d times, want once", got)
	}
	if err := c.Noop(context.Background()); err != nil {
		t.Errorf("Noop after a cancelled Wait: %v", err)
	}
	if err := c.Wait(ctx, 0); err != context.Canceled {
		t.Errorf("Wait with an ended context = %v", err)
	}
}

func TestWaitIdleRestart(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	a := ts.account()
	a.IdleRestart = 50 * time.Millisecond
	c := mustDial(t, a)
	selectInbox(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Wait(ctx, 0) }()
	waitFor(t, "third IDLE", idling(ts, 3))
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v on a restart", err)
	default:
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	// Between IDLEs, DONE then NOOP checks the connection.
	if idles, noops := len(ts.commands("IDLE")), len(ts.commands("NOOP")); noops < 2 || noops < idles-1 {
		t.Errorf("%d IDLE, %d NOOP: want a NOOP after every restart", idles, noops)
	}
	if err := c.Noop(context.Background()); err != nil {
		t.Errorf("Noop after Wait: %v", err)
	}
}

func TestWaitIdlePoll(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := dialInbox(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// No mail, but the poll interval is a safety net.
	if err := c.Wait(ctx, 100*time.Millisecond); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Wait ended with the context, not the poll interval")
	}
	if len(ts.commands("IDLE")) != 1 || ts.dones() != 1 {
		t.Errorf("want one IDLE and DONE, got %q", ts.sent.String())
	}
}

func TestWaitPoll(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := dialInbox(t, ts)
	c.caps.Idle = false // the in-memory server always has IDLE
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := c.Wait(ctx, 50*time.Millisecond); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Wait ended with the context, not the poll interval")
	}
	if got := ts.commands("IDLE"); len(got) != 0 {
		t.Errorf("IDLE sent without the capability: %q", got)
	}
	if got := len(ts.commands("NOOP")); got != 1 {
		t.Errorf("NOOP sent %d times, want once", got)
	}

	// New mail reported by that NOOP: the next Wait returns at once.
	ts.add(t, "INBOX", nil, message(1, ""))
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, time.Hour); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Wait missed the news of the NOOP")
	}

	if err := c.Wait(ctx, 0); err == nil || !strings.Contains(err.Error(), "no IDLE") {
		t.Errorf("Wait(0) without IDLE = %v, want an error", err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, ccancel)
	if err := c.Wait(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestWaitNoMailbox(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := mustDial(t, ts.account())
	if err := c.Wait(context.Background(), time.Second); err == nil || !strings.Contains(err.Error(), "no mailbox selected") {
		t.Errorf("Wait = %v, want no mailbox selected", err)
	}
}

func TestWaitClose(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	c := dialInbox(t, ts)
	done := make(chan error, 1)
	go func() { done <- c.Wait(context.Background(), 0) }()
	waitFor(t, "IDLE", idling(ts, 1))
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	select {
	case err := <-done:
		if !isClosed(err) {
			t.Errorf("Wait = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end Wait")
	}
}
