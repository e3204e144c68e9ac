package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bounced/bounced/internal/store"
)

const cleanupDoc = `Delete what is older than the retention: the raw source of old messages
(--raw-older-than), and old messages with their recipient rows
(--rows-older-than). Suppressions and the daily counts of 'bounced stats'
stay. It works in batches of short transactions, so the daemon keeps
writing meanwhile; stopping it (Ctrl-C) keeps what was done.

Without flags it applies [retention] of the configuration. Run it from a
systemd timer or cron (see README.md).`

// runCleanup is `bounced cleanup`.
func runCleanup(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("cleanup", "[--raw-older-than D] [--rows-older-than D] [--dry-run]", cleanupDoc, stderr)
	df := addDBFlags(fs)
	var raw, rows duration
	fs.Var(&raw, "raw-older-than", "drop the raw source of messages older than `D` (e.g. 90d)")
	fs.Var(&rows, "rows-older-than", "delete messages older than `D` (e.g. 730d) with their recipient rows")
	dry := fs.Bool("dry-run", false, "count what would be deleted, delete nothing")
	batch := fs.Int("batch", 1000, "messages deleted per transaction")
	if ops, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(ops) > 0 {
		return &usageError{msg: "cleanup takes no operands"}
	}
	if *batch < 1 || *batch > 100000 {
		return &usageError{msg: "--batch: between 1 and 100000"}
	}
	cfg, st, err := df.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if raw == 0 && rows == 0 {
		raw, rows = cfg.Retention.RawOlderThan, cfg.Retention.RowsOlderThan
	}
	if raw == 0 && rows == 0 {
		return &usageError{msg: "cleanup: nothing to do: give --raw-older-than or --rows-older-than, or set [retention] in the configuration"}
	}
	now := time.Now()
	r := store.Retention{DryRun: *dry, BatchSize: *batch}
	if raw > 0 {
		r.RawBefore = now.Add(-time.Duration(raw))
	}
	if rows > 0 {
		r.RowsBefore = now.Add(-time.Duration(rows))
	}
	c, err := st.Cleanup(ctx, r)
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	fmt.Fprintf(stdout, "%s %d message(s), %d recipient row(s), %d raw message(s)", verb, c.Messages, c.Bounces, c.Raw)
	if !*dry {
		fmt.Fprintf(stdout, " in %d transaction(s), the longest %v", c.Batches, c.Longest.Round(time.Millisecond))
	}
	fmt.Fprintln(stdout)
	return err
}
