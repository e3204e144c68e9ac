package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/dsn"
)

// Stored is a message whose raw source the store kept.
type Stored struct {
	ID         int64
	ReceivedAt time.Time
	Raw        []byte
}

// RawMessages returns up to limit messages received at or after since
// whose raw source is kept, with ids above afterID, in order of id: call
// it again with the last id to page through them.
func (s *Store) RawMessages(ctx context.Context, since time.Time, afterID int64, limit int) ([]Stored, error) {
	const doing = "reading raw messages"
	rows, err := s.pool.Query(ctx, `
		SELECT m.id, m.received_at, x.encoding, x.raw FROM message m JOIN message_raw x ON x.message = m.id
		WHERE m.id > $1 AND ($2::timestamptz IS NULL OR m.received_at >= $2)
		ORDER BY m.id LIMIT $3`, afterID, nullTime(since), limit)
	if err != nil {
		return nil, dbError(doing, err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		var m Stored
		var enc string
		var z []byte
		if err := rows.Scan(&m.ID, &m.ReceivedAt, &enc, &z); err != nil {
			return nil, dbError(doing, err)
		}
		if enc != "gzip" {
			return nil, fmt.Errorf("%s: message %d: unknown encoding %q", doing, m.ID, enc)
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err == nil {
			m.Raw, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: message %d: %w", doing, m.ID, err)
		}
		out = append(out, m)
	}
	return out, dbError(doing, rows.Err())
}

// Reanalysis is a stored message analysed again.
type Reanalysis struct {
	ID         int64
	ReceivedAt time.Time
	Report     *dsn.Report
	Results    []classify.Result
	ParseErr   error
}

// Changed counts what Replace changed.
type Changed struct {
	Messages int `json:"messages"` // messages whose kind or recipient rows changed
	Removed  int `json:"removed"`  // recipient rows replaced
	Added    int `json:"added"`    // recipient rows written
}

// Replace puts new analyses in place of the stored ones, in one
// transaction: the message rows are updated, the recipient rows replaced,
// the daily counts adjusted and the suppressions of every address
// concerned evaluated again (lifted too, when the new rows no longer
// support them).
func (s *Store) Replace(ctx context.Context, rs []Reanalysis) (Changed, error) {
	const doing = "replacing analyses"
	var ch Changed
	err := s.inTx(ctx, doing, func(tx pgx.Tx) error {
		ids := make([]int64, len(rs))
		msgs := make([]Message, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
			msgs[i] = Message{ReceivedAt: r.ReceivedAt, Report: r.Report, Results: r.Results, ParseErr: r.ParseErr}
		}
		// The messages first, locked: one deleted by retention since it
		// was read is passed over.
		kinds, err := updateMessages(ctx, tx, ids, msgs)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM bounce WHERE message = ANY($1)
			RETURNING recipient, kind, coalesce(cause, ''), coalesce(severity, ''), bounced_at, domain, scope, message, position`, ids)
		if err != nil {
			return dbError(doing, err)
		}
		var old []added
		before := map[int64][]string{}
		for rows.Next() {
			var a added
			var id int64
			var pos int
			if err := rows.Scan(&a.recipient, &a.kind, &a.cause, &a.severity, &a.at, &a.domain, &a.scope, &id, &pos); err != nil {
				return dbError(doing, err)
			}
			old = append(old, a)
			before[id] = append(before[id], rowKey(pos, a.recipient, a.kind, a.cause, a.severity))
		}
		if err := rows.Err(); err != nil {
			return dbError(doing, err)
		}
		var br bounceRows
		after := map[int64][]string{}
		for i := range msgs {
			if _, ok := kinds[ids[i]]; ok {
				br.add(ids[i], &msgs[i])
			}
		}
		for i, id := range br.message {
			c, sv := "", ""
			if br.cause[i].Valid {
				c, sv = br.cause[i].String, br.severity[i].String
			}
			after[id] = append(after[id], rowKey(int(br.position[i]), br.recipient[i], br.kind[i], c, sv))
		}
		added, err := br.insert(ctx, tx)
		if err != nil {
			return err
		}
		for i, id := range ids {
			k, ok := kinds[id]
			if !ok {
				continue
			}
			slices.Sort(before[id])
			slices.Sort(after[id])
			if !slices.Equal(before[id], after[id]) || k != string(msgs[i].Report.Kind) {
				ch.Messages++
			}
		}
		ch.Removed, ch.Added = len(old), len(added)
		if _, err := s.upkeep(ctx, tx, s.affected(append(added, old...)), true); err != nil {
			return err
		}
		return addDays(ctx, tx, added, old)
	})
	return ch, err
}

// rowKey is what Replace compares of a recipient row.
func rowKey(pos int, recipient, kind, cause, severity string) string {
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s\x00%s", pos, recipient, kind, cause, severity)
}

// updateMessages rewrites what the analysis decides of each message and
// returns the kinds they had.
func updateMessages(ctx context.Context, tx pgx.Tx, ids []int64, msgs []Message) (map[int64]string, error) {
	const doing = "replacing analyses"
	n := len(ids)
	kind, format, sender, subject, original := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	messageID, origID, parseErr := make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
	for i := range msgs {
		rep := msgs[i].Report
		if rep == nil {
			rep = &dsn.Report{Kind: dsn.NotBounce}
			msgs[i].Report = rep
		}
		kind[i], format[i] = string(rep.Kind), rep.Format
		sender[i], subject[i] = clean(rep.From), clean(rep.Subject)
		messageID[i], origID[i] = nonEmpty(rep.MessageID), nonEmpty(rep.Original.MessageID)
		original[i] = originalJSON(&rep.Original)
		if msgs[i].ParseErr != nil {
			parseErr[i] = pgtype.Text{String: clean(msgs[i].ParseErr.Error()), Valid: true}
		}
	}
	rows, err := tx.Query(ctx, `
		WITH old AS (SELECT id, kind FROM message WHERE id = ANY($1) FOR UPDATE)
		UPDATE message m SET kind = t.kind, format = t.format, message_id = t.message_id, sender = t.sender,
			subject = t.subject, original_message_id = t.orig_id, original = t.original,
			parse_error = t.parse_error, parser_version = $10
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::jsonb[], $9::text[]) AS t(id, kind, format, message_id, sender, subject, orig_id, original, parse_error),
			old
		WHERE m.id = t.id AND old.id = t.id
		RETURNING m.id, old.kind`,
		ids, kind, format, messageID, sender, subject, origID, original, parseErr, ParserVersion)
	if err != nil {
		return nil, dbError(doing, err)
	}
	kinds := map[int64]string{}
	for rows.Next() {
		var id int64
		var k string
		if err := rows.Scan(&id, &k); err != nil {
			return nil, dbError(doing, err)
		}
		kinds[id] = k
	}
	return kinds, dbError(doing, rows.Err())
}
