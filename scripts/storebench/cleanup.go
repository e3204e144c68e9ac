package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/store"
)

// runCleanup is `storebench cleanup`: store.Cleanup of the rows older than
// --before while another store (as another bounced process would) keeps
// saving batches of 50 notices. The saves' latencies before and during the
// cleanup tell how long cleanup held writes up. It deletes the rows for
// good.
func runCleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("cleanup", stderr)
	before := durationFlag{365 * 24 * time.Hour}
	f.Var(&before, "before", "delete the messages received longer ago than `D` (365d, 8760h)")
	batch := f.Int("batch", 0, "messages a cleanup transaction (0: the store's default)")
	pause := f.Duration("pause", 0, "pause between cleanup transactions (store.Retention.Pause)")
	limit := f.Duration("max", 2*time.Hour, "stop the cleanup after this long")
	baseline := f.Duration("baseline", 10*time.Second, "how long to time the saves before the cleanup starts")
	if err := f.parse(args); err != nil {
		return err
	}
	conn, err := connect(ctx, *f.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	addrs, err := sampleAddresses(ctx, conn, 20_000)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-before.d)
	var msgs, rows int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM message WHERE received_at < $1),
		(SELECT count(*) FROM bounce WHERE message IN (SELECT id FROM message WHERE received_at < $1))`, cutoff).Scan(&msgs, &rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "to delete: %d messages with %d recipient rows received before %s\n", msgs, rows, cutoff.UTC().Format(time.DateTime))

	cleaner, err := store.Open(ctx, *f.url, store.Options{})
	if err != nil {
		return err
	}
	defer cleaner.Close()
	saver, err := store.Open(ctx, withAppName(*f.url, saverApp), store.Options{KeepRaw: true, MaxConns: 1})
	if err != nil {
		return err
	}
	defer saver.Close()

	// The saver: a batch of 50 notices after another until told to stop.
	gen := newSaveGen(fmt.Sprintf("storebench-cleanup-%d", time.Now().Unix()), uint64(time.Now().UnixNano()), addrs)
	type sample struct {
		at time.Time
		d  time.Duration
	}
	type result struct {
		samples []sample
		err     error
	}
	stop := make(chan struct{})
	saverDone := make(chan result, 1)
	go func() {
		var res result
		defer func() { saverDone <- res }()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := gen.batch(k, 50, time.Now())
			t := time.Now()
			if _, res.err = saver.Save(ctx, b); res.err != nil {
				return
			}
			res.samples = append(res.samples, sample{t, time.Since(t)})
		}
	}()

	time.Sleep(*baseline)
	cctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	waits := make(chan waitStats, 1)
	go func() { waits <- sampleWaits(cctx, conn, saverApp) }()
	cleanStart := time.Now()
	c, cerr := cleaner.Cleanup(cctx, store.Retention{RowsBefore: cutoff, BatchSize: *batch, Pause: *pause})
	cleanEnd := time.Now()
	cancel()
	close(stop)
	res := <-saverDone
	ws := <-waits
	var base, during timings
	for _, s := range res.samples {
		switch {
		case s.at.Before(cleanStart):
			base = append(base, s.d)
		case s.at.Before(cleanEnd):
			during = append(during, s.d)
		}
	}
	if res.err != nil {
		return fmt.Errorf("saving during the cleanup: %w", res.err)
	}
	if cerr != nil {
		return fmt.Errorf("cleanup (after %s, %+v): %w", cleanEnd.Sub(cleanStart).Round(time.Second), c, cerr)
	}
	took := cleanEnd.Sub(cleanStart)
	fmt.Fprintf(stdout, "cleanup deleted %d messages, %d recipient rows, %d raw in %d transactions, %s\n",
		c.Messages, c.Bounces, c.Raw, c.Batches, took.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  %.0f recipient rows/s; longest transaction %s ms\n", float64(c.Bounces)/took.Seconds(), ms(c.Longest))
	fmt.Fprintf(stdout, "saves of 50 notices          %6s %9s %9s %9s\n", "count", "p50 ms", "p99 ms", "max ms")
	fmt.Fprintf(stdout, "  before the cleanup         %6d %9s %9s %9s\n", len(base), ms(base.quantile(0.5)), ms(base.quantile(0.99)), ms(base.max()))
	fmt.Fprintf(stdout, "  during the cleanup         %6d %9s %9s %9s\n", len(during), ms(during.quantile(0.5)), ms(during.quantile(0.99)), ms(during.max()))
	fmt.Fprintf(stdout, "inserts held up for at most %s ms during the cleanup (longest save, against %s ms before it)\n",
		ms(during.max()), ms(base.max()))
	fmt.Fprintf(stdout, "the saver's connection, sampled every %s during the cleanup (%d samples while active):\n", waitTick, ws.active)
	for _, k := range ws.kinds() {
		fmt.Fprintf(stdout, "  waiting on %-26s %5d samples, longest run ~%s ms\n", k, ws.count[k], ms(ws.longest[k]))
	}
	return nil
}

// saverApp is the application_name of the saver's connection, so that
// its waits can be told apart.
const saverApp = "storebench-saver"

func withAppName(url, name string) string {
	if strings.Contains(url, "://") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		return url + sep + "application_name=" + name
	}
	return url + " application_name=" + name
}

// waitTick is how often sampleWaits looks.
const waitTick = 5 * time.Millisecond

// waitStats counts what a connection was seen waiting on.
type waitStats struct {
	active  int
	count   map[string]int
	longest map[string]time.Duration
}

func (w waitStats) kinds() []string {
	var ks []string
	for k := range w.count {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int { return w.count[b] - w.count[a] })
	return ks
}

// sampleWaits polls pg_stat_activity for the active connection named app
// until ctx ends, and counts its wait events (Lock is a row or table
// lock, LWLock an internal one, IO a read or write, Client the
// connection waiting for the program).
func sampleWaits(ctx context.Context, conn *pgx.Conn, app string) waitStats {
	w := waitStats{count: map[string]int{}, longest: map[string]time.Duration{}}
	run, runStart := "", time.Time{}
	t := time.NewTicker(waitTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return w
		case <-t.C:
		}
		var kind, event *string
		err := conn.QueryRow(ctx, `SELECT wait_event_type, wait_event FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active'`, app).Scan(&kind, &event)
		now := time.Now()
		k := ""
		switch {
		case err != nil: // idle (no row), or ctx ended
		case kind == nil:
			w.active++
			k = "(running)"
		default:
			w.active++
			k = *kind + ":" + *event
		}
		if k != "" {
			w.count[k]++
		}
		if k != run {
			if run != "" {
				w.longest[run] = max(w.longest[run], now.Sub(runStart))
			}
			run, runStart = k, now
		}
	}
}
