package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bounced/bounced/internal/store"
)

// runRebuild is `storebench rebuild`: store.RebuildSuppressions over the
// data set, as `bounced migrate` runs it after a change of policy. With the
// policy generate used, nothing should change: the count of suppressions
// it rewrote (updated_at moved) checks the generator against the store.
func runRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("rebuild", stderr)
	limit := f.Duration("max", 0, "stop after this long and tell the rate (0: go to the end)")
	if err := f.parse(args); err != nil {
		return err
	}
	conn, err := connect(ctx, *f.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := store.Open(ctx, *f.url, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckSchema(ctx); err != nil {
		return err
	}
	var before int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM suppression`).Scan(&before); err != nil {
		return err
	}
	var dbStart time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&dbStart); err != nil {
		return err
	}
	var total int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT recipient FROM bounce WHERE recipient <> ''
		UNION SELECT address FROM suppression) t`).Scan(&total); err != nil {
		return err
	}
	rctx := ctx
	if *limit > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, *limit)
		defer cancel()
	}
	start := time.Now()
	last, done := start, 0
	err = st.RebuildSuppressions(rctx, func(n int) {
		done = n
		if time.Since(last) > 15*time.Second {
			last = time.Now()
			fmt.Fprintf(stdout, "  %d of %d addresses, %s\n", n, total, time.Since(start).Round(time.Second))
		}
	})
	took := time.Since(start)
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		rate := float64(done) / took.Seconds()
		fmt.Fprintf(stdout, "RebuildSuppressions stopped after %s (--max): %d of %d addresses, %.0f a second: all of them would take about %s\n",
			took.Round(time.Second), done, total, rate, (time.Duration(float64(total)/max(rate, 1e-9)) * time.Second).Round(time.Minute))
		return nil
	}
	if err != nil {
		return err
	}
	var after, changed int64
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE updated_at >= $1) FROM suppression`, dbStart).Scan(&after, &changed); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "RebuildSuppressions took %s for %d addresses: %d suppressions before, %d after, %d rewritten\n",
		took.Round(time.Millisecond), total, before, after, changed)
	return nil
}
