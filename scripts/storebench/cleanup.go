package main

import (
	"context"
	"fmt"
	"io"
	"time"

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
	saver, err := store.Open(ctx, *f.url, store.Options{KeepRaw: true})
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
	cleanStart := time.Now()
	c, cerr := cleaner.Cleanup(cctx, store.Retention{RowsBefore: cutoff, BatchSize: *batch})
	cleanEnd := time.Now()
	close(stop)
	res := <-saverDone
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
	return nil
}
