package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/store"
)

// saveMailbox prefixes the mailboxes `storebench save` writes as.
const saveMailbox = "storebench-save"

// runSave is `storebench save`: store.Save's throughput on the data set,
// where every index is large and most addresses have history. Unless
// --keep, what it wrote is taken away afterwards (the rows, the daily
// counts, and the suppressions of the addresses it used, put back as they
// were), so that it can run again on the same data set.
func runSave(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("save", stderr)
	batches := f.Int("batches", 200, "batches to save")
	size := f.Int("size", 1000, "notices a batch (the daemon's store.batch_size)")
	raw := f.Bool("raw", false, "keep the raw notices (store.keep_raw)")
	workers := f.Int("workers", 1, "goroutines saving at once, each its own mailbox")
	pipelined := f.Bool("pipelined", false, "one writer that prepares the next batch (store.Prepare) while the last is written")
	keep := f.Bool("keep", false, "leave the rows written")
	if err := f.parse(args); err != nil {
		return err
	}
	if *batches < 1 || *size < 1 || *workers < 1 {
		return fmt.Errorf("save: --batches, --size and --workers must be positive: %w", errUsage)
	}
	conn, err := connect(ctx, *f.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var leftover int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM message WHERE mailbox LIKE $1 || '%'`, saveMailbox).Scan(&leftover); err != nil {
		return err
	}
	if leftover > 0 && !*keep {
		fmt.Fprintf(stdout, "taking away %d messages of an earlier save first\n", leftover)
		if err := undoSave(ctx, conn); err != nil {
			return err
		}
	}
	addrs, err := sampleAddresses(ctx, conn, 100_000)
	if err != nil {
		return err
	}
	if !*keep {
		if err := snapshotSuppressions(ctx, conn, addrs); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, *f.url, store.Options{KeepRaw: *raw, MaxConns: int32(*workers + 1)})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckSchema(ctx); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "making %d batches of %d notices about %d addresses ...\n", *batches, *size, len(addrs))
	type job struct {
		b    store.Batch
		rows int
	}
	jobs := make([]job, *batches)
	gens := make([]*saveGen, *workers)
	for w := range gens {
		gens[w] = newSaveGen(fmt.Sprintf("%s-%d", saveMailbox, w), uint64(time.Now().UnixNano())+uint64(w), addrs)
	}
	start := time.Now()
	for k := range jobs {
		w := k % *workers
		jobs[k].b, jobs[k].rows = gens[w].batch(k / *workers, *size, start.Add(time.Duration(k)*time.Second))
	}

	var (
		next   atomic.Int64
		mu     sync.Mutex
		lat    timings
		total  store.Saved
		rows   int
		wg     sync.WaitGroup
		failed error
	)
	// save writes batch k: with --pipelined, it was prepared while the
	// batch before was written.
	save := func(k int) (store.Saved, error) { return st.Save(ctx, jobs[k].b) }
	var prepared chan *store.Prepared
	if *pipelined {
		*workers = 1
		prepared = make(chan *store.Prepared, 1)
		save = func(int) (store.Saved, error) {
			p, ok := <-prepared
			if !ok {
				return store.Saved{}, fmt.Errorf("a batch could not be prepared")
			}
			return st.SavePrepared(ctx, p)
		}
	}
	began := time.Now()
	if *pipelined {
		go func() {
			defer close(prepared)
			for k := range jobs {
				p, err := st.Prepare(jobs[k].b)
				if err != nil {
					return
				}
				prepared <- p
			}
		}()
	}
	for range *workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(jobs) {
					return
				}
				t := time.Now()
				got, err := save(k)
				d := time.Since(t)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				lat = append(lat, d)
				total.Messages += got.Messages
				total.Bounces += got.Bounces
				total.Suppressed += got.Suppressed
				total.Duplicates += got.Duplicates
				rows += jobs[k].rows
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	if failed != nil {
		return failed
	}
	fmt.Fprintf(stdout, "saved %d batches of %d notices (raw kept: %v, %d at once, pipelined: %v) in %s\n", len(jobs), *size, *raw, *workers, *pipelined, elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  %d messages, %d recipient rows, %d suppressions added or renewed\n", total.Messages, total.Bounces, total.Suppressed)
	fmt.Fprintf(stdout, "  %.0f recipient rows/s, %.0f notices/s\n", float64(total.Bounces)/elapsed.Seconds(), float64(total.Messages)/elapsed.Seconds())
	fmt.Fprintf(stdout, "  one Save: p50 %s ms, p99 %s ms, max %s ms\n", ms(lat.quantile(0.5)), ms(lat.quantile(0.99)), ms(lat.max()))
	if total.Bounces != rows {
		return fmt.Errorf("saved %d recipient rows, expected %d", total.Bounces, rows)
	}

	// The same batches again: all duplicates.
	began = time.Now()
	for k := range jobs {
		got, err := st.Save(ctx, jobs[k].b)
		if err != nil {
			return err
		}
		if got.Messages != 0 || got.Duplicates != len(jobs[k].b.Messages) {
			return fmt.Errorf("saving batch %d again wrote %+v", k, got)
		}
	}
	elapsed = time.Since(began)
	fmt.Fprintf(stdout, "saved them again (all duplicates) in %s: %.0f recipient rows/s offered\n", elapsed.Round(time.Millisecond), float64(rows)/elapsed.Seconds())

	if *keep {
		return nil
	}
	t := time.Now()
	if err := undoSave(ctx, conn); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "took the rows away again in %s\n", time.Since(t).Round(time.Millisecond))
	return nil
}

// snapshotSuppressions keeps the suppression rows of addrs in a table of
// its own, for undoSave.
func snapshotSuppressions(ctx context.Context, conn *pgx.Conn, addrs []string) error {
	_, err := conn.Exec(ctx, `DROP TABLE IF EXISTS storebench_suppression;
		CREATE TABLE storebench_suppression AS SELECT * FROM suppression WHERE false;
		CREATE TABLE IF NOT EXISTS storebench_address (address text PRIMARY KEY)`)
	if err == nil {
		_, err = conn.Exec(ctx, `INSERT INTO storebench_address SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, addrs)
	}
	if err == nil {
		_, err = conn.Exec(ctx, `INSERT INTO storebench_suppression SELECT s.* FROM suppression s JOIN storebench_address USING (address)`)
	}
	if err != nil {
		return fmt.Errorf("keeping the suppressions as they are: %w", err)
	}
	return nil
}

// undoSave deletes what `storebench save` wrote, in one transaction: its
// messages with their rows, their part of the daily counts, and the
// suppressions of the addresses used, put back from the snapshot.
func undoSave(ctx context.Context, conn *pgx.Conn) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			CREATE TEMP TABLE storebench_gone ON COMMIT DROP AS
				SELECT id FROM message WHERE mailbox LIKE 'storebench-save%';
			UPDATE bounce_day d SET n = d.n - x.n
			FROM (SELECT (bounced_at AT TIME ZONE 'UTC')::date AS day, kind, coalesce(cause, '') AS cause,
					coalesce(severity, '') AS severity, count(*) AS n
				FROM bounce WHERE message IN (SELECT id FROM storebench_gone) GROUP BY 1, 2, 3, 4) x
			WHERE (d.day, d.kind, d.cause, d.severity) = (x.day, x.kind, x.cause, x.severity);
			DELETE FROM bounce_day WHERE n = 0;
			DELETE FROM bounce WHERE message IN (SELECT id FROM storebench_gone);
			DELETE FROM message_raw WHERE message IN (SELECT id FROM storebench_gone);
			DELETE FROM message WHERE id IN (SELECT id FROM storebench_gone);
			DELETE FROM checkpoint WHERE mailbox LIKE 'storebench-save%'`)
		if err != nil {
			return err
		}
		var snap bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('storebench_suppression') IS NOT NULL`).Scan(&snap); err != nil || !snap {
			return err
		}
		_, err = tx.Exec(ctx, `
			DELETE FROM suppression WHERE address IN (SELECT address FROM storebench_address);
			INSERT INTO suppression SELECT * FROM storebench_suppression;
			DROP TABLE storebench_suppression;
			DROP TABLE storebench_address`)
		return err
	})
	if err != nil {
		return fmt.Errorf("taking the saved rows away: %w", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) message, message_raw, bounce, bounce_day, suppression`); err != nil {
		return fmt.Errorf("vacuuming after taking the saved rows away: %w", err)
	}
	return nil
}
