package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/store"
)

// query is one hygiene query as the bounced command runs it.
type query struct {
	name string
	run  func(ctx context.Context, st *store.Store, i int) (rows int, err error)
}

// hygieneQueries are the queries of `bounced suppressions --since 1d`,
// `bounced show ADDRESS` (its default --limit 100), `bounced stats` by
// day and by cause over a year and by domain over 30 days, and
// `bounced suppressions --domain gmail.com`, with now as the present.
func hygieneQueries(now time.Time, addrs []string) []query {
	stats := func(by store.StatsBy, since time.Duration) func(context.Context, *store.Store, int) (int, error) {
		return func(ctx context.Context, st *store.Store, _ int) (int, error) {
			cs, err := st.Stats(ctx, by, now.Add(-since), time.Time{}, 50)
			return len(cs), err
		}
	}
	suppressions := func(f store.SuppressionFilter) func(context.Context, *store.Store, int) (int, error) {
		return func(ctx context.Context, st *store.Store, _ int) (int, error) {
			n := 0
			err := st.Suppressions(ctx, f, func(store.Suppression) error { n++; return nil })
			return n, err
		}
	}
	day := 24 * time.Hour
	return []query{
		{"suppressions --since 1d", suppressions(store.SuppressionFilter{Since: now.Add(-day)})},
		{"show ADDRESS (--limit 100)", func(ctx context.Context, st *store.Store, i int) (int, error) {
			h, err := st.History(ctx, addrs[i%len(addrs)], 100)
			return len(h.Events), err
		}},
		{"stats --by day --since 365d", stats(store.ByDay, 365*day)},
		{"stats --by cause --since 365d", stats(store.ByCause, 365*day)},
		{"stats --by domain --since 30d", stats(store.ByDomain, 30*day)},
		{"suppressions --domain gmail.com", suppressions(store.SuppressionFilter{Domain: "gmail.com"})},
	}
}

// runLatency is `storebench latency`.
func runLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("latency", stderr)
	n := f.Int("n", 200, "runs of each query")
	fresh := f.Int("fresh", 20, "runs of each query in a store opened for it, as one `bounced` process does")
	if err := f.parse(args); err != nil {
		return err
	}
	conn, err := connect(ctx, *f.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	now, err := present(ctx, conn, stdout)
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT address FROM suppression ORDER BY random() LIMIT $1`, max(*n, *fresh))
	if err != nil {
		return err
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return fmt.Errorf("no suppressions: run generate first")
	}
	st, err := store.Open(ctx, *f.url, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckSchema(ctx); err != nil {
		return err
	}
	qs := hygieneQueries(now, addrs)

	fmt.Fprintf(stdout, "one store, %d runs each (the first, on a new connection, apart)\n", *n)
	fmt.Fprintf(stdout, "%-34s %7s %9s %9s %9s %9s %9s\n", "query", "rows", "first ms", "min ms", "p50 ms", "p99 ms", "max ms")
	for _, q := range qs {
		st.Close()
		if st, err = store.Open(ctx, *f.url, store.Options{}); err != nil {
			return err
		}
		var ts timings
		var first time.Duration
		var nrows int
		for i := range *n + 1 {
			t := time.Now()
			r, err := q.run(ctx, st, i)
			d := time.Since(t)
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			if i == 0 {
				first, nrows = d, r
				continue
			}
			ts = append(ts, d)
		}
		fmt.Fprintf(stdout, "%-34s %7d %9s %9s %9s %9s %9s\n", q.name, nrows, ms(first), ms(ts.min()), ms(ts.quantile(0.5)), ms(ts.quantile(0.99)), ms(ts.max()))
	}

	if *fresh > 0 {
		fmt.Fprintf(stdout, "\na store opened for each run, as `bounced` does (connect, schema check, policy check, query, close), %d runs each\n", *fresh)
		fmt.Fprintf(stdout, "%-34s %7s %9s %9s %9s %9s\n", "query", "rows", "min ms", "p50 ms", "p99 ms", "max ms")
		for _, q := range qs {
			var ts timings
			var nrows int
			for i := range *fresh {
				t := time.Now()
				s, err := store.Open(ctx, *f.url, store.Options{})
				if err != nil {
					return err
				}
				err = s.CheckSchema(ctx)
				if err == nil {
					_, err = s.PolicyCurrent(ctx)
				}
				if err == nil {
					nrows, err = q.run(ctx, s, i)
				}
				s.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", q.name, err)
				}
				ts = append(ts, time.Since(t))
			}
			fmt.Fprintf(stdout, "%-34s %7d %9s %9s %9s %9s\n", q.name, nrows, ms(ts.min()), ms(ts.quantile(0.5)), ms(ts.quantile(0.99)), ms(ts.max()))
		}
	}
	return nil
}

// present is the time the queries take as now: the clock, unless the data
// set's newest notice is more than an hour old (generated a while ago),
// then that notice's time, so that "the last day" still holds rows.
func present(ctx context.Context, conn *pgx.Conn, w io.Writer) (time.Time, error) {
	var newest *time.Time
	if err := conn.QueryRow(ctx, `SELECT max(received_at) FROM message`).Scan(&newest); err != nil {
		return time.Time{}, fmt.Errorf("reading the newest notice: %w", err)
	}
	now := time.Now()
	if newest != nil && now.Sub(*newest) > time.Hour {
		fmt.Fprintf(w, "the data set ends %s ago: the queries take %s as now\n", now.Sub(*newest).Round(time.Minute), newest.UTC().Format(time.DateTime))
		now = *newest
	}
	return now, nil
}
