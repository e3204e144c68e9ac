package store

import (
	"context"
	"time"
)

// Retention says what `bounced cleanup` deletes.
type Retention struct {
	// RawBefore: drop the raw source of messages received before it.
	RawBefore time.Time
	// RowsBefore: delete the messages received before it, with their
	// recipient rows and raw source. Suppressions and daily counts stay.
	RowsBefore time.Time
	// DryRun counts what would go and deletes nothing.
	DryRun bool
	// BatchSize is the number of messages a transaction deletes; each
	// transaction holds its row locks for tens of milliseconds, so writes
	// carry on beside it. Default 1000.
	BatchSize int
	// Pause between transactions, to leave the server breath. Default 0.
	Pause time.Duration
}

// Cleaned counts what Cleanup deleted (or, dry, would delete).
type Cleaned struct {
	Raw      int64 `json:"raw"`
	Messages int64 `json:"messages"`
	Bounces  int64 `json:"bounces"`
	Batches  int   `json:"batches"`
	// Longest is the longest transaction.
	Longest time.Duration `json:"longest"`
}

// Cleanup applies r in batches, each its own short transaction; a
// cancelled ctx stops it between batches with what was done kept.
func (s *Store) Cleanup(ctx context.Context, r Retention) (Cleaned, error) {
	var c Cleaned
	if r.BatchSize <= 0 {
		r.BatchSize = 1000
	}
	if r.DryRun {
		err := s.pool.QueryRow(ctx, `
			SELECT
				(SELECT count(*) FROM message_raw x JOIN message m ON m.id = x.message
					WHERE m.received_at < coalesce($1::timestamptz, '-infinity') OR m.received_at < coalesce($2::timestamptz, '-infinity')),
				(SELECT count(*) FROM message WHERE received_at < coalesce($2::timestamptz, '-infinity')),
				(SELECT count(*) FROM bounce b JOIN message m ON m.id = b.message
					WHERE m.received_at < coalesce($2::timestamptz, '-infinity'))`,
			nullTime(r.RawBefore), nullTime(r.RowsBefore)).Scan(&c.Raw, &c.Messages, &c.Bounces)
		return c, dbError("counting what cleanup would delete", err)
	}
	batch := func(doing, sql string, args ...any) (done bool, err error) {
		start := time.Now()
		var raw, msgs, bounces int64
		if err := s.pool.QueryRow(ctx, sql, args...).Scan(&raw, &msgs, &bounces); err != nil {
			return false, dbError(doing, err)
		}
		c.Longest = max(c.Longest, time.Since(start))
		c.Batches++
		c.Raw, c.Messages, c.Bounces = c.Raw+raw, c.Messages+msgs, c.Bounces+bounces
		if raw+msgs+bounces == 0 {
			return true, nil
		}
		if r.Pause > 0 {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(r.Pause):
			}
		}
		return false, ctx.Err()
	}
	if !r.RowsBefore.IsZero() {
		// Say first that rows before the horizon may be gone, so that a
		// rebuild of the suppressions keeps those resting on them
		// (upkeep), even when this is interrupted.
		_, err := s.pool.Exec(ctx, `INSERT INTO setting (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = CASE
				WHEN setting.value::timestamptz >= excluded.value::timestamptz THEN setting.value ELSE excluded.value END`,
			horizonSetting, r.RowsBefore.UTC().Format(time.RFC3339Nano))
		if err != nil {
			return c, dbError("recording the retention horizon", err)
		}
		for {
			// The recipient rows and the raw source go first, in the same
			// statement, so that the cascade has nothing left to find.
			done, err := batch("deleting old messages", `
				WITH ids AS (
					SELECT id FROM message WHERE received_at < $1 ORDER BY received_at, id LIMIT $2
					FOR UPDATE SKIP LOCKED),
				b AS (DELETE FROM bounce WHERE message IN (SELECT id FROM ids) RETURNING 1),
				x AS (DELETE FROM message_raw WHERE message IN (SELECT id FROM ids) RETURNING 1),
				m AS (DELETE FROM message WHERE id IN (SELECT id FROM ids) RETURNING 1)
				SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM m), (SELECT count(*) FROM b)`,
				r.RowsBefore, r.BatchSize)
			if err != nil || done {
				if err != nil {
					return c, err
				}
				break
			}
		}
	}
	if !r.RawBefore.IsZero() {
		// Walk the messages by time with a cursor, so that each batch
		// starts where the last stopped.
		var afterAt time.Time
		var afterID int64
		for {
			var lastAt *time.Time
			var lastID, raw int64
			start := time.Now()
			err := s.pool.QueryRow(ctx, `
				WITH ids AS (
					SELECT id, received_at FROM message
					WHERE received_at < $1 AND (received_at, id) > ($2, $3)
					ORDER BY received_at, id LIMIT $4),
				x AS (DELETE FROM message_raw WHERE message IN (SELECT id FROM ids) RETURNING 1)
				SELECT (SELECT count(*) FROM x),
					(SELECT max(received_at) FROM ids),
					coalesce((SELECT max(id) FROM ids WHERE received_at = (SELECT max(received_at) FROM ids)), 0)`,
				r.RawBefore, afterAt, afterID, r.BatchSize*4).Scan(&raw, &lastAt, &lastID)
			if err != nil {
				return c, dbError("deleting old raw messages", err)
			}
			c.Longest = max(c.Longest, time.Since(start))
			c.Batches++
			c.Raw += raw
			if lastAt == nil {
				break
			}
			afterAt, afterID = *lastAt, lastID
			if err := ctx.Err(); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}
