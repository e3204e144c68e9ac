package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bounced/bounced/internal/policy"
)

// The SQL of the store's hygiene queries, copied from internal/store
// (query.go, stats.go, suppress.go, cleanup.go) as they run: keep them in
// step when the store changes.
const (
	// Suppressions names only the filters given; these are the forms the
	// commands below send.
	sqlSuppressionsSince = `SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0)
		FROM suppression WHERE suppressed_at >= $1 ORDER BY suppressed_at DESC, address`
	sqlSuppressionsDomain = `SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0)
		FROM suppression WHERE domain = $1 ORDER BY address`
	sqlSuppressionsSinceDomain = `SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0)
		FROM suppression WHERE suppressed_at >= $1 AND domain = $2 ORDER BY suppressed_at DESC, address`
	sqlHistory = `
		SELECT b.bounced_at, b.kind, coalesce(b.cause, ''), coalesce(b.severity, ''), b.scope, b.rule, b.action,
			coalesce(b.status, ''), coalesce(b.reply_code, 0), b.diagnostic, coalesce(b.remote_mta, ''),
			coalesce(b.reporting_mta, ''), m.id, m.account || CASE WHEN m.account <> '' THEN '/' ELSE '' END || m.mailbox,
			coalesce(m.message_id, ''), coalesce(m.original_message_id, ''), m.original
		FROM bounce b JOIN message m ON m.id = b.message
		WHERE b.recipient = $1
		ORDER BY b.bounced_at DESC, b.message DESC, b.position DESC LIMIT $2`
	sqlHistorySuppression = `SELECT address, domain, reason, rule, suppressed_at, first_bounce, last_bounce, bounce_count,
			coalesce(last_message, 0) FROM suppression WHERE address = $1`
	sqlHistoryReleases = `SELECT released_at, reason, released_by, coalesce(was_reason, ''),
			was_suppressed_at, coalesce(was_count, 0)
		FROM release WHERE address = $1 ORDER BY released_at DESC`
	sqlStatsDomain = `
		SELECT domain,
			count(*) FILTER (WHERE kind = 'bounce'),
			count(*) FILTER (WHERE kind = 'bounce' AND severity = 'hard'),
			count(*) FILTER (WHERE kind = 'bounce' AND severity = 'soft'),
			count(*) FILTER (WHERE kind = 'delay'),
			count(*) FILTER (WHERE kind = 'complaint'),
			count(*) FILTER (WHERE kind = 'bounce' AND scope = 'recipient')
		FROM bounce
		WHERE bounced_at >= $1 AND bounced_at < $2
		GROUP BY domain ORDER BY count(*) DESC, domain LIMIT $3`
	sqlStatsDaily = `
		SELECT %s,
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
		GROUP BY 1 ORDER BY %s`
	sqlUpkeep = `
		SELECT recipient, coalesce(cause, 'complaint'), coalesce(severity, ''), bounced_at, message
		FROM bounce
		WHERE recipient = ANY($1) AND scope = 'recipient'
		  AND (kind = 'complaint' OR kind = 'bounce' AND cause = ANY($2))`
	sqlCleanup = `
				WITH ids AS (
					SELECT id FROM message WHERE received_at < $1 ORDER BY received_at, id LIMIT $2
					FOR UPDATE SKIP LOCKED),
				b AS (DELETE FROM bounce WHERE message IN (SELECT id FROM ids) RETURNING 1),
				x AS (DELETE FROM message_raw WHERE message IN (SELECT id FROM ids) RETURNING 1),
				m AS (DELETE FROM message WHERE id IN (SELECT id FROM ids) RETURNING 1)
				SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM m), (SELECT count(*) FROM b)`
)

// plan is one statement to explain.
type plan struct {
	name string
	sql  string
	args []any
	// rollback runs it in a transaction rolled back (it writes).
	rollback bool
}

// runExplain is `storebench explain`: EXPLAIN (ANALYZE, BUFFERS) of each
// hygiene query with the values the bounced command would pass, then
// one line a query with the access paths and the time.
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("explain", stderr)
	generic := f.Bool("generic", true, "also explain the generic plans of `suppressions --since 1d` and `stats --by domain` (what a reused prepared statement may switch to)")
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
	// A suppressed address with the most rows among a sample, a tail
	// domain with suppressions, and the addresses of a Save batch.
	var addr, tail string
	if err := conn.QueryRow(ctx, `SELECT s.address FROM (SELECT address FROM suppression ORDER BY random() LIMIT 200) s
		ORDER BY (SELECT count(*) FROM bounce b WHERE b.recipient = s.address) DESC LIMIT 1`).Scan(&addr); err != nil {
		return fmt.Errorf("picking an address: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT domain FROM suppression WHERE domain NOT IN ('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com')
		GROUP BY domain ORDER BY count(*) DESC LIMIT 1`).Scan(&tail); err != nil {
		return fmt.Errorf("picking a domain: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT DISTINCT recipient FROM bounce TABLESAMPLE SYSTEM (0.1) LIMIT 650`)
	if err != nil {
		return err
	}
	batch, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	day := 24 * time.Hour
	byDay := fmt.Sprintf(sqlStatsDaily, "to_char(day, 'YYYY-MM-DD')", "1")
	byCause := fmt.Sprintf(sqlStatsDaily, "CASE WHEN kind = 'complaint' THEN 'complaint' ELSE cause END",
		"sum(n) FILTER (WHERE kind = 'bounce') DESC NULLS LAST, sum(n) DESC, 1")
	var none *time.Time
	plans := []plan{
		{"suppressions --since 1d", sqlSuppressionsSince, []any{now.Add(-day)}, false},
		{"suppressions --domain gmail.com", sqlSuppressionsDomain, []any{"gmail.com"}, false},
		{"suppressions --domain " + tail, sqlSuppressionsDomain, []any{tail}, false},
		{"suppressions --since 30d --domain gmail.com", sqlSuppressionsSinceDomain, []any{now.Add(-30 * day), "gmail.com"}, false},
		{"show " + addr + ": bounces", sqlHistory, []any{addr, 100}, false},
		{"show " + addr + ": suppression", sqlHistorySuppression, []any{addr}, false},
		{"show " + addr + ": releases", sqlHistoryReleases, []any{addr}, false},
		{"stats --by day --since 365d", byDay, []any{now.Add(-365 * day), none, 50}, false},
		{"stats --by cause --since 365d", byCause, []any{now.Add(-365 * day), none, 50}, false},
		{"stats --by domain --since 30d", sqlStatsDomain, []any{now.Add(-30 * day), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 50}, false},
		{fmt.Sprintf("Save: suppression upkeep, %d addresses", len(batch)), sqlUpkeep, []any{batch, policy.Default().Causes()}, false},
		{"cleanup: one transaction of 1000 messages", sqlCleanup, []any{now.Add(-365 * day), 1000}, true},
	}
	var summary []string
	for _, p := range plans {
		lines, err := explain(ctx, conn, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Fprintf(stdout, "== %s\n%s\n\n", p.name, strings.Join(shorten(lines), "\n"))
		summary = append(summary, fmt.Sprintf("%-46s %s", p.name, highlights(lines)))
	}
	if *generic {
		for _, g := range []struct {
			name, sql, types string
			args             []any
		}{
			{"suppressions --since 1d, generic plan", sqlSuppressionsSince, "timestamptz", []any{now.Add(-day)}},
			{"stats --by domain --since 30d, generic plan", sqlStatsDomain, "timestamptz, timestamptz, integer",
				[]any{now.Add(-30 * day), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 50}},
		} {
			lines, err := explainGeneric(ctx, conn, g.sql, g.types, g.args)
			if err != nil {
				return fmt.Errorf("%s: %w", g.name, err)
			}
			fmt.Fprintf(stdout, "== %s\n%s\n\n", g.name, strings.Join(shorten(lines), "\n"))
			summary = append(summary, fmt.Sprintf("%-46s %s", g.name, highlights(lines)))
		}
	}
	fmt.Fprintf(stdout, "== summary: access paths and execution time\n%s\n", strings.Join(summary, "\n"))
	return nil
}

func explain(ctx context.Context, conn *pgx.Conn, p plan) ([]string, error) {
	q := "EXPLAIN (ANALYZE, BUFFERS) " + p.sql
	if !p.rollback {
		rows, err := conn.Query(ctx, q, p.args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, q, p.args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// explainGeneric explains the plan PostgreSQL makes for the statement
// without looking at its parameters: the one a prepared statement
// switches to when it costs no more than the plans made for the values.
func explainGeneric(ctx context.Context, conn *pgx.Conn, sql, types string, args []any) ([]string, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "PREPARE storebench_generic("+types+") AS "+sql); err != nil {
		return nil, err
	}
	defer tx.Exec(context.WithoutCancel(ctx), "DEALLOCATE storebench_generic")
	// EXECUTE takes no bind parameters: the values go in as literals.
	params := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			params[i] = "'" + v.UTC().Format(time.RFC3339Nano) + "'"
		case string:
			params[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			params[i] = fmt.Sprint(v)
		}
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE storebench_generic("+strings.Join(params, ", ")+")",
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// shorten cuts the long lines of a plan (an array of hundreds of
// addresses) to a readable length.
func shorten(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) > 240 {
			l = l[:240] + fmt.Sprintf("... (%d more bytes)", len(l)-240)
		}
		out[i] = l
	}
	return out
}

var (
	accessPath = regexp.MustCompile(`(Index Only Scan(?: Backward)? using \w+|Index Scan(?: Backward)? using \w+|Bitmap Index Scan on \w+|Seq Scan on \w+|Parallel Seq Scan on \w+)`)
	execTime   = regexp.MustCompile(`Execution Time: ([0-9.]+ ms)`)
)

// highlights gives the access paths of a plan, each once, and its
// execution time.
func highlights(lines []string) string {
	var paths []string
	seen := map[string]bool{}
	t := ""
	for _, l := range lines {
		for _, m := range accessPath.FindAllString(l, -1) {
			if !seen[m] {
				seen[m] = true
				paths = append(paths, m)
			}
		}
		if m := execTime.FindStringSubmatch(l); m != nil {
			t = m[1]
		}
	}
	return fmt.Sprintf("%10s  %s", t, strings.Join(paths, "; "))
}
