package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Count is one line of Stats: a group and its numbers of rows.
type Count struct {
	// Key is the group: a cause ("complaint" for complaints), a domain, or
	// a day (YYYY-MM-DD).
	Key string `json:"key"`
	// Bounces counts the failed recipients, Hard and Soft by severity,
	// Delays the delayed ones, Complaints the complaints.
	Bounces    int64 `json:"bounces"`
	Hard       int64 `json:"hard"`
	Soft       int64 `json:"soft"`
	Delays     int64 `json:"delays"`
	Complaints int64 `json:"complaints"`
	// Recipient counts the bounces of recipient scope: those that speak
	// against the address (by domain only).
	Recipient int64 `json:"recipient_scope,omitempty"`
}

// StatsBy names a grouping of Stats.
type StatsBy string

// The groupings.
const (
	ByCause  StatsBy = "cause"
	ByDomain StatsBy = "domain"
	ByDay    StatsBy = "day"
)

// Stats counts what bounced in [since, until) (a zero bound is open).
// The counts come from the daily tables kept on write (bounce_day and
// bounce_domain_day), so they cover rows that retention has deleted, cost
// the same at any size, and go by whole days (UTC): the day of since is
// counted, the day of until is not. By domain they are the top limit
// domains (0: 50) by rows.
func (s *Store) Stats(ctx context.Context, by StatsBy, since, until time.Time, limit int) ([]Count, error) {
	const doing = "counting bounces"
	if limit <= 0 {
		limit = 50
	}
	var sql string
	switch by {
	case ByDomain:
		sql = `
		SELECT domain, sum(bounces), sum(hard), sum(soft), sum(delays), sum(complaints), sum(recipient)
		FROM bounce_domain_day
		WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date
		GROUP BY domain ORDER BY sum(bounces + delays + complaints) DESC, domain LIMIT $3`
	case ByDay, ByCause:
		key := "to_char(day, 'YYYY-MM-DD')"
		order := "1"
		if by == ByCause {
			key = "CASE WHEN kind = 'complaint' THEN 'complaint' ELSE cause END"
			order = "sum(n) FILTER (WHERE kind = 'bounce') DESC NULLS LAST, sum(n) DESC, 1"
		}
		sql = `
		SELECT ` + key + `,
			coalesce(sum(n) FILTER (WHERE kind = 'bounce'), 0),
			coalesce(sum(n) FILTER (WHERE kind = 'bounce' AND severity = 'hard'), 0),
			coalesce(sum(n) FILTER (WHERE kind = 'bounce' AND severity = 'soft'), 0),
			coalesce(sum(n) FILTER (WHERE kind = 'delay'), 0),
			coalesce(sum(n) FILTER (WHERE kind = 'complaint'), 0),
			0::bigint
		FROM bounce_day
		WHERE ($1::timestamptz IS NULL OR day >= ($1::timestamptz AT TIME ZONE 'UTC')::date)
		  AND ($2::timestamptz IS NULL OR day < ($2::timestamptz AT TIME ZONE 'UTC')::date)
		  AND n > 0 AND $3::integer > 0
		GROUP BY 1 ORDER BY ` + order
	default:
		return nil, &badGrouping{by}
	}
	var args []any
	if by == ByDomain {
		// Bounds always given, so that the plan of a reused statement
		// keeps the primary key's range.
		from, to := since, until
		if from.IsZero() {
			from = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if to.IsZero() {
			to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		args = []any{from, to, limit}
	} else {
		args = []any{nullTime(since), nullTime(until), limit}
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError(doing, err)
	}
	return scanCounts(rows, doing)
}

// scanCounts reads rows of (key, bounces, hard, soft, delays, complaints,
// recipient) into Counts.
func scanCounts(rows pgx.Rows, doing string) ([]Count, error) {
	defer rows.Close()
	out := []Count{}
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Key, &c.Bounces, &c.Hard, &c.Soft, &c.Delays, &c.Complaints, &c.Recipient); err != nil {
			return nil, dbError(doing, err)
		}
		out = append(out, c)
	}
	return out, dbError(doing, rows.Err())
}

type badGrouping struct{ by StatsBy }

func (e *badGrouping) Error() string {
	return "stats by " + string(e.by) + ": not cause, domain or day"
}
